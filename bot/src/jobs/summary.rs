//! The daily summary: every hour on the hour this job looks whether it is the hour the seller
//! chose (`shop.daily_summary_hour`, UTC) and, if so, queues the day's summary for the staff
//! chat — a durable notice, one per day, delivered (and retried) like every other.
use std::sync::Arc;

use chrono::Timelike;
use vpnshop_core::jobs::{Job, JobError, Recurring};
use vpnshop_core::notices::{self, Notice};

use crate::ctx::Ctx;

/// Its kind and cadence.
pub fn every() -> Recurring {
    Recurring {
        kind: "daily_summary",
        every: chrono::Duration::hours(1),
    }
}

pub async fn run(ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    let now = ctx.clock.now();
    if ctx.staff_chat.is_none() || ctx.daily_summary_hour != Some(now.hour()) {
        return Ok(());
    }
    let day = now.format("%Y-%m-%d").to_string();
    notices::enqueue(&ctx.db, &Notice::DailySummary { day }, now).await?;
    Ok(())
}
