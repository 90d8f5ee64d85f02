//! Notices: what someone must be told, saved as a durable job in the same transaction as the
//! change it reports, so a crash after the change can never lose the message. The bot renders
//! each in the reader's language and sends it; a failed send is retried with backoff.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PanelId, PaymentId, ReceiptId, SubscriptionId, TicketId};
use crate::jobs::{self, NewJob};
use crate::money::Money;

/// The job kind every notice is queued under.
pub const JOB: &str = <Notice as jobs::Payload>::KIND;

impl jobs::Payload for Notice {
    const KIND: &'static str = "notice";
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The order's account is ready: send the link, the QR code and the guides.
    Fulfilled { order_id: OrderId },
    /// Provisioning gave up: the customer is told the money is back in the wallet, staff why.
    Refunded { order_id: OrderId },
    /// A Telegram Stars payment that must go back (the same invoice paid twice).
    StarsRefund { payment_id: PaymentId },
    /// A customer's ticket message, to be posted in the staff chat.
    TicketToStaff { message_id: i64 },
    /// A staff answer, to be delivered to the customer.
    TicketToCustomer { message_id: i64 },
    /// A panel stopped answering at `at` (Unix seconds): staff are told once.
    PanelDown { panel_id: PanelId, at: i64 },
    /// It answers again.
    PanelUp { panel_id: PanelId, at: i64 },
    /// Staff closed a ticket: the customer hears it and may rate the answer.
    TicketClosed { ticket_id: TicketId },
    /// A ticket has waited for an answer since `since` (Unix seconds): staff are reminded, once
    /// per unanswered stretch.
    TicketWaiting { ticket_id: TicketId, since: i64 },
    /// A staff member wrote to the customer from their card (`key` makes each message its own).
    StaffMessage {
        customer: CustomerId,
        text: String,
        key: String,
    },
    /// Staff refunded a fulfilled order to the wallet: the customer hears it.
    RefundedByStaff { order_id: OrderId },
    /// The day's figures for the staff chat (`day` is `YYYY-MM-DD`, UTC; one per day).
    DailySummary { day: String },
    /// A paid order was fulfilled: staff see the sale in the staff chat.
    SaleToStaff { order_id: OrderId },
    /// Rewards for a fulfilled order: purchase points, and the referrer's reward.
    OrderRewards { order_id: OrderId },
    /// The referrer was rewarded for `referred`'s first purchase: queued with the reward
    /// itself, so a failed send is retried even though granting again would find nothing new.
    ReferralRewarded {
        referrer: CustomerId,
        referred: CustomerId,
        wallet: Option<Money>,
        points: Option<i64>,
    },
    /// A gateway or card payment was credited: the customer hears what happened to it.
    PaymentReceived { payment_id: PaymentId },
    /// A payment came in for a different amount or currency: staff must decide.
    PaymentReview { payment_id: PaymentId },
    /// Staff declined a payment in review: the customer hears it is not credited.
    PaymentDeclined { payment_id: PaymentId },
    /// A card-to-card receipt to put before staff (with Approve / Reject).
    ReceiptToStaff { receipt_id: ReceiptId },
    /// Staff rejected a receipt: the customer hears why.
    ReceiptRejected { receipt_id: ReceiptId },
    /// The scheduled reconciliation found `items` differences between the shop and its panels
    /// (`at`: the run's slot, Unix seconds): staff are told in the alerts, once per run.
    DriftFound { items: u64, at: i64 },
    /// A subscription's reminder, once per `period` (see [`crate::subscriptions::reminders`]).
    Reminder {
        subscription_id: SubscriptionId,
        reminder: crate::subscriptions::reminders::Reminder,
        period: String,
    },
}

impl Notice {
    /// One notice per event: replaying the change that queued it queues nothing new.
    pub fn dedupe_key(&self) -> String {
        match self {
            Notice::Fulfilled { order_id } => format!("notice:fulfilled:{order_id}"),
            Notice::Refunded { order_id } => format!("notice:refunded:{order_id}"),
            Notice::StarsRefund { payment_id } => format!("notice:stars_refund:{payment_id}"),
            Notice::TicketToStaff { message_id } => format!("notice:ticket_staff:{message_id}"),
            Notice::TicketToCustomer { message_id } => {
                format!("notice:ticket_customer:{message_id}")
            }
            Notice::PanelDown { panel_id, at } => format!("notice:panel_down:{panel_id}:{at}"),
            Notice::PanelUp { panel_id, at } => format!("notice:panel_up:{panel_id}:{at}"),
            Notice::StaffMessage { key, .. } => format!("notice:staff_message:{key}"),
            Notice::TicketClosed { ticket_id } => format!("notice:ticket_closed:{ticket_id}"),
            Notice::TicketWaiting { ticket_id, since } => {
                format!("notice:ticket_waiting:{ticket_id}:{since}")
            }
            Notice::OrderRewards { order_id } => format!("notice:rewards:{order_id}"),
            Notice::SaleToStaff { order_id } => format!("notice:sale:{order_id}"),
            Notice::DailySummary { day } => format!("notice:summary:{day}"),
            Notice::RefundedByStaff { order_id } => format!("notice:refunded_by_staff:{order_id}"),
            Notice::ReferralRewarded { referred, .. } => format!("notice:referral:{referred}"),
            Notice::PaymentReceived { payment_id } => format!("notice:payment:{payment_id}"),
            Notice::PaymentReview { payment_id } => format!("notice:review:{payment_id}"),
            Notice::PaymentDeclined { payment_id } => format!("notice:declined:{payment_id}"),
            Notice::ReceiptToStaff { receipt_id } => format!("notice:receipt:{receipt_id}"),
            Notice::ReceiptRejected { receipt_id } => {
                format!("notice:receipt_rejected:{receipt_id}")
            }
            Notice::Reminder {
                subscription_id,
                reminder,
                period,
            } => format!(
                "notice:remind:{subscription_id}:{}:{period}",
                reminder.key()
            ),
            Notice::DriftFound { at, .. } => format!("notice:drift:{at}"),
        }
    }
}

/// Queues `notice` (at most once per event) inside the caller's transaction.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let payload = serde_json::to_value(notice).map_err(|e| DbErr::Custom(e.to_string()))?;
    jobs::enqueue(
        db,
        NewJob::new(JOB, payload, now)
            .dedupe(notice.dedupe_key())
            .attempts(8),
        now,
    )
    .await?;
    Ok(())
}

/// Queues `notice` unless it was queued before: whether it is queued now.
pub async fn enqueue_new(
    db: &impl ConnectionTrait,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let payload = serde_json::to_value(notice).map_err(|e| DbErr::Custom(e.to_string()))?;
    jobs::enqueue_new(
        db,
        NewJob::new(JOB, payload, now)
            .dedupe(notice.dedupe_key())
            .attempts(8),
        now,
    )
    .await
}

/// Reads a notice back from its job's payload.
pub fn parse(payload: &str) -> Option<Notice> {
    serde_json::from_str(payload).ok()
}
