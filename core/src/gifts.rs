//! Staff give a customer's subscription more days or more traffic — an outage made good, a
//! goodwill gesture. The gift is a zero-priced renewal (days, with any traffic on top) or traffic
//! order, paid at once, so the provisioning job applies it to the panel exactly as it applies a
//! paid one: retried while the panel is down, never a panel call in a handler, the customer told
//! when it is done. Audited in the same transaction.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};

use crate::audit::Entry;
use crate::entities::subscriptions;
use crate::ids::{OrderId, SubscriptionId};
use crate::money::{Currency, Money};
use crate::orders::{self, OrderError, OrderKind, Quote};
use crate::staff::{Access, Permission};
use crate::subscriptions::SubscriptionStatus;

const GB: i64 = 1 << 30;
/// More than a year or a terabyte at once is a typo, not a gift.
pub const MAX_DAYS: i32 = 366;
pub const MAX_GB: i64 = 1_000;

/// What staff saw in a preview and confirmed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Gift {
    pub subscription: SubscriptionId,
    pub days: i32,
    pub gb: i64,
    pub reason: String,
}

impl Gift {
    /// A gift of `days` and `gb` to `subscription`, why.
    pub fn new(subscription: SubscriptionId, days: i32, gb: i64, reason: &str) -> Gift {
        Gift {
            subscription,
            days,
            gb,
            reason: reason.trim().chars().take(200).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GiftError {
    #[error("your role may not extend subscriptions")]
    NotAllowed,
    #[error("a gift needs a reason")]
    NoReason,
    #[error("a gift gives some days or some traffic, at most {MAX_DAYS} days and {MAX_GB} GB")]
    OutOfRange,
    #[error("no such subscription")]
    NotFound,
    /// Only an active subscription can be extended (an expired one is bought again).
    #[error("this subscription is not active")]
    NotActive,
    /// Traffic cannot be added to an unlimited subscription.
    #[error("this subscription has unlimited traffic")]
    Unlimited,
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The subscription a gift is for, checked: active, and limited when traffic is given.
pub async fn check(
    db: &DatabaseConnection,
    gift: &Gift,
) -> Result<subscriptions::Model, GiftError> {
    let in_range = (0..=MAX_DAYS).contains(&gift.days)
        && (0..=MAX_GB).contains(&gift.gb)
        && (gift.days > 0 || gift.gb > 0);
    if !in_range {
        return Err(GiftError::OutOfRange);
    }
    if gift.reason.trim().is_empty() {
        return Err(GiftError::NoReason);
    }
    let sub = subscriptions::Entity::find_by_id(gift.subscription)
        .one(db)
        .await?
        .ok_or(GiftError::NotFound)?;
    if sub.state() != SubscriptionStatus::Active {
        return Err(GiftError::NotActive);
    }
    if gift.gb > 0 && sub.traffic_limit_bytes.is_none() {
        return Err(GiftError::Unlimited);
    }
    Ok(sub)
}

/// `by` gives `gift`: the order is placed and paid (nothing charged) in one transaction with its
/// audit row; the provisioning job does the rest.
pub async fn give(
    db: &DatabaseConnection,
    by: &Access,
    gift: &Gift,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<OrderId, GiftError> {
    if !by.may(Permission::Subscriptions) {
        return Err(GiftError::NotAllowed);
    }
    let sub = check(db, gift).await?;
    let (kind, days) = if gift.days > 0 {
        (OrderKind::Renewal, gift.days)
    } else {
        (OrderKind::AddTraffic, 0)
    };
    let quote = Quote {
        plan: sub.plan_id,
        location: None,
        duration_days: days,
        traffic_bytes: Some(gift.gb * GB),
        list_price: Money::zero(currency),
        promo_code_id: None,
        discount_minor: 0,
        points_used: 0,
        points_value_minor: 0,
        total: Money::zero(currency),
    };
    let txn = crate::db::begin(db).await?;
    let order = orders::place(
        &txn,
        sub.customer_id,
        kind,
        &quote,
        Some(sub.id),
        Duration::minutes(5),
        now,
    )
    .await?;
    orders::pay_with_wallet_in(&txn, order.order_id(), sub.customer_id, now).await?;
    Entry::new(Some(by.who), "subscription.gift")
        .target(format!("subscription:{}", sub.id))
        .customer(sub.customer_id)
        .change(
            format!(
                "expires {} · limit {}",
                sub.expires_at
                    .map_or("-".into(), |d| d.format("%Y-%m-%d").to_string()),
                sub.traffic_limit_bytes
                    .map_or("unlimited".into(), |b| format!("{} GB", b / GB)),
            ),
            format!("+{} days · +{} GB (order {})", gift.days, gift.gb, order.id),
        )
        .details(gift.reason.trim())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(order.order_id())
}
