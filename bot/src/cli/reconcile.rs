//! `vpnshop reconcile`: the shop's subscriptions compared with the panels' accounts, as a
//! dry-run diff; `--apply <key>` (repeatable) or `--apply-all` repairs what was approved, each
//! item read again from its panel first and audited.
use std::process::ExitCode;

use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::reconcile::{self, RepairError};

use super::fail;
use crate::app;
use crate::config::Settings;

pub async fn reconcile(settings: Settings, apply: Vec<String>, apply_all: bool) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let runtime = match settings.runtime_for_jobs() {
        Ok(r) => r,
        Err(problems) => return super::report(&problems),
    };
    let (prefix, life) = (runtime.sales.account_prefix, runtime.life);
    let now = SystemClock.now();
    let report = match reconcile::diff(&db, &prefix, life.page_size, life.parallel, now).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("panels read: {}", report.panels.join(", "));
    for (panel, why) in &report.failed {
        println!("panel {panel} could not be read: {why}");
    }
    if report.found.is_empty() {
        println!("no drift: every subscription matches its panel account");
        return ExitCode::SUCCESS;
    }
    for f in &report.found {
        println!(
            "{:<40} {:<10} {}",
            f.drift.key(),
            f.panel,
            f.drift.describe()
        );
    }
    let keys: Vec<String> = if apply_all {
        report.found.iter().map(|f| f.drift.key()).collect()
    } else {
        apply
    };
    if keys.is_empty() {
        println!(
            "dry run: nothing changed. Repair with --apply <key> (repeatable) or --apply-all."
        );
        return ExitCode::SUCCESS;
    }
    let mut failed = false;
    for key in keys {
        match reconcile::repair(&db, &prefix, &key, None, SystemClock.now()).await {
            Ok(done) => println!("repaired {key}: {done}"),
            Err(RepairError::NothingToDo) => println!("{key}: nothing to repair any more"),
            Err(e) => {
                failed = true;
                eprintln!("error: {key}: {e}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
