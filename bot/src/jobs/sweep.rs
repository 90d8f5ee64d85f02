//! The payments sweep, every `payments.reconcile_seconds`: reconciliation with every gateway and
//! with Telegram Stars, card transfers that never got a receipt expired, and reminders of
//! receipts staff have not decided.
use std::sync::Arc;

use vpnshop_core::jobs::{Job, JobError, Recurring};
use vpnshop_core::payments::card;
use vpnshop_core::payments::gateways;

use crate::ctx::{Ctx, TgBot};
use crate::handlers::staff::receipts;

/// Its kind and cadence.
pub fn every(ctx: &Ctx) -> Recurring {
    Recurring {
        kind: "payments_sweep",
        every: ctx.payments.reconcile_every,
    }
}

pub async fn sweep(bot: TgBot, ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    let now = ctx.clock.now();
    let gateways = ctx.payments.all();
    let credited = gateways::reconcile(
        &ctx.db,
        &gateways,
        chrono::Duration::zero(),
        chrono::Duration::days(3),
        now,
    )
    .await?;
    if credited > 0 {
        tracing::info!(
            credited,
            "reconciliation credited payments whose callback never came"
        );
    }
    // A staff chat fixed (or broken) since start-up is noticed here.
    let _ = ctx.staff.recheck(&bot).await;
    if let Err(e) = super::stars::reconcile(&bot, &ctx).await {
        tracing::warn!(error = %e, "cannot reconcile Telegram Stars transactions");
    }
    let expired = card::expire_unreceipted(&ctx.db, &ctx.payments.card, now).await?;
    if expired > 0 {
        tracing::info!(expired, "card transfers with no receipt expired");
    }
    receipts::remind(&bot, &ctx)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}
