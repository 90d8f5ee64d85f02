//! `GET /metrics`: counters in Prometheus' text format, for a seller's monitoring and for the
//! benchmark that checks what one update costs (`tests/src/bin/bench.rs`).
use std::sync::atomic::{AtomicU64, Ordering};

static UPDATES: AtomicU64 = AtomicU64::new(0);

/// Counts one Telegram update taken into the handler tree.
pub fn update_seen() {
    UPDATES.fetch_add(1, Ordering::Relaxed);
}

/// The page: every counter since the process started.
pub fn render() -> String {
    let updates = UPDATES.load(Ordering::Relaxed);
    let statements = vpnshop_core::db::statements_run();
    let writes = vpnshop_core::db::writes_run();
    format!(
        "# HELP vpnshop_updates_total Telegram updates handled since start.\n\
         # TYPE vpnshop_updates_total counter\n\
         vpnshop_updates_total {updates}\n\
         # HELP vpnshop_db_statements_total SQL statements run since start.\n\
         # TYPE vpnshop_db_statements_total counter\n\
         vpnshop_db_statements_total {statements}\n\
         # HELP vpnshop_db_writes_total SQL statements that wrote (INSERT, UPDATE, DELETE).\n\
         # TYPE vpnshop_db_writes_total counter\n\
         vpnshop_db_writes_total {writes}\n"
    )
}
