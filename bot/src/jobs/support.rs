//! Support reminders: every five minutes, open tickets whose customer has waited longer than
//! `shop.ticket_reminder_minutes` for an answer are recalled to the staff chat — once per
//! unanswered stretch (core keys each reminder on when the wait began), as durable notices.
use std::sync::Arc;

use vpnshop_core::jobs::{Job, JobError, Recurring};
use vpnshop_core::tickets;

use crate::ctx::Ctx;

/// Its kind and cadence.
pub fn every() -> Recurring {
    Recurring {
        kind: "ticket_reminders",
        every: chrono::Duration::minutes(5),
    }
}

pub async fn run(ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    let Some(after) = ctx.ticket_reminder_after else {
        return Ok(());
    };
    if ctx.staff_chat.is_none() {
        return Ok(());
    }
    let due = tickets::remind_waiting(&ctx.db, after, ctx.clock.now()).await?;
    if due > 0 {
        tracing::info!(due, "tickets waiting for an answer were recalled to staff");
    }
    Ok(())
}
