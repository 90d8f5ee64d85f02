//! Automatic renewal from the wallet, switched on per subscription by its customer.
//!
//! A set time before expiry the renewal order is placed and paid from the wallet in one
//! transaction, and provisioning extends the account afterwards: the money is always taken
//! before the account is extended, never after. The order carries the key
//! `auto:<subscription>:<period>` under a unique index, so one period is charged once whatever
//! runs twice (two processes, a replay after a crash). When the wallet is short, the customer is
//! told the exact amount missing, once per period; a top-up before expiry is picked up by the
//! next run.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use super::reminders::{self, Reminder};
use super::rules::LifeRules;
use super::{Subscription, SubscriptionError, SubscriptionStatus};
use crate::entities::{orders as order_rows, subscriptions};
use crate::ids::{CustomerId, OrderId, SubscriptionId};
use crate::ledger::{self, LedgerError};
use crate::money::{Currency, Money};
use crate::notices::{self, Notice};
use crate::orders::{self, OrderError, OrderKind};

/// Turns automatic renewal on or off for a customer's own subscription.
pub async fn set(
    db: &DatabaseConnection,
    id: SubscriptionId,
    customer: CustomerId,
    on: bool,
    now: DateTime<Utc>,
) -> Result<Subscription, SubscriptionError> {
    let sub = super::owned(db, id, customer).await?;
    if on && !sub.status.renewable() {
        return Err(SubscriptionError::NotActive);
    }
    if sub.auto_renew == on {
        return Ok(sub);
    }
    let mut am = subscriptions::ActiveModel::from(sub);
    am.auto_renew = Set(on);
    am.updated_at = Set(now);
    Ok(am.update(db).await?)
}

/// When the next automatic charge is due (shown on the subscription screen).
pub fn next_charge(sub: &Subscription, rules: &LifeRules) -> Option<DateTime<Utc>> {
    (sub.auto_renew && sub.status.renewable())
        .then_some(sub.expires_at)
        .flatten()
        .map(|at| at - rules.auto_renew_before)
}

/// What one subscription's turn came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Charged and paid: provisioning extends the account.
    Renewed(OrderId),
    /// This period was charged before (by this run or another process).
    AlreadyCharged,
    /// The wallet is short by this much; the customer was told (once per period).
    Short(Money),
    /// The plan is no longer sold (or has no price): the customer renews by hand.
    CannotRenew,
}

/// The report of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoRenewReport {
    pub renewed: u64,
    pub short: u64,
    pub cannot: u64,
}

/// Charges every subscription whose automatic renewal is due.
pub async fn run(
    db: &DatabaseConnection,
    rules: &LifeRules,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<AutoRenewReport, DbErr> {
    let due = subscriptions::Entity::find()
        .filter(subscriptions::Column::AutoRenew.eq(true))
        .filter(
            subscriptions::Column::Status
                .is_in([SubscriptionStatus::Active, SubscriptionStatus::Disabled]),
        )
        .filter(subscriptions::Column::ExpiresAt.lte(now + rules.auto_renew_before))
        .all(db)
        .await?;
    let mut report = AutoRenewReport::default();
    for sub in due {
        // One subscription's trouble never holds up the others' renewals.
        match charge(db, &sub, currency, now).await {
            Ok(Charge::Renewed(_)) => report.renewed += 1,
            Ok(Charge::Short(_)) => report.short += 1,
            Ok(Charge::CannotRenew) => report.cannot += 1,
            Ok(Charge::AlreadyCharged) => {}
            Err(e) => {
                tracing::warn!(subscription = %sub.id, error = %e, "automatic renewal not tried");
            }
        }
    }
    Ok(report)
}

/// The key that makes one period's renewal happen once: the subscription and the day it
/// expires (a traffic pack bought meanwhile changes nothing here).
pub fn key(sub: &Subscription) -> String {
    let day = sub
        .expires_at
        .map_or_else(|| "never".to_string(), |at| at.date_naive().to_string());
    format!("auto:{}:{day}", sub.id)
}

/// One subscription's automatic renewal for its current period.
pub async fn charge(
    db: &DatabaseConnection,
    sub: &Subscription,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Charge, DbErr> {
    let key = key(sub);
    if charged(db, &key).await? {
        return Ok(Charge::AlreadyCharged);
    }
    // A renewal already paid and being made (by hand, or charged before the expiry moved),
    // or a move under way: this period is being taken care of.
    let busy = order_rows::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(order_rows::Column::SubscriptionId.eq(sub.id))
                .add(order_rows::Column::MovedFrom.eq(sub.id)),
        )
        .filter(order_rows::Column::Status.is_in([
            crate::orders::OrderStatus::Paid,
            crate::orders::OrderStatus::Provisioning,
        ]))
        .one(db)
        .await?;
    if busy.is_some() {
        return Ok(Charge::AlreadyCharged);
    }
    let quote = match super::quote_renewal(db, sub, currency, now).await {
        Ok((quote, _)) => quote,
        Err(SubscriptionError::Db(e)) => return Err(e),
        Err(e) => {
            tracing::info!(subscription = %sub.id, why = %e, "automatic renewal impossible");
            return Ok(Charge::CannotRenew);
        }
    };
    let balance = ledger::wallet_balance(db, sub.customer_id, currency).await?;
    if balance.minor() < quote.total.minor() {
        return short(
            db,
            sub,
            quote.total.minor() - balance.minor(),
            currency,
            now,
        )
        .await;
    }
    let txn = crate::db::begin(db).await?;
    // A short quote life: the order is paid in this same transaction or not at all.
    let order = orders::place(
        &txn,
        sub.customer_id,
        OrderKind::Renewal,
        &quote,
        Some(sub.id),
        chrono::Duration::minutes(5),
        now,
    )
    .await?;
    let keyed = order_rows::Entity::update_many()
        .col_expr(order_rows::Column::AutoRenewKey, key.clone().into())
        .filter(order_rows::Column::Id.eq(order.id))
        .exec(&txn)
        .await;
    if keyed.is_err() {
        // The unique key is taken: another process charged this period a moment ago.
        drop(txn);
        return Ok(Charge::AlreadyCharged);
    }
    match orders::pay_with_wallet_in(&txn, order.id, sub.customer_id, now).await {
        Ok(()) => {
            txn.commit().await?;
            tracing::info!(subscription = %sub.id, order = %order.id, "renewed automatically");
            Ok(Charge::Renewed(order.id))
        }
        Err(OrderError::Ledger(LedgerError::InsufficientBalance {
            available,
            required,
        })) => {
            drop(txn);
            short(db, sub, required - available, currency, now).await
        }
        Err(OrderError::Db(e)) => Err(e),
        Err(e) => {
            drop(txn);
            tracing::warn!(subscription = %sub.id, error = %e, "automatic renewal not paid");
            Ok(Charge::CannotRenew)
        }
    }
}

async fn charged(db: &DatabaseConnection, key: &str) -> Result<bool, DbErr> {
    Ok(order_rows::Entity::find()
        .filter(order_rows::Column::AutoRenewKey.eq(key))
        .one(db)
        .await?
        .is_some())
}

async fn short(
    db: &DatabaseConnection,
    sub: &Subscription,
    missing_minor: i64,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Charge, DbErr> {
    notices::enqueue_new(
        db,
        &Notice::Reminder {
            subscription_id: sub.id,
            reminder: Reminder::TopUp { missing_minor },
            period: reminders::period(sub),
        },
        now,
    )
    .await?;
    Ok(Charge::Short(
        Money::new(missing_minor, currency).unwrap_or_else(|_| Money::zero(currency)),
    ))
}
