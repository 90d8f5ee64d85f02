//! Panel health, every `panels.health_check_seconds`: core asks every enabled panel and writes
//! what changed with its staff notice (`core::panel_health`).
use std::sync::Arc;

use vpnshop_core::jobs::{Job, JobError, Recurring};
use vpnshop_core::panel_health::{self, Change};

use crate::ctx::Ctx;

/// Its kind and cadence (hourly when checks are off, doing nothing).
pub fn every(ctx: &Ctx) -> Recurring {
    Recurring {
        kind: "panel_health",
        every: ctx
            .panel_check_every
            .unwrap_or_else(|| chrono::Duration::hours(1)),
    }
}

pub async fn run(ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    if ctx.panel_check_every.is_none() {
        return Ok(());
    }
    for change in panel_health::check_all(&ctx.db, ctx.clock.now()).await? {
        match change {
            Change::Down { panel, why } => {
                tracing::warn!(panel = %panel, error = %why, "a panel stopped answering");
            }
            Change::Up { panel } => tracing::info!(panel = %panel, "a panel answers again"),
        }
    }
    Ok(())
}
