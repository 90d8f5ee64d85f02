//! `vpnshop admin add|remove|list`: staff and their roles.
use std::process::ExitCode;

use clap::Subcommand;
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};

use super::fail;
use crate::app;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Give a Telegram user a staff role.
    Add {
        /// The user's numeric Telegram id (ask @userinfobot).
        telegram_id: i64,
        /// owner, admin, finance or support.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Take a user's staff role away.
    Remove { telegram_id: i64 },
    /// List staff and their roles.
    List,
}

pub async fn staff(settings: Settings, command: StaffCommand) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let now = SystemClock.now();
    let result = match command {
        StaffCommand::Add { telegram_id, role } => {
            let role: Role = match role.parse() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: --role: {e}");
                    return ExitCode::from(2);
                }
            };
            if telegram_id <= 0 {
                eprintln!("error: a Telegram user id is a positive number");
                return ExitCode::from(2);
            }
            staff::put(&db, TelegramId::new(telegram_id), role, now)
                .await
                .map(|()| {
                    println!("{telegram_id} is now {role}");
                })
        }
        StaffCommand::Remove { telegram_id } => {
            staff::remove(&db, TelegramId::new(telegram_id), now)
                .await
                .map(|removed| {
                    if removed {
                        println!("{telegram_id} is no longer staff");
                    } else {
                        println!("{telegram_id} was not staff");
                    }
                })
        }
        StaffCommand::List => staff::list(&db).await.map(|all| {
            for m in all {
                let from = if m.from_config {
                    "\t(shop.admin_ids)"
                } else {
                    ""
                };
                println!("{}\t{}{from}", m.access.who, m.access.title());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: database: {e}");
            ExitCode::FAILURE
        }
    }
}
