//! `vpnshop check`: the config, the database, the bot token, the staff chat and every
//! gateway's credentials, each named with what is wrong.
use std::process::ExitCode;

use super::{fail, report};
use crate::app::{self, StartError};
use crate::config::Settings;

pub async fn check(settings: Settings) -> ExitCode {
    let problems = settings.validate();
    if !problems.is_empty() {
        return report(&problems);
    }
    println!("✓ config is valid");
    let mut ok = true;
    match app::open_database(&settings).await {
        Ok(db) => {
            println!("✓ database.url: reachable and migrated");
            // Part of every panel account name and every gateway idempotency key.
            match vpnshop_core::shop::identity(&db).await {
                Ok(id) => println!(
                    "✓ shop identity: {id} (panel accounts are named {}_<customer>_<subscription>)",
                    id.account_tag(&settings.sales.account_prefix)
                ),
                Err(e) => {
                    ok = false;
                    eprintln!("✗ shop identity: {e}");
                }
            }
        }
        Err(e) => {
            ok = false;
            eprintln!("✗ database.url: {e}");
        }
    }
    match app::build_bot(&settings) {
        Ok(bot) => match app::whoami(&bot, &settings).await {
            Ok(username) => {
                println!("✓ telegram.token: accepted, the bot is @{username}");
                // Receipts and tickets go there: card-to-card and support need it.
                match settings.shop.staff_chat_id {
                    None => println!(
                        "! shop.staff_chat_id: {}",
                        crate::staff_chat::Problem::NotSet
                    ),
                    Some(id) => match crate::staff_chat::verify(&bot, id).await {
                        Ok(()) => println!("✓ shop.staff_chat_id: the bot can post in chat {id}"),
                        Err(problem) => {
                            ok = false;
                            eprintln!("✗ shop.staff_chat_id: {problem}");
                        }
                    },
                }
            }
            Err(StartError::TokenRejected) => {
                ok = false;
                eprintln!(
                    "✗ telegram.token: rejected by the Bot API; copy it again from @BotFather"
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("✗ telegram.api_url: {e}");
            }
        },
        Err(e) => return fail(e),
    }
    // Every configured gateway, with a call that proves its keys, so a wrong one is found
    // here and not by the first customer who pays.
    let methods = match settings.runtime() {
        Ok(runtime) => runtime.payments,
        Err(problems) => return report(&problems),
    };
    for gateway in methods.all() {
        let name = gateway.provider();
        match gateway.verify().await {
            Ok(()) => println!("✓ payments.{name}: credentials accepted"),
            Err(why) => {
                ok = false;
                eprintln!("✗ payments.{name}: {why}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
