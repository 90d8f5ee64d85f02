//! Moving a subscription to another location: a new account on a panel there with the same
//! expiry and the traffic left, made by provisioning like any purchase (free, paid at once);
//! only once it is delivered is the old account turned off — a move that fails leaves the
//! customer where they were. At most one move per `subscriptions.switch_location_days`.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter,
};

use super::rules::LifeRules;
use super::{PanelState, Subscription, SubscriptionStatus};
use crate::catalog::{self, Location};
use crate::entities::{orders as order_rows, subscriptions};
use crate::ids::{CustomerId, LocationId, OrderId, SubscriptionId};
use crate::jobs::{self, NewJob};
use crate::money::{Currency, Money};
use crate::orders::{self, OrderError, OrderKind, OrderStatus, Quote};
use crate::panels;

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("moving to another location is not offered")]
    NotOffered,
    #[error("no such subscription")]
    NotFound,
    /// Only a running, paid subscription moves (not a trial, not an expired one).
    #[error("this subscription cannot move")]
    NotMovable,
    #[error("this subscription moved recently; it can move again on {0}")]
    TooSoon(DateTime<Utc>),
    #[error("a move of this subscription is already under way")]
    InProgress,
    #[error("that location is not on sale")]
    NoSuchLocation,
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The subscription, if its customer may move it now.
pub async fn movable(
    db: &DatabaseConnection,
    id: SubscriptionId,
    customer: CustomerId,
    rules: &LifeRules,
    now: DateTime<Utc>,
) -> Result<Subscription, SwitchError> {
    let every = rules.switch_every.ok_or(SwitchError::NotOffered)?;
    let sub = super::owned(db, id, customer)
        .await
        .map_err(|_| SwitchError::NotFound)?;
    let running = sub.status == SubscriptionStatus::Active
        && !sub.is_trial
        && sub.expires_at.is_some_and(|at| at > now)
        && sub.panel_status != Some(PanelState::OnHold)
        && sub
            .traffic_limit_bytes
            .is_none_or(|limit| sub.used_bytes < limit);
    if !running {
        return Err(SwitchError::NotMovable);
    }
    if let Some(at) = sub.switched_at.filter(|at| *at + every > now) {
        return Err(SwitchError::TooSoon(at + every));
    }
    // A move under way, or a renewal or traffic pack being made: the move would copy figures
    // that are about to change.
    let open = order_rows::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(order_rows::Column::MovedFrom.eq(sub.id))
                .add(order_rows::Column::SubscriptionId.eq(sub.id)),
        )
        .filter(order_rows::Column::Status.is_in([OrderStatus::Paid, OrderStatus::Provisioning]))
        .one(db)
        .await?;
    if open.is_some() {
        return Err(SwitchError::InProgress);
    }
    Ok(sub)
}

/// Where `sub` can move: the locations on sale other than its own.
pub async fn destinations(
    db: &DatabaseConnection,
    sub: &Subscription,
) -> Result<Vec<Location>, DbErr> {
    let here = panels::panel(db, sub.panel_id)
        .await
        .ok()
        .flatten()
        .map(|p| p.location_id);
    Ok(panels::sellable_locations(db)
        .await?
        .into_iter()
        .filter(|l| Some(l.location_id()) != here)
        .collect())
}

/// Asks for the move: a free order, paid at once, which provisioning fulfils (a new account in
/// `to` with the same expiry and the traffic left).
pub async fn request(
    db: &DatabaseConnection,
    id: SubscriptionId,
    customer: CustomerId,
    to: LocationId,
    rules: &LifeRules,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<OrderId, SwitchError> {
    let sub = movable(db, id, customer, rules, now).await?;
    if !destinations(db, &sub)
        .await?
        .iter()
        .any(|l| l.location_id() == to)
    {
        return Err(SwitchError::NoSuchLocation);
    }
    let left = sub
        .traffic_limit_bytes
        .map(|limit| (limit - sub.used_bytes).max(0));
    let days = sub
        .expires_at
        .map_or(0, |at| (at - now).num_days().max(0) as i32);
    let quote = Quote {
        plan: sub.plan_id,
        location: Some(to),
        duration_days: days,
        traffic_bytes: left,
        list_price: Money::zero(currency),
        promo_code_id: None,
        discount_minor: 0,
        points_used: 0,
        points_value_minor: 0,
        total: Money::zero(currency),
    };
    let txn = crate::db::begin(db).await?;
    // The claim: one move per period, whoever asks at the same moment (two presses, two
    // processes). A move that fails gives it back (see `release`).
    let every = rules.switch_every.ok_or(SwitchError::NotOffered)?;
    let claimed = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::SwitchedAt, Some(now).into())
        .filter(subscriptions::Column::Id.eq(sub.id))
        .filter(subscriptions::Column::Status.eq(SubscriptionStatus::Active))
        .filter(
            sea_orm::Condition::any()
                .add(subscriptions::Column::SwitchedAt.is_null())
                .add(subscriptions::Column::SwitchedAt.lte(now - every)),
        )
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(SwitchError::InProgress);
    }
    let order = orders::place(
        &txn,
        customer,
        OrderKind::Move,
        &quote,
        None,
        Duration::minutes(5),
        now,
    )
    .await?;
    order_rows::Entity::update_many()
        .col_expr(order_rows::Column::MovedFrom, Some(sub.id).into())
        .col_expr(order_rows::Column::TargetSet, true.into())
        .col_expr(order_rows::Column::TargetExpiresAt, sub.expires_at.into())
        .col_expr(order_rows::Column::TargetLimitBytes, left.into())
        .filter(order_rows::Column::Id.eq(order.id))
        .exec(&txn)
        .await?;
    orders::pay_with_wallet_in(&txn, order.id, customer, now).await?;
    crate::audit::Entry::new(None, "subscription.move")
        .target(format!("subscription:{}", sub.id))
        .customer(customer)
        .details(format!("to location {to} (order {})", order.id))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(order.id)
}

/// A move was refunded: the subscription may move again.
pub async fn release(txn: &impl ConnectionTrait, old: SubscriptionId) -> Result<(), DbErr> {
    subscriptions::Entity::update_many()
        .col_expr(
            subscriptions::Column::SwitchedAt,
            Option::<DateTime<Utc>>::None.into(),
        )
        .filter(subscriptions::Column::Id.eq(old))
        .exec(txn)
        .await?;
    Ok(())
}

/// The job that turns off a moved subscription's old account.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct RetireMoved {
    pub subscription_id: SubscriptionId,
}

impl jobs::Payload for RetireMoved {
    const KIND: &'static str = "retire_moved_account";
}

/// Inside the transaction that delivers the new account: the old subscription is marked moved
/// (it leaves the customer's list), the new one carries on its auto-renew and the time of the
/// move, and the old account's turning off is queued.
pub async fn retire(
    txn: &impl ConnectionTrait,
    old: SubscriptionId,
    new: SubscriptionId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(before) = subscriptions::Entity::find_by_id(old).one(txn).await? else {
        return Ok(());
    };
    if let Some(after) = subscriptions::Entity::find_by_id(new).one(txn).await? {
        let mut am = subscriptions::ActiveModel::from(after);
        am.auto_renew = Set(before.auto_renew);
        am.switched_at = Set(Some(now));
        am.update(txn).await?;
    }
    let mut am = subscriptions::ActiveModel::from(before);
    am.status = Set(SubscriptionStatus::Moved);
    am.auto_renew = Set(false);
    am.updated_at = Set(now);
    am.update(txn).await?;
    jobs::enqueue(
        txn,
        NewJob::of(
            &RetireMoved {
                subscription_id: old,
            },
            now,
        )
        .dedupe(format!("retire:{old}")),
        now,
    )
    .await?;
    Ok(())
}

/// The job's work: the old account off on its panel (gone already is fine).
pub async fn turn_off_old(
    db: &DatabaseConnection,
    id: SubscriptionId,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let Some(sub) = super::find(db, id)
        .await
        .map_err(|e| e.to_string())?
        .filter(|s| s.status == SubscriptionStatus::Moved)
    else {
        return Ok(());
    };
    let panel = panels::panel(db, sub.panel_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the panel is gone")?;
    let account = crate::provisioning::account_ref(&sub).map_err(|e| e.to_string())?;
    let client = marzban_client::connect(panel.config.clone()).map_err(|e| e.to_string())?;
    match client.set_enabled(&account, false).await {
        Ok(_) | Err(marzban_client::PanelError::NotFound | marzban_client::PanelError::NotOurs) => {
            let mut am = subscriptions::ActiveModel::from(sub);
            am.disabled_at = Set(Some(now));
            am.panel_status = Set(Some(PanelState::Disabled));
            am.update(db).await.map_err(|e| e.to_string())?;
            Ok(())
        }
        Err(e) => Err(format!("panel {}: {e}", panel.name)),
    }
}

/// When `sub` may move again (`None`: now, or moving is not offered).
pub fn next_move(sub: &Subscription, rules: &LifeRules) -> Option<DateTime<Utc>> {
    Some(sub.switched_at? + rules.switch_every?)
}

/// The location a subscription is in, for the confirmation text.
pub async fn location_of(
    db: &DatabaseConnection,
    id: LocationId,
) -> Result<Option<Location>, DbErr> {
    catalog::location(db, id).await
}
