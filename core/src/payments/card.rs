//! Card-to-card: the customer transfers to one of the shop's cards (rotated), an amount made
//! unique among pending transfers so staff can match it on the bank statement, and uploads the
//! receipt photo. Staff with the finance (or admin) role approve or reject it from the staff
//! chat. Nothing is ever approved by itself: unreviewed receipts are only reminded.
//!
//! Receipt states: `submitted → approved`, or `submitted → half_approved → approved` when the
//! amount needs a second approver, or `submitted|half_approved → rejecting → rejected` (the
//! rejecting staff member then writes the reason). Every move is one conditional update, so the
//! first press wins and a second, concurrent or replayed press changes nothing.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;

use crate::audit;
use crate::config::{Problems, lenient};
use crate::entities::{cards, payments as payment_rows, receipts};
use crate::ids::{CardId, CustomerId, OrderId, PaymentId, ReceiptId, StaffPost, TelegramId};
use crate::ledger::LedgerError;
use crate::money::{Currency, Money};
use crate::notices::{self, Notice};
use crate::payments::{self, Checkout, CheckoutError, PaymentStatus, Provider};
use crate::staff::{self, Permission};

pub use cards::Model as Card;
pub use receipts::Model as Receipt;

text_column! {
    /// Where a card-to-card receipt is in its review. The `receipts.status` column is this type.
    pub enum ReceiptStatus {
        /// Waiting for staff.
        Submitted = "submitted",
        /// One approval of the two that large amounts need.
        HalfApproved = "half_approved",
        Approved = "approved",
        /// A staff member is typing the reason for a rejection.
        Rejecting = "rejecting",
        Rejected = "rejected",
    }
}

/// The seller's card-to-card settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRules {
    /// The largest amount (minor units) added to make a pending transfer's amount unique.
    pub max_offset_minor: i64,
    /// Above this amount a receipt needs two different approvers.
    pub second_approval_above: Option<Money>,
    /// Unreviewed receipts are reminded to staff after this long (and again as long again).
    pub remind_after: Duration,
    /// A transfer that got no receipt in this long expires, freeing its unique amount for
    /// someone else. A receipt sent up to as long again after that is still taken.
    pub expire_after: Duration,
    /// A rejection whose reason never came for this long may be taken over (Reject by someone
    /// else) or cancelled (Approve), so a receipt is never stuck.
    pub takeover_after: Duration,
    /// How many transfers one customer may have waiting for a receipt: each holds one of the
    /// few distinguishable amounts.
    pub max_pending_per_customer: usize,
}

/// `[payments.card]`: card-to-card is offered whenever an enabled card exists (`vpnshop card
/// add`); these say how it behaves.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSettings {
    /// The most added to an amount to make pending transfers distinguishable (`"999"`); `"0"`:
    /// none.
    #[serde(deserialize_with = "lenient::text")]
    pub max_offset: String,
    /// Receipts above this amount need two different approvers; unset: one is enough.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub second_approval_above: Option<String>,
    /// Unreviewed receipts are reminded to staff after this many minutes (and again as often).
    pub remind_minutes: i64,
    /// A transfer with no receipt after this many minutes expires and frees its amount.
    pub expire_minutes: i64,
    /// A rejection with no reason after this many minutes may be taken over or cancelled by
    /// other finance staff.
    pub reject_takeover_minutes: i64,
}

impl Default for CardSettings {
    fn default() -> Self {
        CardSettings {
            max_offset: "999".into(),
            second_approval_above: None,
            remind_minutes: 30,
            expire_minutes: 24 * 60,
            reject_takeover_minutes: 30,
        }
    }
}

impl CardSettings {
    /// The rules these settings describe; what is wrong goes into `problems` under `key`.
    pub fn rules(
        &self,
        key: &str,
        shop: Currency,
        max_pending_per_customer: usize,
        problems: &mut Problems,
    ) -> CardRules {
        let max_offset = problems.amount(&format!("{key}.max_offset"), &self.max_offset, shop);
        let second_approval_above = self
            .second_approval_above
            .as_deref()
            .and_then(|a| problems.amount(&format!("{key}.second_approval_above"), a, shop));
        CardRules {
            max_offset_minor: max_offset.map_or(0, Money::minor),
            second_approval_above,
            remind_after: problems.minutes(
                &format!("{key}.remind_minutes"),
                self.remind_minutes,
                1,
            ),
            expire_after: problems.minutes(
                &format!("{key}.expire_minutes"),
                self.expire_minutes,
                1,
            ),
            takeover_after: problems.minutes(
                &format!("{key}.reject_takeover_minutes"),
                self.reject_takeover_minutes,
                1,
            ),
            max_pending_per_customer: max_pending_per_customer.max(1),
        }
    }
}

/// A card number as the customer must type it: 16 digits (Persian or Arabic digits accepted,
/// spaces and dashes ignored), shown in groups of four.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardNumber(String);

impl CardNumber {
    pub fn parse(input: &str) -> Option<Self> {
        let mut digits = String::new();
        for c in input.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '۰'..='۹' => digits.push(char::from(b'0' + (c as u32 - '۰' as u32) as u8)),
                '٠'..='٩' => digits.push(char::from(b'0' + (c as u32 - '٠' as u32) as u8)),
                ' ' | '-' => {}
                _ => return None,
            }
        }
        (digits.len() == 16).then_some(CardNumber(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("no card is set up for card-to-card payments")]
    NoCard,
    /// The customer already has `max_pending_per_customer` transfers waiting for receipts.
    #[error("at most {0} card transfers may wait for a receipt at once")]
    TooManyPending(usize),
    /// Every amount from the price up to the largest offset is held by a pending transfer:
    /// another would repeat one and staff could not tell them apart on the bank statement.
    #[error("every distinguishable amount is taken by a pending transfer")]
    NoFreeAmount,
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error("this payment is not a pending card transfer of yours")]
    NotYourTransfer,
    #[error("a receipt was already sent for this payment")]
    AlreadySubmitted,
    #[error("no such receipt")]
    NoSuchReceipt,
    #[error("only finance or admin staff may review receipts")]
    NotAllowed,
    #[error("this receipt was already {0}")]
    AlreadyDecided(ReceiptStatus),
    #[error("the second approval must come from someone else")]
    SameApprover,
    /// Staff never decide their own payments, whatever their role.
    #[error("nobody may decide a receipt for their own payment")]
    OwnPayment,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

pub async fn add_card(
    db: &impl ConnectionTrait,
    number: &CardNumber,
    holder: &str,
    bank: &str,
    now: DateTime<Utc>,
) -> Result<Card, DbErr> {
    cards::Entity::insert(cards::ActiveModel {
        number: Set(number.as_str().to_string()),
        holder: Set(holder.trim().to_string()),
        bank: Set(bank.trim().to_string()),
        enabled: Set(true),
        times_shown: Set(0),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await
}

pub async fn cards(db: &impl ConnectionTrait) -> Result<Vec<Card>, DbErr> {
    cards::Entity::find()
        .order_by_asc(cards::Column::Id)
        .all(db)
        .await
}

/// Enables or disables a card; whether it exists.
pub async fn set_card_enabled(
    db: &impl ConnectionTrait,
    id: CardId,
    enabled: bool,
) -> Result<bool, DbErr> {
    Ok(cards::Entity::update_many()
        .col_expr(cards::Column::Enabled, enabled.into())
        .filter(cards::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Whether any card is enabled (so the method is offered at all).
pub async fn has_card(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(cards::Entity::find()
        .filter(cards::Column::Enabled.eq(true))
        .one(db)
        .await?
        .is_some())
}

/// The card shown least so far: transfers spread over all enabled cards.
async fn next_card(db: &impl ConnectionTrait) -> Result<Option<Card>, DbErr> {
    let card = cards::Entity::find()
        .filter(cards::Column::Enabled.eq(true))
        .order_by_asc(cards::Column::TimesShown)
        .order_by_asc(cards::Column::Id)
        .one(db)
        .await?;
    if let Some(c) = &card {
        cards::Entity::update_many()
            .col_expr(
                cards::Column::TimesShown,
                Expr::col(cards::Column::TimesShown).add(1i64),
            )
            .filter(cards::Column::Id.eq(c.id))
            .exec(db)
            .await?;
    }
    Ok(card)
}

/// A transfer to make: the payment, the card, and the exact amount to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub checkout: Checkout,
    pub card: Card,
}

/// Opens a card transfer of `amount` (an order's due rest, or a top-up), made unique among
/// pending transfers by the smallest free offset up to the configured maximum. The customer is
/// credited what they transfer, offset included: nothing they send is lost.
pub async fn open(
    db: &DatabaseConnection,
    customer: CustomerId,
    order: Option<OrderId>,
    amount: Money,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Transfer, CardError> {
    let txn = crate::db::begin(db).await?;
    serialize_offsets(&txn).await?;
    expire_unreceipted(&txn, rules, now).await?;
    let with_receipt = receipts::Entity::find()
        .select_only()
        .column(receipts::Column::PaymentId)
        .into_query();
    let waiting = payment_rows::Entity::find()
        .filter(payment_rows::Column::Provider.eq(Provider::Card))
        .filter(payment_rows::Column::CustomerId.eq(customer))
        .filter(payment_rows::Column::Status.eq(PaymentStatus::Pending))
        .filter(payment_rows::Column::Id.not_in_subquery(with_receipt))
        .all(&txn)
        .await?
        .len();
    if waiting >= rules.max_pending_per_customer {
        return Err(CardError::TooManyPending(rules.max_pending_per_customer));
    }
    let card = next_card(&txn).await?.ok_or(CardError::NoCard)?;
    let taken: Vec<i64> = payment_rows::Entity::find()
        .filter(payment_rows::Column::Provider.eq(Provider::Card))
        .filter(payment_rows::Column::Status.eq(PaymentStatus::Pending))
        .filter(payment_rows::Column::Currency.eq(amount.currency().code()))
        .filter(payment_rows::Column::AmountMinor.gte(amount.minor()))
        .filter(
            payment_rows::Column::AmountMinor
                .lte(amount.minor().saturating_add(rules.max_offset_minor)),
        )
        .all(&txn)
        .await?
        .into_iter()
        .map(|p| p.amount_minor)
        .collect();
    let first = if rules.max_offset_minor > 0 { 1 } else { 0 };
    let offset = (first..=rules.max_offset_minor)
        .find(|o| {
            amount
                .minor()
                .checked_add(*o)
                .is_some_and(|a| !taken.contains(&a))
        })
        .ok_or(CardError::NoFreeAmount)?;
    let charge = Money::new(offset, amount.currency())
        .ok()
        .and_then(|o| amount.checked_add(o))
        .ok_or(CheckoutError::BadAmount)?;
    let checkout = payments::open(
        &txn,
        Provider::Card,
        customer,
        order,
        charge,
        charge,
        json!({ "card_id": card.id, "offset_minor": offset }),
        now,
    )
    .await?;
    payments::attach_reference(
        &txn,
        checkout.payment,
        &checkout.payment.to_string(),
        None,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Transfer { checkout, card })
}

/// Transfers that got no receipt within `rules.expire_after` fail, so their amounts are free
/// again. Returns how many expired.
pub async fn expire_unreceipted(
    db: &impl ConnectionTrait,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let with_receipt = receipts::Entity::find()
        .select_only()
        .column(receipts::Column::PaymentId)
        .into_query();
    Ok(payment_rows::Entity::update_many()
        .col_expr(payment_rows::Column::Status, PaymentStatus::Failed.into())
        .col_expr(payment_rows::Column::UpdatedAt, now.into())
        .filter(payment_rows::Column::Provider.eq(Provider::Card))
        .filter(payment_rows::Column::Status.eq(PaymentStatus::Pending))
        .filter(payment_rows::Column::CreatedAt.lte(now - rules.expire_after))
        .filter(payment_rows::Column::Id.not_in_subquery(with_receipt))
        .exec(db)
        .await?
        .rows_affected)
}

/// Two transfers opened at the same instant must not pick the same free offset. SQLite runs one
/// write transaction at a time already; on PostgreSQL a transaction-scoped advisory lock makes
/// opening transfers take turns (it is released at commit or rollback).
async fn serialize_offsets(txn: &sea_orm::DatabaseTransaction) -> Result<(), DbErr> {
    use sea_orm::{DbBackend, Statement};
    /// Any fixed number: the key of the card-offset lock ("card" in ASCII).
    const OFFSET_LOCK: i64 = 0x6361_7264;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [OFFSET_LOCK.into()],
        ))
        .await?;
    }
    Ok(())
}

/// A receipt put before staff; `duplicate_of` names an earlier receipt with the same photo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub receipt: ReceiptId,
    pub duplicate_of: Option<ReceiptId>,
}

/// The customer's receipt photo for their pending transfer. Queues it for the staff chat.
pub async fn submit(
    db: &DatabaseConnection,
    payment: PaymentId,
    customer: CustomerId,
    file_id: &str,
    file_unique_id: &str,
    now: DateTime<Utc>,
) -> Result<Submitted, CardError> {
    let txn = crate::db::begin(db).await?;
    let row = payments::get(&txn, payment)
        .await?
        .filter(|p| {
            p.provider == Provider::Card
                && p.customer_id == customer
                && (p.status == PaymentStatus::Pending || p.status == PaymentStatus::Failed)
        })
        .ok_or(CardError::NotYourTransfer)?;
    if receipts::Entity::find()
        .filter(receipts::Column::PaymentId.eq(row.id))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(CardError::AlreadySubmitted);
    }
    let duplicate_of = receipts::Entity::find()
        .filter(receipts::Column::FileUniqueId.eq(file_unique_id))
        .order_by_asc(receipts::Column::Id)
        .one(&txn)
        .await?
        .map(|r| r.id);
    if row.status == PaymentStatus::Failed {
        // The transfer expired without a receipt (a failed card transfer has none otherwise):
        // the customer may have paid late, so staff still decide it.
        payment_rows::Entity::update_many()
            .col_expr(payment_rows::Column::Status, PaymentStatus::Pending.into())
            .col_expr(payment_rows::Column::UpdatedAt, now.into())
            .filter(payment_rows::Column::Id.eq(row.id))
            .filter(payment_rows::Column::Status.eq(PaymentStatus::Failed))
            .exec(&txn)
            .await?;
    }
    let card_id = payments::details_of(&row)["card_id"]
        .as_i64()
        .map(CardId::new);
    let receipt = receipts::Entity::insert(receipts::ActiveModel {
        payment_id: Set(row.id),
        customer_id: Set(customer),
        card_id: Set(card_id),
        file_id: Set(file_id.to_string()),
        file_unique_id: Set(file_unique_id.to_string()),
        duplicate_of: Set(duplicate_of),
        status: Set(ReceiptStatus::Submitted),
        first_approver: Set(None),
        decided_by: Set(None),
        claimed_by: Set(None),
        reason: Set(None),
        staff_message_id: Set(None),
        reminded_at: Set(None),
        updated_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    notices::enqueue(
        &txn,
        &Notice::ReceiptToStaff {
            receipt_id: receipt.id,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Submitted {
        receipt: receipt.id,
        duplicate_of,
    })
}

/// The card transfer a customer would attach a photo to: their newest one without a receipt,
/// pending, or expired for no longer than it was open (a late receipt still reaches staff).
pub async fn awaiting_receipt(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Option<payments::Payment>, DbErr> {
    let with_receipt = receipts::Entity::find()
        .select_only()
        .column(receipts::Column::PaymentId)
        .filter(receipts::Column::CustomerId.eq(customer))
        .into_query();
    payment_rows::Entity::find()
        .filter(payment_rows::Column::Provider.eq(Provider::Card))
        .filter(payment_rows::Column::CustomerId.eq(customer))
        .filter(
            Condition::any()
                .add(payment_rows::Column::Status.eq(PaymentStatus::Pending))
                .add(
                    Condition::all()
                        .add(payment_rows::Column::Status.eq(PaymentStatus::Failed))
                        .add(payment_rows::Column::CreatedAt.gt(now - rules.expire_after * 2)),
                ),
        )
        .filter(payment_rows::Column::Id.not_in_subquery(with_receipt))
        .order_by_desc(payment_rows::Column::Id)
        .one(db)
        .await
}

pub async fn card(db: &impl ConnectionTrait, id: CardId) -> Result<Option<Card>, DbErr> {
    cards::Entity::find_by_id(id).one(db).await
}

pub async fn receipt(db: &impl ConnectionTrait, id: ReceiptId) -> Result<Option<Receipt>, DbErr> {
    receipts::Entity::find_by_id(id).one(db).await
}

/// The receipt shown by this staff-chat message.
pub async fn by_staff_message(
    db: &impl ConnectionTrait,
    post: StaffPost,
) -> Result<Option<Receipt>, DbErr> {
    receipts::Entity::find()
        .filter(receipts::Column::StaffChatId.eq(post.chat))
        .filter(receipts::Column::StaffMessageId.eq(post.message))
        .one(db)
        .await
}

/// Remembers the staff-chat message that shows a receipt, so decisions can update it.
pub async fn set_staff_message(
    db: &impl ConnectionTrait,
    id: ReceiptId,
    post: StaffPost,
) -> Result<(), DbErr> {
    receipts::Entity::update_many()
        .col_expr(receipts::Column::StaffChatId, Some(post.chat).into())
        .col_expr(receipts::Column::StaffMessageId, Some(post.message).into())
        .filter(receipts::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// How an approval press ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Approved and credited (and the order paid, if it still could be).
    Approved(payments::Credited),
    /// Recorded as the first of two approvals: someone else must approve too.
    NeedsSecond,
}

/// The receipt, if `who` may review receipts; a refusal is written to the audit log (committed
/// on its own, before any transaction that would roll it back).
async fn reviewer(
    db: &DatabaseConnection,
    who: TelegramId,
    id: ReceiptId,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Receipt, CardError> {
    let allowed = staff::access_of(db, who)
        .await?
        .is_some_and(|a| a.may(Permission::Receipts));
    if !allowed {
        audit::record(
            db,
            Some(who),
            &format!("receipt.{action}.denied"),
            Some(format!("receipt:{id}")),
            "not finance or admin staff".into(),
            now,
        )
        .await?;
        return Err(CardError::NotAllowed);
    }
    let r = receipt(db, id).await?.ok_or(CardError::NoSuchReceipt)?;
    if crate::customers::is_telegram_user(db, r.customer_id, who).await? {
        audit::record(
            db,
            Some(who),
            &format!("receipt.{action}.denied"),
            Some(format!("receipt:{id}")),
            "their own payment".into(),
            now,
        )
        .await?;
        return Err(CardError::OwnPayment);
    }
    Ok(r)
}

/// Moves a receipt from one of `from` to `to`, setting `set`; whether this call did it.
async fn step(
    db: &impl ConnectionTrait,
    id: ReceiptId,
    from: &[ReceiptStatus],
    extra: Condition,
    to: ReceiptStatus,
    set: &[(receipts::Column, sea_orm::Value)],
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut update = receipts::Entity::update_many()
        .col_expr(receipts::Column::Status, to.into())
        .col_expr(receipts::Column::UpdatedAt, now.into());
    for (col, value) in set {
        update = update.col_expr(*col, Expr::value(value.clone()));
    }
    Ok(update
        .filter(receipts::Column::Id.eq(id))
        .filter(receipts::Column::Status.is_in(from.iter().copied()))
        .filter(extra)
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// A staff member presses Approve. Authority is looked up here, never taken from the button.
pub async fn approve(
    db: &DatabaseConnection,
    id: ReceiptId,
    who: TelegramId,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Approval, CardError> {
    let mut r = reviewer(db, who, id, "approve", now).await?;
    if r.status == ReceiptStatus::Rejecting {
        r = cancel_stale_rejection(db, &r, who, rules, now).await?;
    }
    let txn = crate::db::begin(db).await?;
    let payment = payments::get(&txn, r.payment_id)
        .await?
        .ok_or(CardError::NoSuchReceipt)?;
    let needs_two = rules
        .second_approval_above
        .is_some_and(|limit| payment.amount_minor > limit.minor());
    let by = Some(who.get());
    let outcome = if needs_two && r.status == ReceiptStatus::Submitted {
        let set = [(receipts::Column::FirstApprover, by.into())];
        if !step(
            &txn,
            id,
            &[ReceiptStatus::Submitted],
            Condition::all(),
            ReceiptStatus::HalfApproved,
            &set,
            now,
        )
        .await?
        {
            return Err(decided(&txn, id).await);
        }
        Approval::NeedsSecond
    } else {
        if needs_two && r.first_approver == by {
            return Err(CardError::SameApprover);
        }
        let (from, extra) = if needs_two {
            (
                ReceiptStatus::HalfApproved,
                Condition::all().add(receipts::Column::FirstApprover.ne(who)),
            )
        } else {
            (ReceiptStatus::Submitted, Condition::all())
        };
        let set = [(receipts::Column::DecidedBy, by.into())];
        if !step(&txn, id, &[from], extra, ReceiptStatus::Approved, &set, now).await? {
            return Err(decided(&txn, id).await);
        }
        let credited = payments::settle_in(&txn, &payment, now)
            .await?
            .ok_or_else(|| CardError::AlreadyDecided(ReceiptStatus::Approved))?;
        Approval::Approved(credited)
    };
    audit::record(
        &txn,
        Some(who),
        match outcome {
            Approval::NeedsSecond => "receipt.approve.first",
            Approval::Approved(_) => "receipt.approve",
        },
        Some(format!("receipt:{id}")),
        format!("{} {}", payment.amount_minor, payment.currency),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(outcome)
}

/// Why a conditional step found nothing to move.
async fn decided(db: &impl ConnectionTrait, id: ReceiptId) -> CardError {
    match receipt(db, id).await {
        Ok(Some(r)) => CardError::AlreadyDecided(r.status),
        Ok(None) => CardError::NoSuchReceipt,
        Err(e) => e.into(),
    }
}

/// A staff member presses Reject: they claim the receipt and are asked for the reason.
pub async fn begin_reject(
    db: &DatabaseConnection,
    id: ReceiptId,
    who: TelegramId,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Receipt, CardError> {
    let r = reviewer(db, who, id, "reject", now).await?;
    let txn = crate::db::begin(db).await?;
    let set = [(receipts::Column::ClaimedBy, Some(who.get()).into())];
    // Someone else's rejection whose reason never came: this press takes it over.
    let taking_over = r.status == ReceiptStatus::Rejecting && r.claimed_by != Some(who.get());
    let (from, extra) = if taking_over {
        (
            &[ReceiptStatus::Rejecting][..],
            Condition::all().add(receipts::Column::UpdatedAt.lte(now - rules.takeover_after)),
        )
    } else {
        (
            &[ReceiptStatus::Submitted, ReceiptStatus::HalfApproved][..],
            Condition::all(),
        )
    };
    if !step(&txn, id, from, extra, ReceiptStatus::Rejecting, &set, now).await? {
        return Err(decided(&txn, id).await);
    }
    if taking_over {
        audit::record(
            &txn,
            Some(who),
            "receipt.reject.taken_over",
            Some(format!("receipt:{id}")),
            format!("from {}", r.claimed_by.unwrap_or_default()),
            now,
        )
        .await?;
    }
    let r = receipt(&txn, id).await?.ok_or(CardError::NoSuchReceipt)?;
    txn.commit().await?;
    Ok(r)
}

/// An Approve press on a receipt someone began to reject and never gave a reason for within
/// `rules.takeover_after`: the rejection is cancelled (audited) and the receipt is open again.
/// Sooner than that, it is still theirs.
async fn cancel_stale_rejection(
    db: &DatabaseConnection,
    r: &Receipt,
    who: TelegramId,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Receipt, CardError> {
    let txn = crate::db::begin(db).await?;
    let set = [(receipts::Column::ClaimedBy, Option::<i64>::None.into())];
    let back_to = if r.first_approver.is_some() {
        ReceiptStatus::HalfApproved
    } else {
        ReceiptStatus::Submitted
    };
    let stale = Condition::all().add(receipts::Column::UpdatedAt.lte(now - rules.takeover_after));
    if !step(
        &txn,
        r.id,
        &[ReceiptStatus::Rejecting],
        stale,
        back_to,
        &set,
        now,
    )
    .await?
    {
        return Err(decided(&txn, r.id).await);
    }
    audit::record(
        &txn,
        Some(who),
        "receipt.reject.cancelled",
        Some(format!("receipt:{}", r.id)),
        format!("begun by {}", r.claimed_by.unwrap_or_default()),
        now,
    )
    .await?;
    let r = receipt(&txn, r.id).await?.ok_or(CardError::NoSuchReceipt)?;
    txn.commit().await?;
    Ok(r)
}

/// The reason arrives: the receipt is rejected, the payment fails, the customer is told why.
pub async fn finish_reject(
    db: &DatabaseConnection,
    id: ReceiptId,
    who: TelegramId,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Receipt, CardError> {
    let r = reviewer(db, who, id, "reject", now).await?;
    let txn = crate::db::begin(db).await?;
    let set = [
        (receipts::Column::DecidedBy, Some(who.get()).into()),
        (
            receipts::Column::Reason,
            Some(reason.trim().to_string()).into(),
        ),
    ];
    let mine = Condition::all().add(receipts::Column::ClaimedBy.eq(who));
    if !step(
        &txn,
        id,
        &[ReceiptStatus::Rejecting],
        mine,
        ReceiptStatus::Rejected,
        &set,
        now,
    )
    .await?
    {
        return Err(decided(&txn, id).await);
    }
    payment_rows::Entity::update_many()
        .col_expr(payment_rows::Column::Status, PaymentStatus::Failed.into())
        .col_expr(payment_rows::Column::UpdatedAt, now.into())
        .filter(payment_rows::Column::Id.eq(r.payment_id))
        .filter(payment_rows::Column::Status.eq(PaymentStatus::Pending))
        .exec(&txn)
        .await?;
    notices::enqueue(&txn, &Notice::ReceiptRejected { receipt_id: id }, now).await?;
    audit::record(
        &txn,
        Some(who),
        "receipt.reject",
        Some(format!("receipt:{id}")),
        reason.trim().to_string(),
        now,
    )
    .await?;
    let r = receipt(&txn, id).await?.ok_or(CardError::NoSuchReceipt)?;
    txn.commit().await?;
    Ok(r)
}

/// Receipts nobody has decided for `rules.remind_after` (and not reminded for as long),
/// marked reminded now. Never approves anything.
pub async fn due_reminders(
    db: &DatabaseConnection,
    rules: &CardRules,
    now: DateTime<Utc>,
) -> Result<Vec<Receipt>, DbErr> {
    let cutoff = now - rules.remind_after;
    let due = receipts::Entity::find()
        .filter(receipts::Column::Status.is_in([
            ReceiptStatus::Submitted,
            ReceiptStatus::HalfApproved,
            ReceiptStatus::Rejecting,
        ]))
        .filter(receipts::Column::CreatedAt.lte(cutoff))
        .filter(
            Condition::any()
                .add(receipts::Column::RemindedAt.is_null())
                .add(receipts::Column::RemindedAt.lte(cutoff)),
        )
        .order_by_asc(receipts::Column::Id)
        .all(db)
        .await?;
    let mut marked = Vec::new();
    for r in due {
        let won = receipts::Entity::update_many()
            .col_expr(receipts::Column::RemindedAt, Some(now).into())
            .filter(receipts::Column::Id.eq(r.id))
            .filter(
                Condition::any()
                    .add(receipts::Column::RemindedAt.is_null())
                    .add(receipts::Column::RemindedAt.lte(cutoff)),
            )
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if won {
            marked.push(r);
        }
    }
    Ok(marked)
}

/// How many approved receipts each card was paid to (for the payments screen).
pub async fn paid_per_card(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<CardId, u64>, DbErr> {
    let rows: Vec<(Option<CardId>, i64)> = receipts::Entity::find()
        .select_only()
        .column(receipts::Column::CardId)
        .column_as(Expr::col(receipts::Column::Id).count(), "n")
        .filter(receipts::Column::Status.eq(ReceiptStatus::Approved))
        .group_by(receipts::Column::CardId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(card, n)| Some((card?, u64::try_from(n).unwrap_or(0))))
        .collect())
}

/// Receipts staff have not decided yet, oldest first: the first `limit`, and how many in all.
pub async fn undecided(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<(Vec<(Receipt, Money)>, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let waiting = receipts::Entity::find().filter(receipts::Column::Status.is_in([
        ReceiptStatus::Submitted,
        ReceiptStatus::HalfApproved,
        ReceiptStatus::Rejecting,
    ]));
    let total = waiting.clone().count(db).await?;
    let rows = waiting
        .order_by_asc(receipts::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(p) = payment_rows::Entity::find_by_id(r.payment_id)
            .one(db)
            .await?
        {
            out.push((r, p.amount()));
        }
    }
    Ok((out, total))
}
