//! Promo codes: a percentage or a fixed amount off, or a bonus at the full price (more days, more
//! traffic); limited in time, in uses, per customer, optionally to one plan or one location, or
//! to customers who have never bought. A use is recorded with the order, once.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use crate::entities::{promo_codes, promo_uses};
use crate::ids::{CustomerId, LocationId, OrderId, PlanId, PromoCodeId};
use crate::money::Money;

pub use promo_codes::Model as PromoCode;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromoError {
    #[error("no such promo code")]
    Unknown,
    #[error("this promo code has expired")]
    Expired,
    #[error("this promo code has been used up")]
    UsedUp,
    #[error("you have already used this promo code")]
    AlreadyUsed,
    #[error("this promo code is for another plan")]
    OtherPlan,
    #[error("this promo code is for another currency")]
    OtherCurrency,
    #[error("this promo code is for another location")]
    OtherLocation,
    #[error("this promo code is for a first purchase")]
    NotFirstPurchase,
    #[error(
        "a promo code gives one thing: 1–100 percent, a positive amount, 1–365 extra days or 1–1000 extra GB"
    )]
    BadDiscount,
    #[error("a promo code with this code already exists")]
    Duplicate,
    #[error("database: {0}")]
    Db(String),
}

impl From<DbErr> for PromoError {
    fn from(e: DbErr) -> Self {
        PromoError::Db(e.to_string())
    }
}

/// What a promo code gives: money off, or more at the full price.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discount {
    Percent(u8),
    Amount(Money),
    /// Days added to the plan.
    ExtraDays(i32),
    /// Gigabytes added to the plan's traffic (a plan with unlimited traffic gains nothing).
    ExtraGb(i64),
}

const GB: i64 = 1 << 30;

#[derive(Clone, Debug)]
pub struct NewPromo {
    pub code: String,
    pub discount: Discount,
    pub plan: Option<PlanId>,
    pub max_uses: Option<i32>,
    pub per_customer_limit: i32,
    pub valid_until: Option<DateTime<Utc>>,
    /// Only in this location.
    pub location: Option<LocationId>,
    /// Only for customers who have never bought.
    pub first_purchase_only: bool,
}

/// What a code does to one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    /// Off the price, in minor units (never more than the price).
    pub discount_minor: i64,
    pub extra_days: i32,
    pub extra_bytes: i64,
}

fn normalize(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

pub async fn add(
    db: &impl ConnectionTrait,
    new: NewPromo,
    now: DateTime<Utc>,
) -> Result<PromoCode, PromoError> {
    let (mut percent, mut amount, mut currency, mut days, mut bytes) =
        (None, None, None, None, None);
    match new.discount {
        Discount::Percent(p) if (1..=100).contains(&p) => percent = Some(i32::from(p)),
        Discount::Amount(m) if m.minor() > 0 => {
            amount = Some(m.minor());
            currency = Some(m.currency());
        }
        Discount::ExtraDays(d) if (1..=365).contains(&d) => days = Some(d),
        Discount::ExtraGb(g) if (1..=1000).contains(&g) => bytes = Some(g * GB),
        _ => return Err(PromoError::BadDiscount),
    }
    let code = normalize(&new.code);
    if find(db, &code).await?.is_some() {
        return Err(PromoError::Duplicate);
    }
    Ok(promo_codes::Entity::insert(promo_codes::ActiveModel {
        code: Set(code),
        percent_off: Set(percent),
        amount_off_minor: Set(amount),
        currency: Set(currency),
        extra_days: Set(days),
        extra_bytes: Set(bytes),
        location_id: Set(new.location),
        first_purchase_only: Set(new.first_purchase_only),
        plan_id: Set(new.plan),
        max_uses: Set(new.max_uses),
        per_customer_limit: Set(Ord::max(new.per_customer_limit, 1)),
        uses: Set(0),
        valid_until: Set(new.valid_until),
        enabled: Set(true),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(db)
    .await?)
}

pub async fn by_id(db: &impl ConnectionTrait, id: PromoCodeId) -> Result<Option<PromoCode>, DbErr> {
    promo_codes::Entity::find_by_id(id).one(db).await
}

pub async fn find(db: &impl ConnectionTrait, code: &str) -> Result<Option<PromoCode>, DbErr> {
    promo_codes::Entity::find()
        .filter(promo_codes::Column::Code.eq(normalize(code)))
        .one(db)
        .await
}

/// Checks that `code` applies to `customer` buying `plan` in `location` for `price`, and returns
/// it with what it does to the order.
pub async fn evaluate(
    db: &impl ConnectionTrait,
    code: &str,
    customer: CustomerId,
    (plan, location): (PlanId, Option<LocationId>),
    price: Money,
    now: DateTime<Utc>,
) -> Result<(PromoCode, Effect), PromoError> {
    let promo = find(db, code)
        .await?
        .filter(|p| p.enabled)
        .ok_or(PromoError::Unknown)?;
    if promo.valid_until.is_some_and(|until| until <= now) {
        return Err(PromoError::Expired);
    }
    if promo.max_uses.is_some_and(|max| promo.uses >= max) {
        return Err(PromoError::UsedUp);
    }
    if promo.plan_id.is_some_and(|p| p != plan) {
        return Err(PromoError::OtherPlan);
    }
    if promo.location_id.is_some() && promo.location_id != location {
        return Err(PromoError::OtherLocation);
    }
    if promo.first_purchase_only && has_bought(db, customer, None).await? {
        return Err(PromoError::NotFirstPurchase);
    }
    let used = uses_by(db, promo.id, customer).await?;
    if used >= i64::from(Ord::max(promo.per_customer_limit, 1)) {
        return Err(PromoError::AlreadyUsed);
    }
    let mut effect = Effect::default();
    match (
        promo.percent_off,
        promo.amount_off_minor,
        &promo.currency,
        promo.extra_days,
        promo.extra_bytes,
    ) {
        // Round the discount down: the shop never gives more than it said.
        (Some(p), ..) => effect.discount_minor = (price.minor() as i128 * p as i128 / 100) as i64,
        (None, Some(a), Some(c), ..) => {
            if *c != price.currency() {
                return Err(PromoError::OtherCurrency);
            }
            effect.discount_minor = a;
        }
        (None, None, _, Some(d), _) => effect.extra_days = d,
        (None, None, _, None, Some(b)) => effect.extra_bytes = b,
        _ => return Err(PromoError::Unknown),
    }
    effect.discount_minor = effect.discount_minor.clamp(0, price.minor());
    Ok((promo, effect))
}

/// Whether the customer paid for anything but a trial (other than `except`).
async fn has_bought(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    except: Option<OrderId>,
) -> Result<bool, DbErr> {
    use crate::entities::orders;
    use crate::orders::OrderKind;
    let mut q = orders::Entity::find()
        .filter(orders::Column::CustomerId.eq(customer))
        .filter(orders::Column::Kind.ne(OrderKind::Trial))
        .filter(orders::Column::PaidAt.is_not_null());
    if let Some(o) = except {
        q = q.filter(orders::Column::Id.ne(o));
    }
    Ok(q.count(db).await? > 0)
}

/// Records the use of a promo code by an order that is being paid, checking every limit again
/// inside the paying transaction: a preview only shows the discount, and two previews opened
/// with one code must not both get it. Fails (and the payment's transaction rolls back) if the
/// code was disabled, expired, used up or already used by this customer meanwhile.
///
/// The customer's uses are numbered, and `(code, customer, number)` is unique: two payments
/// racing for the customer's last use both count the same uses, both try to write the same
/// number, and only one can.
pub async fn redeem(
    db: &impl ConnectionTrait,
    promo_id: PromoCodeId,
    customer: CustomerId,
    order: OrderId,
    now: DateTime<Utc>,
) -> Result<(), PromoError> {
    let promo = by_id(db, promo_id)
        .await?
        .filter(|p| p.enabled)
        .ok_or(PromoError::Unknown)?;
    if promo.valid_until.is_some_and(|until| until <= now) {
        return Err(PromoError::Expired);
    }
    let used = uses_by(db, promo_id, customer).await?;
    if used >= i64::from(Ord::max(promo.per_customer_limit, 1)) {
        return Err(PromoError::AlreadyUsed);
    }
    if promo.first_purchase_only && has_bought(db, customer, Some(order)).await? {
        return Err(PromoError::NotFirstPurchase);
    }
    let r = promo_codes::Entity::update_many()
        .col_expr(
            promo_codes::Column::Uses,
            Expr::col(promo_codes::Column::Uses).add(1),
        )
        .filter(promo_codes::Column::Id.eq(promo_id))
        .filter(
            Condition::any()
                .add(promo_codes::Column::MaxUses.is_null())
                .add(
                    Expr::col(promo_codes::Column::Uses)
                        .lt(Expr::col(promo_codes::Column::MaxUses)),
                ),
        )
        .exec(db)
        .await?;
    if r.rows_affected != 1 {
        return Err(PromoError::UsedUp);
    }
    let inserted = promo_uses::Entity::insert(promo_uses::ActiveModel {
        promo_code_id: Set(promo_id),
        customer_id: Set(customer),
        order_id: Set(order),
        use_no: Set(used + 1),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            Err(PromoError::AlreadyUsed)
        }
        Err(e) => Err(e.into()),
    }
}

/// How many times `customer` has used the code.
async fn uses_by(
    db: &impl ConnectionTrait,
    promo_id: PromoCodeId,
    customer: CustomerId,
) -> Result<i64, DbErr> {
    Ok(promo_uses::Entity::find()
        .filter(promo_uses::Column::PromoCodeId.eq(promo_id))
        .filter(promo_uses::Column::CustomerId.eq(customer))
        .count(db)
        .await? as i64)
}

/// The audit action of a code that does not exist, typed by a customer.
const MISS: &str = "promo.miss";

/// Records that `who` typed a code that does not exist: guesses are counted, so codes cannot be
/// found by trying many.
pub async fn record_miss(
    db: &impl ConnectionTrait,
    who: crate::ids::TelegramId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let code: String = code.chars().take(32).collect();
    crate::audit::record(db, Some(who), MISS, None, code, now).await
}

/// How many codes that do not exist `who` typed since `since`.
pub async fn misses_since(
    db: &impl ConnectionTrait,
    who: crate::ids::TelegramId,
    since: DateTime<Utc>,
) -> Result<u64, DbErr> {
    use crate::entities::audit_log;
    audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq(MISS))
        .filter(audit_log::Column::ActorTelegramId.eq(who))
        .filter(audit_log::Column::CreatedAt.gte(since))
        .count(db)
        .await
}

/// Every promo code, newest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<PromoCode>, DbErr> {
    promo_codes::Entity::find()
        .order_by_desc(promo_codes::Column::Id)
        .all(db)
        .await
}

/// Stops (or resumes) a code; whether it exists.
pub async fn set_enabled(
    db: &impl ConnectionTrait,
    code: &str,
    enabled: bool,
) -> Result<bool, DbErr> {
    Ok(promo_codes::Entity::update_many()
        .col_expr(promo_codes::Column::Enabled, Expr::value(enabled))
        .filter(promo_codes::Column::Code.eq(normalize(code)))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// What orders paid with each code brought in (not refunded), per code and currency.
pub async fn revenue(
    db: &impl ConnectionTrait,
) -> Result<Vec<(PromoCodeId, crate::money::Currency, i64)>, DbErr> {
    use crate::entities::orders;
    use crate::orders::OrderStatus;
    use sea_orm::QuerySelect;
    let rows: Vec<(Option<PromoCodeId>, crate::money::Currency, Option<i64>)> =
        orders::Entity::find()
            .select_only()
            .column(orders::Column::PromoCodeId)
            .column(orders::Column::Currency)
            .column_as(
                Expr::col(orders::Column::TotalMinor)
                    .sum()
                    .cast_as("BIGINT"),
                "s",
            )
            .filter(orders::Column::PromoCodeId.is_not_null())
            .filter(orders::Column::Status.is_in([
                OrderStatus::Paid,
                OrderStatus::Provisioning,
                OrderStatus::Fulfilled,
            ]))
            .group_by(orders::Column::PromoCodeId)
            .group_by(orders::Column::Currency)
            .into_tuple()
            .all(db)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, c, s)| Some((id?, c, s.unwrap_or(0))))
        .collect())
}
