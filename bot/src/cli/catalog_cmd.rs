//! Running a `location`, `plan` or `card` command on the configured database.
use std::process::ExitCode;

use vpnshop_core::clock::{Clock, SystemClock};

use super::{catalog, fail};
use crate::app;
use crate::config::Settings;

pub type CatalogRun<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), catalog::CatalogAdminError>> + 'a>,
>;

/// Runs a `location`/`plan` command on the configured database; a wrong option is named.
pub async fn catalog(
    settings: Settings,
    run: impl for<'a> FnOnce(
        &'a vpnshop_core::sea_orm::DatabaseConnection,
        chrono::DateTime<chrono::Utc>,
        &'a mut std::io::Stdout,
    ) -> CatalogRun<'a>,
) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout();
    match run(&db, SystemClock.now(), &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
