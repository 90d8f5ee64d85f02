//! Delivering notices: each rendered, in its reader's language, by the feature it belongs to;
//! a send that failed is retried with backoff, one that never can succeed (the customer blocked
//! the bot or is gone) is given up.
use std::sync::Arc;

use teloxide::{ApiError, RequestError};
use vpnshop_core::ids::OrderId;
use vpnshop_core::jobs::{Job, JobError};
use vpnshop_core::notices::Notice;
use vpnshop_core::rewards;

use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};
use crate::handlers::staff::{receipts, reviews, tickets};
use crate::handlers::{admin, buy, checkout, invite, stars, subscriptions, support};

pub async fn deliver(bot: TgBot, ctx: Arc<Ctx>, notice: Notice, job: Job) -> Result<(), JobError> {
    // A reminder goes at most once: if the attempt before this one died while sending (the
    // process was killed), it may have arrived, and a second copy is worse than none.
    if matches!(notice, Notice::Reminder { .. }) && job.died_in_flight() {
        tracing::warn!(job = %job.id, "a reminder's last attempt died while sending; not sent again");
        return Ok(());
    }
    let staff_facing = for_staff(&notice);
    let what = format!("{notice:?}");
    let sent = match notice {
        Notice::Fulfilled { order_id } => subscriptions::notify_ready(&bot, &ctx, order_id).await,
        Notice::Refunded { order_id } => buy::notify_refunded(&bot, &ctx, order_id).await,
        Notice::SaleToStaff { order_id } => buy::notify_sale(&bot, &ctx, order_id).await,
        Notice::RefundedByStaff { order_id } => {
            buy::notify_refunded_by_staff(&bot, &ctx, order_id).await
        }
        Notice::DailySummary { day } => admin::notify_summary(&bot, &ctx, &day).await,
        Notice::StarsRefund { payment_id } => stars::refund(&bot, &ctx, payment_id).await,
        Notice::TicketToStaff { message_id } => tickets::notify_staff(&bot, &ctx, message_id).await,
        Notice::TicketToCustomer { message_id } => {
            support::notify_customer(&bot, &ctx, message_id).await
        }
        Notice::PanelDown { panel_id, .. } => {
            admin::notify_panel_health(&bot, &ctx, panel_id, true).await
        }
        Notice::PanelUp { panel_id, .. } => {
            admin::notify_panel_health(&bot, &ctx, panel_id, false).await
        }
        Notice::StaffMessage { customer, text, .. } => {
            admin::notify_staff_message(&bot, &ctx, customer, &text).await
        }
        Notice::TicketClosed { ticket_id } => support::notify_closed(&bot, &ctx, ticket_id).await,
        Notice::TicketWaiting { ticket_id, since } => {
            tickets::notify_waiting(&bot, &ctx, ticket_id, since).await
        }
        Notice::OrderRewards { order_id } => order_rewards(&ctx, order_id).await,
        Notice::ReferralRewarded {
            referrer,
            wallet,
            points,
            ..
        } => invite::notify_reward(&bot, &ctx, referrer, (wallet, points)).await,
        Notice::PaymentReceived { payment_id } => {
            checkout::notify_received(&bot, &ctx, payment_id).await
        }
        Notice::PaymentReview { payment_id } => {
            reviews::notify_review(&bot, &ctx, payment_id).await
        }
        Notice::PaymentDeclined { payment_id } => {
            checkout::notify_declined(&bot, &ctx, payment_id).await
        }
        Notice::ReceiptToStaff { receipt_id } => receipts::to_staff(&bot, &ctx, receipt_id).await,
        Notice::ReceiptRejected { receipt_id } => {
            receipts::notify_rejected(&bot, &ctx, receipt_id).await
        }
        Notice::Reminder {
            subscription_id,
            reminder,
            period,
        } => {
            subscriptions::notify_reminder(&bot, &ctx, &job, subscription_id, reminder, &period)
                .await
        }
        Notice::DriftFound { items, .. } => admin::notify_drift(&bot, &ctx, items).await,
    };
    let result = sent.map_err(undelivered);
    if let (Err(JobError::Wait { after, .. }), true) = (&result, staff_facing) {
        // Telegram slowed the group down: nothing else goes there before it said.
        ctx.staff.hold(after.to_std().unwrap_or_default()).await;
    }
    if let Err(e) = &result {
        let last = matches!(e, JobError::Permanent(_))
            || (job.attempts >= job.max_attempts && !matches!(e, JobError::Wait { .. }));
        if staff_facing && last {
            tell_owners(&bot, &ctx, &what, e).await;
        }
    }
    result
}

/// Notices whose reader is the staff chat.
fn for_staff(n: &Notice) -> bool {
    matches!(
        n,
        Notice::SaleToStaff { .. }
            | Notice::DailySummary { .. }
            | Notice::TicketToStaff { .. }
            | Notice::TicketWaiting { .. }
            | Notice::PanelDown { .. }
            | Notice::PanelUp { .. }
            | Notice::DriftFound { .. }
            | Notice::PaymentReview { .. }
            | Notice::ReceiptToStaff { .. }
    )
}

/// A staff-chat notice failed for good: every owner hears it in private, so nothing waits
/// unseen in a chat the bot cannot post to.
async fn tell_owners(bot: &TgBot, ctx: &Ctx, what: &str, e: &JobError) {
    use teloxide::prelude::*;
    let owners = match vpnshop_core::staff::list(&ctx.db).await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "cannot list owners to tell them of an undelivered notice");
            return;
        }
    };
    for m in owners
        .iter()
        .filter(|m| m.access.role == vpnshop_core::staff::Role::Owner)
    {
        // In the owner's own language, when they have picked one.
        let lang = match vpnshop_core::customers::by_telegram_id(&ctx.db, m.access.who).await {
            Ok(Some(c)) => c.lang().unwrap_or(ctx.default_language),
            _ => ctx.default_language,
        };
        let text = crate::text::tr_with(
            lang,
            "admin.undelivered",
            &[
                ("what", &crate::text::escape(what)),
                ("why", &crate::text::escape(&e.to_string())),
            ],
        );
        if let Err(err) = bot.send_message(ChatId(m.access.who.get()), text).await {
            tracing::warn!(owner = %m.access.who, error = %err, "cannot tell an owner of an undelivered notice");
        }
    }
}

/// Why a delivery failed, as the job queue needs it: for good (the reader blocked the bot or is
/// gone), or worth another try.
fn undelivered(e: BotError) -> JobError {
    match e {
        BotError::Telegram(RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        ))
        | BotError::Undeliverable(_) => JobError::Permanent(format!("undeliverable: {e}")),
        BotError::Telegram(RequestError::RetryAfter(wait)) => JobError::Wait {
            after: chrono::Duration::from_std(wait.duration()).unwrap_or_default(),
            why: "Telegram asked to slow down (429)".into(),
        },
        e => JobError::Retry(e.to_string()),
    }
}

/// Grants what the order earned; the referrer hears of theirs through a notice of its own,
/// queued with the grant.
async fn order_rewards(ctx: &Ctx, order_id: OrderId) -> HandlerResult {
    rewards::grant_for_order(&ctx.db, order_id, &ctx.sales.rewards, ctx.clock.now())
        .await
        .map_err(|e| BotError::Service(e.to_string()))?;
    Ok(())
}
