//! The chaos harness in its short form, on the database this run uses: `vpnshop run` killed
//! with SIGKILL a dozen times while customers buy against a panel that fails 30 % of calls and
//! hangs on 5 %, and (on PostgreSQL, where two processes share rows for real) two bots running
//! every job through a day of fast time. `target/debug/chaos` is the long form.
use vpnshop_tests::chaos::{self, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_while_the_bot_is_killed_again_and_again() {
    let outcome = chaos::kills(&Plan::short()).await;
    assert!(outcome.broken.is_empty(), "{:#?}", outcome);
    assert_eq!(outcome.kills, Plan::short().kills);
    assert!(outcome.fulfilled > 0, "{outcome:#?}");
    assert!(outcome.reminders > 0, "{outcome:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bots_on_one_database_run_each_job_once_per_slot() {
    if !vpnshop_tests::db::use_postgres() {
        // SQLite is one process's file; the job table's races are proven there by jobs_story.
        return;
    }
    let twins = chaos::two_processes(1_800, 60, 12).await;
    assert!(twins.broken.is_empty(), "{twins:#?}");
    assert!(twins.clock_hours >= 25, "{twins:#?}");
    assert!(twins.renewals > 0, "{twins:#?}");
}
