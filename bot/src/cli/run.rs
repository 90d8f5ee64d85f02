//! `vpnshop run` (the default) and `vpnshop migrate`.
use std::process::ExitCode;

use super::fail;
use crate::app;
use crate::config::Settings;

pub async fn run(settings: Settings) -> ExitCode {
    // `docker stop` and systemd send SIGTERM; a terminal sends Ctrl-C. Both stop the same way.
    let shutdown = async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("stopping");
    };
    match app::serve(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

pub async fn migrate(settings: Settings) -> ExitCode {
    match app::open_database(&settings).await {
        Ok(_) => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
