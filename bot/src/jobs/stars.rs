//! Telegram Stars reconciliation: payments whose `successful_payment` update never came are
//! found in the bot's Star transactions and recorded (recording is idempotent by charge id).
use teloxide::prelude::*;
use teloxide::types::{TransactionPartner, TransactionPartnerUserKind};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::jobs::JobError;
use vpnshop_core::payments::stars;

use crate::ctx::{Ctx, TgBot};

/// Reads the bot's Stars transactions that came since the last sweep (and are at least two
/// minutes old) and records any payment
/// whose `successful_payment` update was lost (recording is idempotent by charge id). Reading
/// stops before a transaction that could not be recorded, so the next sweep tries it again.
pub async fn reconcile(bot: &TgBot, ctx: &Ctx) -> Result<(), JobError> {
    if ctx.sales.stars.is_none() {
        return Ok(());
    }
    const PAGE: u8 = 100;
    let Some(mut offset) = stars::transactions_scanned(&ctx.db).await? else {
        return start_at_the_end(bot, ctx).await;
    };
    let start = offset;
    loop {
        let page = bot
            .get_star_transactions()
            .offset(offset)
            .limit(PAGE)
            .await
            .map_err(|e| JobError::Retry(format!("getStarTransactions: {e}")))?;
        // Recent ones are left to their `successful_payment` update, which answers in the
        // customer's chat; reconciliation is for the updates that never came.
        let settled_before = ctx.clock.now() - chrono::Duration::minutes(2);
        let mut read = 0;
        for t in &page.transactions {
            if t.date > settled_before || !record_star_transaction(ctx, t).await {
                break;
            }
            read += 1;
        }
        offset += read;
        // Written only when it moved: most sweeps find nothing new.
        if offset != start {
            stars::set_transactions_scanned(&ctx.db, offset, ctx.clock.now()).await?;
        }
        if read < page.transactions.len() as u32 || page.transactions.len() < usize::from(PAGE) {
            return Ok(());
        }
    }
}

/// A database that never read the bot's Star transactions starts after the last one: what came
/// before (a bot moved to vpnshop, a restored backup's past) is not this database's to settle,
/// and is neither recorded nor refunded. Only payments of this database's own invoices are
/// recorded on the way, so one made before this first sweep is not lost.
async fn start_at_the_end(bot: &TgBot, ctx: &Ctx) -> Result<(), JobError> {
    const PAGE: u8 = 100;
    let ours = format!("stars:{}:", vpnshop_core::shop::identity(&ctx.db).await?);
    let mut end = 0u32;
    loop {
        let page = bot
            .get_star_transactions()
            .offset(end)
            .limit(PAGE)
            .await
            .map_err(|e| JobError::Retry(format!("getStarTransactions: {e}")))?;
        let settled_before = ctx.clock.now() - chrono::Duration::minutes(2);
        for t in &page.transactions {
            if !payload_of(t).is_some_and(|p| p.starts_with(&ours)) {
                end += 1;
                continue;
            }
            // A recent one of ours is left to its update; the ordinary sweep reads on from it.
            if t.date > settled_before {
                stars::set_transactions_scanned(&ctx.db, end, ctx.clock.now()).await?;
                return Ok(());
            }
            if !record_star_transaction(ctx, t).await {
                return Err(JobError::Retry(
                    "a Stars payment could not be recorded".into(),
                ));
            }
            end += 1;
        }
        if page.transactions.len() < usize::from(PAGE) {
            break;
        }
    }
    tracing::info!(
        transactions = end,
        "Stars reconciliation starts after the bot's existing transactions"
    );
    stars::set_transactions_scanned(&ctx.db, end, ctx.clock.now()).await?;
    Ok(())
}

/// The invoice payload of a Star transaction, when it is a user's invoice payment.
fn payload_of(t: &teloxide::types::StarTransaction) -> Option<&str> {
    let Some(TransactionPartner::User(user)) = &t.source else {
        return None;
    };
    let TransactionPartnerUserKind::InvoicePayment(invoice) = &user.kind else {
        return None;
    };
    invoice.invoice_payload.as_deref()
}

/// Records one Star transaction if it is an invoice payment from a user; false when it could
/// not be recorded now.
async fn record_star_transaction(ctx: &Ctx, t: &teloxide::types::StarTransaction) -> bool {
    let (Some(TransactionPartner::User(user)), Some(payload)) = (&t.source, payload_of(t)) else {
        return true;
    };
    let recorded = stars::record_payment(
        &ctx.db,
        payload,
        TelegramId::new(user.user.id.0 as i64),
        "XTR",
        i64::from(t.amount),
        &t.id.0,
        stars::Seen::InTransactions,
        ctx.clock.now(),
    )
    .await;
    match recorded {
        Ok(stars::Settled::AlreadyRecorded) => true,
        Ok(other) => {
            tracing::info!(outcome = ?other, "a Stars payment was found by reconciliation");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a Stars payment found by reconciliation");
            false
        }
    }
}
