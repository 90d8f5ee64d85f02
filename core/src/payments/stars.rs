//! Telegram Stars: invoices for an order's unpaid rest or a wallet top-up, the pre-checkout
//! check, and recording a payment exactly once by its charge id. Stars always land in the
//! wallet first (at the shop's rate) and the order is then paid from the wallet in the same
//! transaction, so wallet, Stars and "wallet + Stars" all end in the same `paid` transition, and
//! a payment that can no longer buy its order is never lost: it stays in the wallet.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::json;

use crate::audit;
use crate::entities::{customers, payments};
use crate::ids::{CustomerId, OrderId, PaymentId, TelegramId};
use crate::ledger::LedgerError;
use crate::money::{Currency, Money};
use crate::notices::{self, Notice};
use crate::orders::{self, OrderStatus};
use crate::payments as checkout;
use crate::payments::CheckoutError;
use crate::payments::{PaymentStatus, Provider};
use crate::shop::ShopId;

/// Telegram's limit on one Stars invoice.
pub const MAX_STARS: i64 = 10_000;

/// What one Star is worth in the shop's currency (configured by the seller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StarsRate(Money);

impl StarsRate {
    /// `None` when the value is not positive.
    pub fn new(value_of_one_star: Money) -> Option<Self> {
        (value_of_one_star.minor() > 0).then_some(StarsRate(value_of_one_star))
    }

    pub fn currency(self) -> Currency {
        self.0.currency()
    }

    /// The Stars that cover `minor` (rounded up: the customer never pays less than the price).
    pub fn stars_for(self, minor: i64) -> i64 {
        (minor + self.0.minor() - 1) / self.0.minor()
    }

    /// What `stars` are worth in the shop's currency.
    pub fn value_of(self, stars: i64) -> Money {
        Money::new(stars.saturating_mul(self.0.minor()), self.0.currency())
            .unwrap_or(Money::zero(self.0.currency()))
    }
}

/// An invoice to send: its payload names the payment row, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub payment: PaymentId,
    pub payload: String,
    pub stars: i64,
    /// What the wallet is credited when it is paid.
    pub credit: Money,
    pub order: Option<OrderId>,
}

#[derive(Debug, thiserror::Error)]
pub enum StarsError {
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
    #[error("a Stars amount is 1–{MAX_STARS}")]
    BadAmount,
    #[error("the Stars rate is in {rate}, the order in {order}")]
    CurrencyMismatch { rate: Currency, order: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

impl From<CheckoutError> for StarsError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::NoSuchOrder => StarsError::NoSuchOrder,
            CheckoutError::NotYours => StarsError::NotYours,
            CheckoutError::NotPending(s) => StarsError::NotPending(s),
            CheckoutError::QuoteExpired => StarsError::QuoteExpired,
            CheckoutError::WalletCovers => StarsError::WalletCovers,
            CheckoutError::BadAmount => StarsError::BadAmount,
            CheckoutError::Db(e) => e.into(),
        }
    }
}

/// An invoice payload names the shop and the payment: `stars:<shop>:<payment>`. A bot moved
/// to vpnshop, a token shared with another service, or a database restored elsewhere all see
/// Star payments this shop never made; only payloads with its own identity are its.
fn payload_of(shop: &ShopId, payment: PaymentId) -> String {
    format!("stars:{shop}:{payment}")
}

/// Whose payload this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Payload {
    /// Made by this shop.
    Ours(PaymentId),
    /// `stars:<payment>`, as invoices were made before payloads named the shop: taken only for
    /// a pending invoice it matches exactly, never refunded.
    Legacy(PaymentId),
    /// Someone else's.
    Foreign,
}

impl Payload {
    fn read(shop: &ShopId, payload: &str) -> Payload {
        let Some(rest) = payload.strip_prefix("stars:") else {
            return Payload::Foreign;
        };
        let id = |s: &str| s.parse().ok().map(PaymentId::new);
        match rest.split_once(':') {
            Some((tag, n)) if tag == shop.as_str() => id(n).map_or(Payload::Foreign, Payload::Ours),
            Some(_) => Payload::Foreign,
            None => id(rest).map_or(Payload::Foreign, Payload::Legacy),
        }
    }

    fn payment(self) -> Option<PaymentId> {
        match self {
            Payload::Ours(p) | Payload::Legacy(p) => Some(p),
            Payload::Foreign => None,
        }
    }
}

async fn open_invoice(
    db: &DatabaseConnection,
    customer: CustomerId,
    order: Option<OrderId>,
    stars: i64,
    credit: Money,
    now: DateTime<Utc>,
) -> Result<Invoice, StarsError> {
    if !(1..=MAX_STARS).contains(&stars) {
        return Err(StarsError::BadAmount);
    }
    let row = payments::Entity::insert(payments::ActiveModel {
        customer_id: Set(customer),
        order_id: Set(order),
        provider: Set(Provider::Stars),
        provider_payment_id: Set(None),
        status: Set(PaymentStatus::Pending),
        amount_minor: Set(stars),
        currency: Set(Currency::Xtr),
        details: Set(Some(
            json!({ "credit_minor": credit.minor(), "credit_currency": credit.currency().code() })
                .to_string(),
        )),
        updated_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await?;
    let payment = row.id;
    let shop = crate::shop::identity(db).await?;
    Ok(Invoice {
        payment,
        payload: payload_of(&shop, payment),
        stars,
        credit,
        order,
    })
}

/// An invoice for what the wallet does not cover of a pending order.
pub async fn invoice_for_order(
    db: &DatabaseConnection,
    order: OrderId,
    customer: CustomerId,
    rate: StarsRate,
    now: DateTime<Utc>,
) -> Result<Invoice, StarsError> {
    let due = checkout::amount_due(db, order, customer, now).await?;
    if due.currency() != rate.currency() {
        return Err(StarsError::CurrencyMismatch {
            rate: rate.currency(),
            order: due.currency().code().to_string(),
        });
    }
    let rest = due.minor();
    let stars = rate.stars_for(rest);
    open_invoice(db, customer, Some(order), stars, rate.value_of(stars), now).await
}

/// An invoice that tops the wallet up by `stars`.
pub async fn invoice_for_top_up(
    db: &DatabaseConnection,
    customer: CustomerId,
    stars: i64,
    rate: StarsRate,
    now: DateTime<Utc>,
) -> Result<Invoice, StarsError> {
    open_invoice(db, customer, None, stars, rate.value_of(stars), now).await
}

/// Why a pre-checkout is refused; each has its own text for the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not an invoice of ours, or someone else's.
    Unknown,
    /// This invoice was already paid.
    AlreadyPaid,
    /// Its order was paid another way, cancelled or expired.
    OrderClosed,
    /// The amount asked is not the invoice's.
    PriceChanged,
}

/// Telegram asks before taking the Stars: approve only a pending invoice of this payer, at its
/// amount, whose order (if any) is still waiting for payment and still quoted.
pub async fn pre_checkout(
    db: &DatabaseConnection,
    payload: &str,
    payer: TelegramId,
    currency: &str,
    total: i64,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, DbErr> {
    let shop = crate::shop::identity(db).await?;
    let Some((payment, customer)) = invoice_row(db, Payload::read(&shop, payload)).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if customer.telegram_id != payer {
        return Ok(Err(Refusal::Unknown));
    }
    if payment.status != PaymentStatus::Pending {
        return Ok(Err(Refusal::AlreadyPaid));
    }
    if currency != Currency::Xtr.code() || total != payment.amount_minor {
        return Ok(Err(Refusal::PriceChanged));
    }
    if let Some(order) = payment.order_id {
        let open = orders::get(db, order)
            .await?
            .is_some_and(|o| o.state() == OrderStatus::PendingPayment && o.expires_at > now);
        if !open {
            return Ok(Err(Refusal::OrderClosed));
        }
    }
    Ok(Ok(()))
}

async fn invoice_row(
    db: &impl sea_orm::ConnectionTrait,
    payload: Payload,
) -> Result<Option<(payments::Model, customers::Model)>, DbErr> {
    let Some(id) = payload.payment() else {
        return Ok(None);
    };
    let Some(payment) = payments::Entity::find_by_id(id)
        .filter(payments::Column::Provider.eq(Provider::Stars))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let customer = customers::Entity::find_by_id(payment.customer_id)
        .one(db)
        .await?;
    Ok(customer.map(|c| (payment, c)))
}

/// How recording a successful payment ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The wallet was credited; `order_paid` says whether the order was then paid from it
    /// (`false`: it was closed meanwhile, the money stays in the wallet).
    Credited {
        customer: CustomerId,
        credit: Money,
        order: Option<OrderId>,
        order_paid: bool,
    },
    /// This charge was recorded before (Telegram delivered the update twice).
    AlreadyRecorded,
    /// A second payment of one invoice, or one that does not match it: it goes back to the
    /// payer through a queued refund.
    RefundDue { payment: PaymentId },
    /// Not a payment of this shop's invoices (another service's, a previous bot's, a database
    /// restored elsewhere), or paid by someone who is not a customer: audited and left alone,
    /// never refunded.
    Skipped,
}

/// Where a Stars payment was learnt of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The `successful_payment` update, in the customer's chat: the bot answers there.
    InUpdate,
    /// The bot's Star transactions, read by reconciliation: nobody is waiting for an answer,
    /// so the customer's "payment received" message is queued with the credit.
    InTransactions,
}

/// Records a `successful_payment`, once per charge id, and pays the invoice's order.
#[allow(clippy::too_many_arguments)] // each is one field of Telegram's payment
pub async fn record_payment(
    db: &DatabaseConnection,
    payload: &str,
    payer: TelegramId,
    currency: &str,
    total: i64,
    charge_id: &str,
    found: Seen,
    now: DateTime<Utc>,
) -> Result<Settled, StarsError> {
    let txn = crate::db::begin(db).await?;
    let seen = payments::Entity::find()
        .filter(payments::Column::Provider.eq(Provider::Stars))
        .filter(payments::Column::ProviderPaymentId.eq(charge_id))
        .one(&txn)
        .await?;
    if seen.is_some() {
        return Ok(Settled::AlreadyRecorded);
    }
    let shop = crate::shop::identity(&txn).await?;
    let ours = Payload::read(&shop, payload);
    let invoice = invoice_row(&txn, ours).await?;
    let payer_customer = match &invoice {
        Some((_, c)) if c.telegram_id == payer => Some(c.id),
        _ => customers::Entity::find()
            .filter(customers::Column::TelegramId.eq(payer))
            .one(&txn)
            .await?
            .map(|c| c.id),
    };
    let matches = |p: &payments::Model| {
        p.status == PaymentStatus::Pending
            && currency == Currency::Xtr.code()
            && total == p.amount_minor
            && Some(p.customer_id) == payer_customer
    };
    let claimed = match &invoice {
        Some((p, _)) if matches(p) => {
            payments::Entity::update_many()
                .col_expr(payments::Column::Status, PaymentStatus::Paid.into())
                .col_expr(
                    payments::Column::ProviderPaymentId,
                    Some(charge_id.to_string()).into(),
                )
                .col_expr(payments::Column::UpdatedAt, now.into())
                .filter(payments::Column::Id.eq(p.id))
                .filter(payments::Column::Status.eq(PaymentStatus::Pending))
                .exec(&txn)
                .await?
                .rows_affected
                == 1
        }
        _ => false,
    };
    let Some((mut payment, _)) = invoice.filter(|_| claimed) else {
        let settled = match (ours, payer_customer) {
            // The shop's own invoice paid twice, or not as issued: the payer gets it back.
            (Payload::Ours(_), Some(customer)) => {
                refund_due(&txn, payer, customer, payload, total, charge_id, now).await?
            }
            _ => {
                audit::record(
                    &txn,
                    Some(payer),
                    "stars.payment.skipped",
                    Some(format!("stars:{charge_id}")),
                    format!(
                        "{total} {currency}, payload `{}`: not an invoice of this shop's that \
                         a customer paid",
                        payload.chars().take(64).collect::<String>()
                    ),
                    now,
                )
                .await?;
                Settled::Skipped
            }
        };
        txn.commit().await?;
        return Ok(settled);
    };
    payment.provider_payment_id = Some(charge_id.to_string());
    let credited = checkout::credit_and_pay(&txn, &payment, now).await?;
    if found == Seen::InTransactions {
        notices::enqueue(
            &txn,
            &Notice::PaymentReceived {
                payment_id: credited.payment,
            },
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Settled::Credited {
        customer: credited.customer,
        credit: credited.credit,
        order: credited.order,
        order_paid: credited.order_paid,
    })
}

/// Records a payment that must go back and queues its refund.
async fn refund_due(
    txn: &sea_orm::DatabaseTransaction,
    payer: TelegramId,
    customer: CustomerId,
    payload: &str,
    total: i64,
    charge_id: &str,
    now: DateTime<Utc>,
) -> Result<Settled, StarsError> {
    let inserted = payments::Entity::insert(payments::ActiveModel {
        customer_id: Set(customer),
        order_id: Set(None),
        provider: Set(Provider::Stars),
        provider_payment_id: Set(Some(charge_id.to_string())),
        status: Set(PaymentStatus::RefundDue),
        amount_minor: Set(total),
        currency: Set(Currency::Xtr),
        details: Set(Some(
            json!({ "payload": payload, "payer": payer.get() }).to_string(),
        )),
        updated_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([
            payments::Column::Provider,
            payments::Column::ProviderPaymentId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(Settled::AlreadyRecorded);
    }
    let row = payments::Entity::find()
        .filter(payments::Column::Provider.eq(Provider::Stars))
        .filter(payments::Column::ProviderPaymentId.eq(charge_id))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(charge_id.into()))?;
    let payment = row.id;
    notices::enqueue(
        txn,
        &Notice::StarsRefund {
            payment_id: payment,
        },
        now,
    )
    .await?;
    Ok(Settled::RefundDue { payment })
}

/// Who to refund and which charge, for a payment waiting for its refund.
pub async fn refund_target(
    db: &DatabaseConnection,
    payment: PaymentId,
) -> Result<Option<(TelegramId, String, i64)>, DbErr> {
    let Some(row) = payments::Entity::find_by_id(payment)
        .filter(payments::Column::Status.eq(PaymentStatus::RefundDue))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Some(customer) = customers::Entity::find_by_id(row.customer_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(row
        .provider_payment_id
        .map(|charge| (customer.telegram_id, charge, row.amount_minor)))
}

/// Marks a refund done (Telegram confirmed it, or said it was already refunded).
pub async fn mark_refunded(
    db: &DatabaseConnection,
    payment: PaymentId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    payments::Entity::update_many()
        .col_expr(payments::Column::Status, PaymentStatus::Refunded.into())
        .col_expr(payments::Column::UpdatedAt, now.into())
        .filter(payments::Column::Id.eq(payment))
        .filter(payments::Column::Status.eq(PaymentStatus::RefundDue))
        .exec(db)
        .await?;
    Ok(())
}

/// Where reconciliation has read up to in the bot's Star transactions. Telegram lists them
/// oldest first and never changes a past one (a refund is a new one), so each sweep reads only
/// what came after: a shop with years of Stars sales does not page through all of them.
const SCANNED_KEY: &str = "stars.transactions_scanned";

/// How many of the bot's Star transactions reconciliation has read so far; `None` for a
/// database that never read any, which starts at the end of what the bot has (payments from
/// before this database are not its own).
pub async fn transactions_scanned(
    db: &impl sea_orm::ConnectionTrait,
) -> Result<Option<u32>, DbErr> {
    Ok(crate::entities::settings::Entity::find_by_id(SCANNED_KEY)
        .one(db)
        .await?
        .and_then(|row| row.value.parse().ok()))
}

/// Records that the first `n` Star transactions have been read (and each recorded).
pub async fn set_transactions_scanned(
    db: &impl sea_orm::ConnectionTrait,
    n: u32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use crate::entities::settings;
    settings::Entity::insert(settings::ActiveModel {
        key: Set(SCANNED_KEY.to_string()),
        value: Set(n.to_string()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .update_columns([settings::Column::Value, settings::Column::UpdatedAt])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}
