//! Payments through an outside provider — card-to-card, Zarinpal, YooKassa, NOWPayments,
//! CryptoBot (and Telegram Stars, which shares the settlement): one row per attempt to pay, and
//! one way for it to end. Money always lands in the wallet first and the order is then paid from
//! the wallet in the same transaction, so a payment that can no longer buy its order (the quote
//! ran out, it was paid another way) is never lost: it stays in the wallet.
//!
//! A provider's payment id credits at most once: `(provider, provider_payment_id)` is unique, the
//! row moves `pending → paid` by a conditional update whose row count says who won, and the
//! ledger posting carries the same id as its idempotency key.
pub mod card;
pub mod gateways;
pub mod methods;
pub mod rates;
pub mod review;
pub mod stars;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::json;

use crate::entities::payments;
use crate::ids::{CustomerId, OrderId, PaymentId};
use crate::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use crate::money::{Currency, Money};
use crate::notices::{self, Notice};
use crate::orders::{self, OrderError, OrderStatus};

pub use payments::Model as Payment;

impl Payment {
    pub fn payment_id(&self) -> PaymentId {
        self.id
    }

    /// What the payer is asked for, in the provider's currency (the column is CHECKed
    /// non-negative).
    pub fn amount(&self) -> Money {
        Money::new(self.amount_minor, self.currency).unwrap_or(Money::zero(self.currency))
    }
}

text_column! {
    /// Who a payment goes through. The `payments.provider` column is this type.
    pub enum Provider {
        /// A card-to-card transfer with a receipt staff approve.
        Card = "card",
        Zarinpal = "zarinpal",
        YooKassa = "yookassa",
        NowPayments = "nowpayments",
        CryptoBot = "cryptobot",
        /// Telegram Stars (paid inside Telegram; see [`stars`]).
        Stars = "telegram_stars",
    }
}

text_column! {
    /// The states of a payment row. The `payments.status` column is this type.
    pub enum PaymentStatus {
        /// Waiting for the customer (or for staff, for a card receipt).
        Pending = "pending",
        /// Credited: the money is in the wallet (and the order, if still open, paid from it).
        Paid = "paid",
        /// The provider said it failed, expired or was cancelled. A later "paid" still counts.
        Failed = "failed",
        /// Paid, but not as asked (amount or currency differ): staff decide, nothing is
        /// provisioned.
        Review = "review",
        /// Staff declined a payment in review: nothing credited; it is returned at the gateway.
        Declined = "declined",
        /// Money that must go back to the payer (Stars paid twice).
        RefundDue = "refund_due",
        Refunded = "refunded",
    }
}

/// An opened payment: what the provider must be asked for, and what the wallet gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub order: Option<OrderId>,
    /// What the customer pays at the provider, in the provider's currency.
    pub charge: Money,
    /// What the wallet is credited when it is paid, in the shop's currency.
    pub credit: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("no such order")]
    NoSuchOrder,
    #[error("this order belongs to someone else")]
    NotYours,
    #[error("this order is {0}, not waiting for payment")]
    NotPending(OrderStatus),
    #[error("this quote has expired")]
    QuoteExpired,
    #[error("the wallet already covers this order")]
    WalletCovers,
    #[error("this amount cannot be paid this way")]
    BadAmount,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What is still to pay for a pending order of `customer` after their wallet.
pub async fn amount_due(
    db: &impl ConnectionTrait,
    order: OrderId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<Money, CheckoutError> {
    let row = orders::get(db, order)
        .await?
        .ok_or(CheckoutError::NoSuchOrder)?;
    if row.customer_id != customer {
        return Err(CheckoutError::NotYours);
    }
    match row.state() {
        OrderStatus::PendingPayment => {}
        other => return Err(CheckoutError::NotPending(other)),
    }
    if row.expires_at <= now {
        return Err(CheckoutError::QuoteExpired);
    }
    let currency = row.currency;
    let balance = ledger::wallet_balance(db, customer, currency).await?;
    let rest = row.total_minor - balance.minor();
    if rest <= 0 {
        return Err(CheckoutError::WalletCovers);
    }
    Money::new(rest, currency).map_err(|_| CheckoutError::BadAmount)
}

/// Opens a pending payment. `reference` is the provider's id when it is known up front (a card
/// receipt names its own row); gateways attach theirs with [`attach_reference`] once created.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    db: &impl ConnectionTrait,
    provider: Provider,
    customer: CustomerId,
    order: Option<OrderId>,
    charge: Money,
    credit: Money,
    extra: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Checkout, CheckoutError> {
    if charge.minor() <= 0 || credit.minor() <= 0 {
        return Err(CheckoutError::BadAmount);
    }
    let mut details = json!({
        "credit_minor": credit.minor(),
        "credit_currency": credit.currency().code(),
    });
    if let (Some(d), Some(e)) = (details.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    let row = payments::Entity::insert(payments::ActiveModel {
        customer_id: Set(customer),
        order_id: Set(order),
        provider: Set(provider),
        provider_payment_id: Set(None),
        status: Set(PaymentStatus::Pending),
        amount_minor: Set(charge.minor()),
        currency: Set(charge.currency()),
        details: Set(Some(details.to_string())),
        updated_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await?;
    Ok(Checkout {
        payment: row.id,
        customer,
        order,
        charge,
        credit,
    })
}

/// Records the provider's id for a payment (and where the customer pays), once.
pub async fn attach_reference(
    db: &impl ConnectionTrait,
    payment: PaymentId,
    reference: &str,
    pay_url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = get(db, payment)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("payment {payment}")))?;
    let mut details = details_of(&row);
    if let (Some(d), Some(url)) = (details.as_object_mut(), pay_url) {
        d.insert("pay_url".into(), url.into());
    }
    payments::Entity::update_many()
        .col_expr(
            payments::Column::ProviderPaymentId,
            Some(reference.to_string()).into(),
        )
        .col_expr(payments::Column::Details, Some(details.to_string()).into())
        .col_expr(payments::Column::UpdatedAt, now.into())
        .filter(payments::Column::Id.eq(payment))
        .filter(payments::Column::ProviderPaymentId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a payment the provider never opened (it could not be reached) as failed.
pub async fn fail_unopened(
    db: &impl ConnectionTrait,
    payment: PaymentId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    payments::Entity::update_many()
        .col_expr(payments::Column::Status, PaymentStatus::Failed.into())
        .col_expr(payments::Column::UpdatedAt, now.into())
        .filter(payments::Column::Id.eq(payment))
        .filter(payments::Column::Status.eq(PaymentStatus::Pending))
        .filter(payments::Column::ProviderPaymentId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: PaymentId) -> Result<Option<Payment>, DbErr> {
    payments::Entity::find_by_id(id).one(db).await
}

pub async fn by_reference(
    db: &impl ConnectionTrait,
    provider: Provider,
    reference: &str,
) -> Result<Option<Payment>, DbErr> {
    payments::Entity::find()
        .filter(payments::Column::Provider.eq(provider))
        .filter(payments::Column::ProviderPaymentId.eq(reference))
        .one(db)
        .await
}

/// Pending payments of `provider` opened before `before` (and not older than `since`), oldest
/// first: what reconciliation asks the provider about.
/// The open payments of `provider` reconciliation should ask about now, at most `cap`: each is
/// asked again after a quarter of its age (at least a minute, at most an hour), so a fresh
/// checkout is checked often and a day-old abandoned one hourly; the longest unasked come first.
pub async fn due_for_check(
    db: &impl ConnectionTrait,
    provider: Provider,
    since: DateTime<Utc>,
    before: DateTime<Utc>,
    cap: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Payment>, DbErr> {
    let mut due: Vec<Payment> = pending(db, provider, since, before)
        .await?
        .into_iter()
        .filter(|p| {
            let every = ((now - p.created_at) / 4)
                .clamp(chrono::Duration::minutes(1), chrono::Duration::hours(1));
            p.checked_at.is_none_or(|at| now - at >= every)
        })
        .collect();
    due.sort_by_key(|p| (p.checked_at, p.id));
    due.truncate(cap);
    Ok(due)
}

/// How many payments `customer` has open at gateways (not card, not Stars) since `since`.
pub async fn open_at_gateways(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    payments::Entity::find()
        .filter(payments::Column::CustomerId.eq(customer))
        .filter(payments::Column::Status.eq(PaymentStatus::Pending))
        .filter(payments::Column::Provider.is_not_in([Provider::Card, Provider::Stars]))
        .filter(payments::Column::CreatedAt.gte(since))
        .count(db)
        .await
}

/// Records that reconciliation asked about `payment` now.
pub async fn mark_checked(
    db: &impl ConnectionTrait,
    payment: PaymentId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    payments::Entity::update_many()
        .col_expr(payments::Column::CheckedAt, Some(now).into())
        .filter(payments::Column::Id.eq(payment))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn pending(
    db: &impl ConnectionTrait,
    provider: Provider,
    since: DateTime<Utc>,
    before: DateTime<Utc>,
) -> Result<Vec<Payment>, DbErr> {
    payments::Entity::find()
        .filter(payments::Column::Provider.eq(provider))
        .filter(payments::Column::Status.is_in([PaymentStatus::Pending, PaymentStatus::Failed]))
        .filter(payments::Column::ProviderPaymentId.is_not_null())
        .filter(payments::Column::CreatedAt.gte(since))
        .filter(payments::Column::CreatedAt.lt(before))
        .order_by_asc(payments::Column::Id)
        .all(db)
        .await
}

/// The JSON kept with a payment (what it credits, where it is paid).
pub fn details_of(payment: &Payment) -> serde_json::Value {
    payment
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| json!({}))
}

/// What the wallet gets when `payment` is paid.
pub fn credit_of(payment: &Payment) -> Option<Money> {
    let details = details_of(payment);
    let currency: Currency = details["credit_currency"].as_str()?.parse().ok()?;
    Money::new(details["credit_minor"].as_i64()?, currency).ok()
}

/// Whether a credited payment went on to pay its order (`false`: it stayed in the wallet).
pub fn paid_its_order(payment: &Payment) -> bool {
    details_of(payment)["order_paid"].as_bool().unwrap_or(false)
}

/// Where the customer pays, for a gateway payment.
pub fn pay_url_of(payment: &Payment) -> Option<String> {
    details_of(payment)["pay_url"].as_str().map(str::to_string)
}

/// What a provider says about a payment, after its signature or a server-side check proved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Paid: `amount_minor` in `currency` as the provider counts them.
    Paid { amount_minor: i64, currency: String },
    /// Paid less than asked (crypto "partially paid"): what arrived, in the invoice's currency.
    Underpaid { amount_minor: i64, currency: String },
    /// Paid less than asked, in an amount that cannot be put in the invoice's currency exactly:
    /// what arrived, in words for staff ("0.00008 BTC of 0.0002 BTC").
    UnderpaidUnscaled { arrived: String },
    /// Not paid yet.
    Pending,
    /// Failed, expired or cancelled.
    Failed,
}

/// How a report ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Credited(Credited),
    /// It was settled before (a duplicate callback, the return URL, reconciliation).
    AlreadySettled,
    StillPending,
    MarkedFailed,
    /// Amount or currency differ from what was asked: staff were told, nothing provisioned.
    Review {
        payment: PaymentId,
    },
    /// No payment of ours has this reference.
    Unknown,
}

/// A payment that was credited to the wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credited {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub credit: Money,
    pub order: Option<OrderId>,
    /// Whether the order was then paid from the wallet (`false`: it was closed meanwhile).
    pub order_paid: bool,
}

/// Acts on what `provider` reported for `reference`, exactly once however often it is told.
pub async fn apply(
    db: &DatabaseConnection,
    provider: Provider,
    reference: &str,
    report: &Report,
    now: DateTime<Utc>,
) -> Result<Outcome, LedgerError> {
    let txn = crate::db::begin(db).await?;
    let Some(row) = by_reference(&txn, provider, reference).await? else {
        return Ok(Outcome::Unknown);
    };
    let outcome = match report {
        Report::Pending => Outcome::StillPending,
        Report::Failed => {
            if claim(
                &txn,
                &row,
                &[PaymentStatus::Pending],
                PaymentStatus::Failed,
                now,
            )
            .await?
            {
                Outcome::MarkedFailed
            } else {
                Outcome::AlreadySettled
            }
        }
        Report::Paid {
            amount_minor,
            currency,
        } if *amount_minor == row.amount_minor && *currency == row.currency.code() => {
            match settle_in(&txn, &row, now).await? {
                Some(credited) => Outcome::Credited(credited),
                None => Outcome::AlreadySettled,
            }
        }
        Report::Paid { .. } | Report::Underpaid { .. } | Report::UnderpaidUnscaled { .. } => {
            let open = [PaymentStatus::Pending, PaymentStatus::Failed];
            if claim(&txn, &row, &open, PaymentStatus::Review, now).await? {
                let mut details = details_of(&row);
                if let (
                    Some(d),
                    Report::Paid {
                        amount_minor,
                        currency,
                    }
                    | Report::Underpaid {
                        amount_minor,
                        currency,
                    },
                ) = (details.as_object_mut(), report)
                {
                    d.insert("reported_minor".into(), (*amount_minor).into());
                    d.insert("reported_currency".into(), currency.clone().into());
                }
                if let (Some(d), Report::UnderpaidUnscaled { arrived }) =
                    (details.as_object_mut(), report)
                {
                    d.insert("reported_text".into(), arrived.clone().into());
                }
                payments::Entity::update_many()
                    .col_expr(payments::Column::Details, Some(details.to_string()).into())
                    .filter(payments::Column::Id.eq(row.id))
                    .exec(&txn)
                    .await?;
                let payment = row.id;
                notices::enqueue(
                    &txn,
                    &Notice::PaymentReview {
                        payment_id: payment,
                    },
                    now,
                )
                .await?;
                Outcome::Review { payment }
            } else {
                Outcome::AlreadySettled
            }
        }
    };
    txn.commit().await?;
    Ok(outcome)
}

/// Moves a payment from one of `from` to `to`; whether this call did it.
async fn claim(
    txn: &DatabaseTransaction,
    row: &Payment,
    from: &[PaymentStatus],
    to: PaymentStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(payments::Entity::update_many()
        .col_expr(payments::Column::Status, to.into())
        .col_expr(payments::Column::UpdatedAt, now.into())
        .filter(payments::Column::Id.eq(row.id))
        .filter(payments::Column::Status.is_in(from.iter().copied()))
        .exec(txn)
        .await?
        .rows_affected
        == 1)
}

/// Marks `row` paid (if nobody did yet), credits the wallet, pays the order from it, and tells
/// the customer — all in the caller's transaction. `None`: it was already settled.
pub async fn settle_in(
    txn: &DatabaseTransaction,
    row: &Payment,
    now: DateTime<Utc>,
) -> Result<Option<Credited>, LedgerError> {
    if !claim(
        txn,
        row,
        &[PaymentStatus::Pending, PaymentStatus::Failed],
        PaymentStatus::Paid,
        now,
    )
    .await?
    {
        return Ok(None);
    }
    let credited = credit_and_pay(txn, row, now).await?;
    notices::enqueue(
        txn,
        &Notice::PaymentReceived {
            payment_id: credited.payment,
        },
        now,
    )
    .await?;
    Ok(Some(credited))
}

/// Credits a just-claimed payment to the wallet and pays its order from it, when the order can
/// still be paid (a savepoint: when it cannot, the credit still commits).
pub async fn credit_and_pay(
    txn: &DatabaseTransaction,
    row: &Payment,
    now: DateTime<Utc>,
) -> Result<Credited, LedgerError> {
    let payment = row.id;
    let customer = row.customer_id;
    let credit = credit_of(row)
        .ok_or_else(|| DbErr::Custom(format!("payment {payment} does not say what it credits")))?;
    let reference = row
        .provider_payment_id
        .clone()
        .unwrap_or_else(|| payment.to_string());
    let order = row.order_id;
    ledger::credit_wallet(
        txn,
        customer,
        credit,
        &SystemAccount::Gateway(row.provider),
        TxKind::TopUp,
        Memo {
            idempotency_key: Some(format!("{}:{reference}", row.provider)),
            order_id: order,
            payment_id: Some(payment),
            ..Memo::default()
        },
        now,
    )
    .await?;
    let mut order_paid = false;
    if let Some(order) = order {
        let sp = txn.begin().await?;
        match orders::pay_with_wallet_in(&sp, order, customer, now).await {
            Ok(()) => {
                sp.commit().await?;
                order_paid = true;
            }
            Err(OrderError::Ledger(LedgerError::Db(e)) | OrderError::Db(e)) => {
                return Err(e.into());
            }
            Err(e) => {
                tracing::info!(order = %order, reason = %e, "payment kept in the wallet");
                sp.rollback().await?;
            }
        }
        let mut details = details_of(row);
        if let Some(d) = details.as_object_mut() {
            d.insert("order_paid".into(), order_paid.into());
        }
        payments::Entity::update_many()
            .col_expr(payments::Column::Details, Some(details.to_string()).into())
            .filter(payments::Column::Id.eq(row.id))
            .exec(txn)
            .await?;
    }
    Ok(Credited {
        payment,
        customer,
        credit,
        order,
        order_paid,
    })
}
