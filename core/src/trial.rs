//! The free trial: one per customer, never for someone who already bought, provisioned through
//! the same order and job as a purchase.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use crate::catalog;
use crate::entities::{customers, orders as order_rows};
use crate::ids::{CustomerId, OrderId};
use crate::money::{Currency, Money};
use crate::orders::{self, OrderError, OrderKind, Quote};
use crate::panels;

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("the shop offers no trial")]
    NotOffered,
    #[error("this customer already took the trial")]
    AlreadyTaken,
    #[error("trials are for new customers; this one already bought")]
    AlreadyBought,
    #[error("no location has a panel with room for a trial")]
    NoRoom,
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// Whether the customer could take the trial now (for showing the button).
pub async fn available(
    db: &DatabaseConnection,
    customer: CustomerId,
    plan_code: Option<&str>,
) -> Result<bool, DbErr> {
    let Some(code) = plan_code else {
        return Ok(false);
    };
    let offered = catalog::plan_by_code(db, code)
        .await?
        .is_some_and(|p| p.enabled && p.is_trial);
    let fresh = customers::Entity::find_by_id(customer)
        .one(db)
        .await?
        .is_some_and(|c| !c.trial_used);
    Ok(offered && fresh && !has_bought(db, customer).await?)
}

async fn has_bought(
    db: &impl sea_orm::ConnectionTrait,
    customer: CustomerId,
) -> Result<bool, DbErr> {
    Ok(order_rows::Entity::find()
        .filter(order_rows::Column::CustomerId.eq(customer))
        .filter(order_rows::Column::Kind.ne(OrderKind::Trial.as_str()))
        .filter(order_rows::Column::PaidAt.is_not_null())
        .count(db)
        .await?
        > 0)
}

/// Takes the trial: marks it used (a conditional update, so two taps take one), places a
/// zero-priced order and pays it, which queues its provisioning. Returns the order.
pub async fn take(
    db: &DatabaseConnection,
    customer: CustomerId,
    plan_code: Option<&str>,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<OrderId, TrialError> {
    let plan = match plan_code {
        Some(code) => catalog::plan_by_code(db, code)
            .await?
            .filter(|p| p.enabled && p.is_trial)
            .ok_or(TrialError::NotOffered)?,
        None => return Err(TrialError::NotOffered),
    };
    let location = match plan.location_id {
        Some(id) => Some(id),
        None => panels::sellable_locations(db)
            .await?
            .first()
            .map(|l| l.location_id()),
    };
    let location = match location {
        Some(l) if panels::with_room(db, l, false).await?.is_some() => l,
        _ => return Err(TrialError::NoRoom),
    };
    let txn = crate::db::begin(db).await?;
    if has_bought(&txn, customer).await? {
        return Err(TrialError::AlreadyBought);
    }
    let claimed = customers::Entity::update_many()
        .col_expr(customers::Column::TrialUsed, Expr::value(true))
        .filter(customers::Column::Id.eq(customer))
        .filter(customers::Column::TrialUsed.eq(false))
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(TrialError::AlreadyTaken);
    }
    let quote = Quote {
        plan: plan.plan_id(),
        location: Some(location),
        duration_days: plan.duration_days,
        traffic_bytes: plan.traffic_bytes,
        list_price: Money::zero(currency),
        promo_code_id: None,
        discount_minor: 0,
        points_used: 0,
        points_value_minor: 0,
        total: Money::zero(currency),
    };
    let order = orders::place(
        &txn,
        customer,
        OrderKind::Trial,
        &quote,
        None,
        Duration::minutes(5),
        now,
    )
    .await?;
    orders::pay_with_wallet_in(&txn, order.order_id(), customer, now).await?;
    txn.commit().await?;
    Ok(order.order_id())
}
