//! `vpnshop backup` and `vpnshop restore <file>`: the same backup the schedule makes, proven by
//! restoring it into a scratch database; and a restore into an empty database, checked the same
//! way. The encryption key, if any, comes from `VPNSHOP_BACKUP_KEY`.
use std::path::PathBuf;
use std::process::ExitCode;

use secrecy::ExposeSecret;
use vpnshop_core::backups::{self, BackupError};

use super::fail;
use crate::app;
use crate::config::Settings;

pub async fn backup(settings: Settings, new_key: bool) -> ExitCode {
    if new_key {
        println!("{}", backups::new_key());
        eprintln!(
            "Keep this key safe and outside the database; set {} to it to encrypt backups.",
            backups::KEY_ENV
        );
        return ExitCode::SUCCESS;
    }
    let key = match backups::key_from_env() {
        Ok(k) => k,
        Err(e) => return failed(e),
    };
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let url = settings.database.url.expose_secret().to_string();
    let dir = PathBuf::from(&settings.backups.dir);
    let made = match backups::make(&db, &url, &dir, key.as_ref(), chrono::Utc::now()).await {
        Ok(m) => m,
        Err(e) => return failed(e),
    };
    println!("{}", made.path.display());
    println!(
        "  {} bytes, sha256 {}{}",
        made.bytes,
        made.sha256,
        if made.encrypted { ", encrypted" } else { "" }
    );
    let c = &made.census;
    if made.verified() {
        println!(
            "  verified: {} customers, {} subscriptions, {} orders, ledger balanced",
            c.count("customers"),
            c.count("subscriptions"),
            c.count("orders")
        );
    } else {
        println!("  NOT verified:");
        for p in &made.problems {
            println!("    {p}");
        }
    }
    match backups::prune(&dir, settings.backups.keep as usize) {
        Ok(gone) => {
            for g in gone {
                println!("  removed the old backup {g}");
            }
        }
        Err(e) => eprintln!("warning: cannot remove old backups: {e}"),
    }
    if made.verified() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub async fn restore(settings: Settings, file: PathBuf, force: bool) -> ExitCode {
    let key = match backups::key_from_env() {
        Ok(k) => k,
        Err(e) => return failed(e),
    };
    let url = settings.database.url.expose_secret().to_string();
    match backups::restore(&file, &url, key.as_ref(), force).await {
        Ok(r) => {
            let c = &r.census;
            println!(
                "restored the {} backup made {} into the configured database:",
                r.kind,
                r.made_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            for (table, n) in &c.rows {
                println!("  {table:<24} {n}");
            }
            if r.problems.is_empty() && c.ledger_balanced {
                println!(
                    "verified: {} customers, {} subscriptions, {} orders, ledger balanced",
                    c.count("customers"),
                    c.count("subscriptions"),
                    c.count("orders")
                );
                ExitCode::SUCCESS
            } else {
                println!("NOT verified:");
                for p in &r.problems {
                    println!("  {p}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => failed(e),
    }
}

fn failed(e: BackupError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
