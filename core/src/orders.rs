//! Orders: a quote becomes an order, the order is paid, and paying enqueues its provisioning
//! job in the same transaction. States only move forward:
//!
//! `pending_payment → paid → provisioning → fulfilled`; `expired`/`cancelled` only from pending;
//! `refunded` from paid/provisioning when provisioning fails for good. Every change is one
//! conditional `UPDATE … WHERE status IN (allowed predecessors)`, so a late or repeated event
//! (a cancel after paying, a second "paid") changes nothing.
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::catalog;
use crate::entities::orders;
use crate::ids::{CustomerId, LocationId, OrderId, PlanId, PromoCodeId, SubscriptionId};
use crate::jobs::{self, NewJob};
use crate::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use crate::money::{Currency, Money};
use crate::points::{self, PointsError};
use crate::promo::{self, PromoError};

pub use orders::Model as Order;

/// The job kind that provisions a paid order on its panel.
/// The job that makes (or extends) a paid order's panel account, never inside a handler.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct Provision {
    pub order_id: OrderId,
}

impl crate::jobs::Payload for Provision {
    const KIND: &'static str = "provision";
}

pub const PROVISION_JOB: &str = <Provision as crate::jobs::Payload>::KIND;

/// Where an order is in its life. The `orders.status` column is this type (stored as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::N(24))"
)]
pub enum OrderStatus {
    #[sea_orm(string_value = "pending_payment")]
    PendingPayment,
    #[sea_orm(string_value = "paid")]
    Paid,
    #[sea_orm(string_value = "provisioning")]
    Provisioning,
    #[sea_orm(string_value = "fulfilled")]
    Fulfilled,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "refunded")]
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Provisioning,
        OrderStatus::Fulfilled,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Provisioning => "provisioning",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Expired => "expired",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// The states an order may be in just before entering `self`.
    pub fn predecessors(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            PendingPayment => &[],
            Paid => &[PendingPayment],
            Provisioning => &[Paid],
            Fulfilled => &[Paid, Provisioning],
            Expired | Cancelled => &[PendingPayment],
            Refunded => &[Paid, Provisioning],
        }
    }

    pub fn can_follow(self, from: OrderStatus) -> bool {
        self.predecessors().contains(&from)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown order status `{s}`"))
    }
}

/// What an order buys. Stored as text (`purchase`, `renewal`, `add_traffic`, `trial`): the
/// `orders.kind` column is this type, so no code compares the stored strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::N(16))"
)]
pub enum OrderKind {
    #[sea_orm(string_value = "purchase")]
    Purchase,
    #[sea_orm(string_value = "renewal")]
    Renewal,
    #[sea_orm(string_value = "add_traffic")]
    AddTraffic,
    #[sea_orm(string_value = "trial")]
    Trial,
    /// The customer moves a subscription to another location: a new account there with the
    /// same expiry and the traffic left, free; the old one is turned off once it is delivered.
    #[sea_orm(string_value = "move")]
    Move,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Purchase => "purchase",
            OrderKind::Renewal => "renewal",
            OrderKind::AddTraffic => "add_traffic",
            OrderKind::Trial => "trial",
            OrderKind::Move => "move",
        }
    }

    pub const ALL: [OrderKind; 5] = [
        OrderKind::Purchase,
        OrderKind::Renewal,
        OrderKind::AddTraffic,
        OrderKind::Trial,
        OrderKind::Move,
    ];

    pub fn parse(s: &str) -> Option<OrderKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether fulfilling it makes a new panel account (a renewal or more traffic extends one).
    pub fn makes_account(self) -> bool {
        matches!(
            self,
            OrderKind::Purchase | OrderKind::Trial | OrderKind::Move
        )
    }
}

/// How points turn into a discount at checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointsRules {
    /// What one point is worth, in minor units of each currency it can be spent in.
    pub value_minor: Vec<(Currency, i64)>,
    /// At most this share of a price may be paid with points.
    pub max_share_percent: u8,
}

impl Default for PointsRules {
    fn default() -> Self {
        PointsRules {
            value_minor: Vec::new(),
            max_share_percent: 50,
        }
    }
}

impl PointsRules {
    pub fn value_of_point(&self, currency: Currency) -> Option<i64> {
        self.value_minor
            .iter()
            .find(|(c, v)| *c == currency && *v > 0)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    #[error("this order belongs to someone else")]
    NotYours,
    #[error("this plan is not on sale")]
    PlanUnavailable,
    #[error("this plan has no price in {0}")]
    NoPrice(Currency),
    #[error("this order is {0}, not waiting for payment")]
    NotPending(OrderStatus),
    #[error("this quote has expired; please start again")]
    QuoteExpired,
    #[error("points cannot be used in {0}")]
    PointsNotAccepted(Currency),
    #[error(transparent)]
    Promo(#[from] PromoError),
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

#[derive(Clone, Debug)]
pub struct QuoteRequest {
    pub customer: CustomerId,
    pub plan: PlanId,
    pub currency: Currency,
    pub promo_code: Option<String>,
    /// Points the customer wants to spend; capped to what they have and what the rules allow.
    pub points: i64,
    /// Where the customer is buying (a plan offered everywhere is bought in one place).
    pub location: Option<LocationId>,
}

/// Exactly what will be bought and charged, before anything is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub plan: PlanId,
    pub location: Option<LocationId>,
    pub duration_days: i32,
    pub traffic_bytes: Option<i64>,
    pub list_price: Money,
    pub promo_code_id: Option<PromoCodeId>,
    pub discount_minor: i64,
    pub points_used: i64,
    pub points_value_minor: i64,
    pub total: Money,
}

/// Prices a plan for a customer: list price, minus the promo code, minus points.
pub async fn quote(
    db: &impl ConnectionTrait,
    req: &QuoteRequest,
    rules: &PointsRules,
    now: DateTime<Utc>,
) -> Result<Quote, OrderError> {
    let plan = catalog::plan(db, req.plan)
        .await?
        .filter(|p| p.enabled && !p.is_trial)
        .ok_or(OrderError::PlanUnavailable)?;
    let list_price = catalog::price(db, req.plan, req.currency)
        .await?
        .ok_or(OrderError::NoPrice(req.currency))?;
    let location = req.location.or(plan.location_id);
    let (promo_code_id, effect) = match req.promo_code.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => {
            let (p, e) = promo::evaluate(
                db,
                code,
                req.customer,
                (req.plan, location),
                list_price,
                now,
            )
            .await?;
            (Some(p.id), e)
        }
        _ => (None, promo::Effect::default()),
    };
    let discount_minor = effect.discount_minor;
    let after_promo = list_price.minor() - discount_minor;
    let (points_used, points_value_minor) = if req.points > 0 {
        let value = rules
            .value_of_point(req.currency)
            .ok_or(OrderError::PointsNotAccepted(req.currency))?;
        let cap_minor = after_promo as i128 * rules.max_share_percent.min(100) as i128 / 100;
        let cap_points = (cap_minor / value as i128) as i64;
        let have = points::balance(db, req.customer, now).await?;
        let used = req.points.min(have).min(cap_points).max(0);
        (used, used * value)
    } else {
        (0, 0)
    };
    let total = Money::new(after_promo - points_value_minor, req.currency)
        .map_err(|_| OrderError::PlanUnavailable)?;
    Ok(Quote {
        plan: req.plan,
        location,
        duration_days: plan.duration_days.saturating_add(effect.extra_days),
        traffic_bytes: plan
            .traffic_bytes
            .map(|t| t.saturating_add(effect.extra_bytes)),
        list_price,
        promo_code_id,
        discount_minor,
        points_used,
        points_value_minor,
        total,
    })
}

/// Turns a quote into an order waiting for payment, valid for `ttl`.
pub async fn place(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    kind: OrderKind,
    quote: &Quote,
    subscription: Option<SubscriptionId>,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Order, DbErr> {
    orders::Entity::insert(orders::ActiveModel {
        customer_id: Set(customer),
        kind: Set(kind),
        status: Set(OrderStatus::PendingPayment),
        plan_id: Set(Some(quote.plan)),
        subscription_id: Set(subscription),
        location_id: Set(quote.location),
        duration_days: Set(quote.duration_days),
        traffic_bytes: Set(quote.traffic_bytes),
        currency: Set(quote.total.currency()),
        list_price_minor: Set(quote.list_price.minor()),
        discount_minor: Set(quote.discount_minor),
        points_used: Set(quote.points_used),
        points_value_minor: Set(quote.points_value_minor),
        total_minor: Set(quote.total.minor()),
        wallet_paid_minor: Set(0),
        promo_code_id: Set(quote.promo_code_id),
        expires_at: Set(now + ttl),
        updated_at: Set(now),
        paid_at: Set(None),
        fulfilled_at: Set(None),
        failure: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await
}

pub async fn get(db: &impl ConnectionTrait, id: OrderId) -> Result<Option<Order>, DbErr> {
    orders::Entity::find_by_id(id).one(db).await
}

/// The customer's orders, newest first.
pub async fn of_customer(
    db: &impl ConnectionTrait,
    customer: CustomerId,
) -> Result<Vec<Order>, DbErr> {
    orders::Entity::find()
        .filter(orders::Column::CustomerId.eq(customer))
        .order_by_desc(orders::Column::Id)
        .all(db)
        .await
}

/// Moves an order to `to` if, and only if, it is in one of `to`'s predecessor states.
/// Returns whether it moved. Never moves backwards, whoever calls and however late.
pub async fn transition(
    db: &impl ConnectionTrait,
    id: OrderId,
    to: OrderStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let from: Vec<&str> = to.predecessors().iter().map(|s| s.as_str()).collect();
    if from.is_empty() {
        return Ok(false);
    }
    let mut update = orders::Entity::update_many()
        .col_expr(orders::Column::Status, to.as_str().into())
        .col_expr(orders::Column::UpdatedAt, now.into());
    match to {
        OrderStatus::Paid => update = update.col_expr(orders::Column::PaidAt, Some(now).into()),
        OrderStatus::Fulfilled => {
            update = update.col_expr(orders::Column::FulfilledAt, Some(now).into())
        }
        _ => {}
    }
    let r = update
        .filter(orders::Column::Id.eq(id))
        .filter(orders::Column::Status.is_in(from))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Cancels a pending order at the customer's request. Changes nothing once it is paid.
pub async fn cancel(
    db: &impl ConnectionTrait,
    id: OrderId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<bool, OrderError> {
    let order = get(db, id).await?.ok_or(OrderError::NotFound)?;
    if order.customer_id != customer {
        return Err(OrderError::NotYours);
    }
    Ok(transition(db, id, OrderStatus::Cancelled, now).await?)
}

/// Marks pending orders whose quote ran out as expired. Returns how many.
pub async fn expire_stale(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let r = orders::Entity::update_many()
        .col_expr(orders::Column::Status, OrderStatus::Expired.as_str().into())
        .col_expr(orders::Column::UpdatedAt, now.into())
        .filter(orders::Column::Status.eq(OrderStatus::PendingPayment.as_str()))
        .filter(orders::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Pays an order entirely from the customer's wallet. In one database transaction: the wallet
/// is debited, points and the promo code are consumed, the order becomes `paid`, and its
/// provisioning job is enqueued. If any step fails, nothing happened. Pressing "pay" twice pays
/// once: the second attempt finds the order no longer pending.
pub async fn pay_with_wallet(
    db: &DatabaseConnection,
    id: OrderId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<Order, OrderError> {
    let txn = crate::db::begin(db).await?;
    pay_with_wallet_in(&txn, id, customer, now).await?;
    txn.commit().await?;
    get(db, id).await?.ok_or(OrderError::NotFound)
}

/// [`pay_with_wallet`] inside the caller's transaction (a gateway payment credits the wallet
/// and pays the order in one commit).
pub async fn pay_with_wallet_in(
    txn: &sea_orm::DatabaseTransaction,
    id: OrderId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<(), OrderError> {
    let order = get(txn, id).await?.ok_or(OrderError::NotFound)?;
    if order.customer_id != customer {
        return Err(OrderError::NotYours);
    }
    let status = order.status;
    if status != OrderStatus::PendingPayment {
        return Err(OrderError::NotPending(status));
    }
    if order.expires_at <= now {
        return Err(OrderError::QuoteExpired);
    }
    let memo = |key: &str| Memo {
        idempotency_key: Some(format!("order:{}:{key}", order.id)),
        order_id: Some(id),
        ..Memo::default()
    };
    if order.total_minor > 0 {
        let total = order.total();
        ledger::debit_wallet(
            txn,
            customer,
            total,
            &SystemAccount::Revenue,
            TxKind::Purchase,
            memo("wallet"),
            now,
        )
        .await?;
    }
    orders::Entity::update_many()
        .col_expr(orders::Column::WalletPaidMinor, order.total_minor.into())
        .filter(orders::Column::Id.eq(order.id))
        .exec(txn)
        .await?;
    settle(txn, &order, now).await
}

/// What every way of paying ends in: points and promo consumed, `pending → paid`, and the
/// provisioning job enqueued, all inside the caller's transaction.
async fn settle(
    txn: &sea_orm::DatabaseTransaction,
    order: &Order,
    now: DateTime<Utc>,
) -> Result<(), OrderError> {
    let id = order.id;
    let customer = order.customer_id;
    if order.points_used > 0 {
        let memo = Memo {
            idempotency_key: Some(format!("order:{}:points", order.id)),
            order_id: Some(id),
            ..Memo::default()
        };
        points::spend(txn, customer, order.points_used, memo, now).await?;
    }
    if let Some(promo_id) = order.promo_code_id {
        promo::redeem(txn, promo_id, customer, id, now).await?;
    }
    if !transition(txn, id, OrderStatus::Paid, now).await? {
        let now_status = get(txn, id)
            .await?
            .map(|o| o.status)
            .unwrap_or(OrderStatus::Paid);
        return Err(OrderError::NotPending(now_status));
    }
    jobs::enqueue(
        txn,
        NewJob::of(&Provision { order_id: order.id }, now)
            .dedupe(format!("provision:order:{}", order.id)),
        now,
    )
    .await?;
    // The sale in the audit log, under the customer, so `/audit customer N` tells their story.
    crate::audit::Entry::new(None, "order.paid")
        .target(format!("order:{id}"))
        .customer(customer)
        .change(
            OrderStatus::PendingPayment.as_str(),
            OrderStatus::Paid.as_str(),
        )
        .details(format!("{} {}", order.kind.as_str(), order.total()))
        .record(txn, now)
        .await?;
    Ok(())
}

impl orders::Model {
    pub fn order_id(&self) -> OrderId {
        self.id
    }

    pub fn state(&self) -> OrderStatus {
        self.status
    }

    /// What the customer pays for this order, after discounts and points.
    pub fn total(&self) -> Money {
        self.money(self.total_minor)
    }

    /// The plan's price when the order was placed (later price changes never reach it).
    pub fn list_price(&self) -> Money {
        self.money(self.list_price_minor)
    }

    /// What the promo code took off.
    pub fn discount(&self) -> Money {
        self.money(self.discount_minor)
    }

    /// What the points spent on this order were worth.
    pub fn points_value(&self) -> Money {
        self.money(self.points_value_minor)
    }

    /// The part already taken from the wallet.
    pub fn wallet_paid(&self) -> Money {
        self.money(self.wallet_paid_minor)
    }

    /// Amounts are written non-negative by [`place`]; one that is not would be a bug and reads
    /// as zero rather than as a debt.
    fn money(&self, minor: i64) -> Money {
        Money::new(minor, self.currency).unwrap_or(Money::zero(self.currency))
    }
}
