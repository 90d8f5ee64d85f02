//! The chaos harness in its long form (the numbers): 1,000 purchases by 200 customers
//! while `vpnshop run` is killed with SIGKILL 100 times, against a panel that fails 30 % of
//! calls and hangs on 5 %; then two bots on one database running every job through a day and
//! more of fast time. Prints what it saw and every broken promise; exits non-zero on any.
//!
//! `cargo build -p vpnshop-tests --bins && target/debug/chaos` (add `VPNSHOP_TEST_DB=postgres`
//! for PostgreSQL; the two-process part needs it to mean anything and is skipped on SQLite).
//! `CHAOS_PURCHASES`, `CHAOS_CUSTOMERS`, `CHAOS_KILLS` change the numbers.
use std::process::ExitCode;

use vpnshop_tests::chaos::{self, Plan};

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let long = Plan::long();
    let plan = Plan {
        purchases: env_or("CHAOS_PURCHASES", long.purchases),
        customers: env_or("CHAOS_CUSTOMERS", long.customers),
        kills: env_or("CHAOS_KILLS", long.kills),
        ..long
    };
    println!("chaos: {plan:?}");
    let outcome = chaos::kills(&plan).await;
    println!(
        "kill -9: {} kills, {} paid, {} fulfilled, {} refunded, {} accounts on the panel, {} reminders, {:.0} s",
        outcome.kills,
        outcome.paid,
        outcome.fulfilled,
        outcome.refunded,
        outcome.accounts_on_panel,
        outcome.reminders,
        outcome.seconds
    );
    let mut broken = outcome.broken;
    if vpnshop_tests::db::use_postgres() {
        let twins = chaos::two_processes(1_800, 90, 40).await;
        println!(
            "two processes: {} clock hours, {} usage syncs, {} list calls, {} automatic renewals, {} reminders",
            twins.clock_hours, twins.syncs, twins.list_calls, twins.renewals, twins.reminders
        );
        broken.extend(twins.broken);
    } else {
        println!("two processes: skipped on SQLite (set VPNSHOP_TEST_DB=postgres)");
    }
    for b in &broken {
        println!("BROKEN: {b}");
    }
    if broken.is_empty() {
        println!("every promise kept");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
