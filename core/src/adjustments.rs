//! An admin corrects a customer's wallet: always a ledger transaction against the shop's
//! adjustments account with a reason, never an edit of a balance; audited (before → after) in
//! the same transaction. The preview the admin confirmed carries a key, so a double-tapped
//! Confirm (or two at once) moves the money once.
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::audit::Entry;
use crate::ids::CustomerId;
use crate::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use crate::money::{Currency, Money};
use crate::points::{self, PointsError};
use crate::staff::{Access, Permission};

/// Which balance a correction moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Balance {
    /// The wallet, in `currency`'s minor units.
    #[default]
    Wallet,
    /// Loyalty points.
    Points,
}

/// A correction the admin saw in a preview and confirmed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjustment {
    pub customer: CustomerId,
    pub currency: Currency,
    /// Positive: credit; negative: debit (minor units, or points).
    pub delta_minor: i64,
    pub reason: String,
    /// Made when the preview was shown: confirming it twice posts once.
    pub key: String,
    #[serde(default)]
    pub balance: Balance,
}

impl Adjustment {
    /// A new wallet correction, with the key that makes confirming it idempotent.
    pub fn new(customer: CustomerId, currency: Currency, delta_minor: i64, reason: &str) -> Self {
        Adjustment {
            customer,
            currency,
            delta_minor,
            reason: reason.trim().chars().take(200).collect(),
            key: uuid::Uuid::new_v4().simple().to_string(),
            balance: Balance::Wallet,
        }
    }

    /// A new points correction of `delta` points.
    pub fn points(customer: CustomerId, currency: Currency, delta: i64, reason: &str) -> Self {
        Adjustment {
            balance: Balance::Points,
            ..Adjustment::new(customer, currency, delta, reason)
        }
    }
}

/// What the wallet held before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjusted {
    pub before: Money,
    pub after: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    #[error("your role may not adjust balances")]
    NotAllowed,
    #[error("an adjustment needs a reason")]
    NoReason,
    #[error("an adjustment moves a non-zero amount")]
    Zero,
    #[error("the wallet holds {0}: it cannot go below zero")]
    WouldGoNegative(Money),
    #[error("the customer has only {0} points")]
    NotEnoughPoints(i64),
    #[error("this adjustment was already made")]
    AlreadyMade,
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl From<LedgerError> for AdjustError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::AlreadyPosted(_) => AdjustError::AlreadyMade,
            LedgerError::Db(e) => AdjustError::Db(e),
            other => AdjustError::Ledger(other),
        }
    }
}

/// `by` applies `adj`, if their role allows it now.
pub async fn adjust_wallet(
    db: &DatabaseConnection,
    by: &Access,
    adj: &Adjustment,
    now: DateTime<Utc>,
) -> Result<Adjusted, AdjustError> {
    if !by.may(Permission::Balances) {
        return Err(AdjustError::NotAllowed);
    }
    if adj.reason.trim().is_empty() {
        return Err(AdjustError::NoReason);
    }
    let amount = Money::new(
        adj.delta_minor.unsigned_abs().min(i64::MAX as u64) as i64,
        adj.currency,
    )
    .ok()
    .filter(|m| m.minor() > 0)
    .ok_or(AdjustError::Zero)?;
    let txn = crate::db::begin(db).await?;
    let before = ledger::wallet_balance(&txn, adj.customer, adj.currency).await?;
    let memo = Memo {
        idempotency_key: Some(format!("adjust:{}", adj.key)),
        actor: Some(by.who),
        text: adj.reason.trim().to_string(),
        ..Memo::default()
    };
    let posted = if adj.delta_minor > 0 {
        ledger::credit_wallet(
            &txn,
            adj.customer,
            amount,
            &SystemAccount::Adjustments,
            TxKind::Adjustment,
            memo,
            now,
        )
        .await
    } else {
        ledger::debit_wallet(
            &txn,
            adj.customer,
            amount,
            &SystemAccount::Adjustments,
            TxKind::Adjustment,
            memo,
            now,
        )
        .await
    };
    match posted {
        Ok(_) => {}
        Err(LedgerError::InsufficientBalance { .. }) => {
            return Err(AdjustError::WouldGoNegative(before));
        }
        Err(e) => return Err(e.into()),
    }
    let after = ledger::wallet_balance(&txn, adj.customer, adj.currency).await?;
    Entry::new(Some(by.who), "wallet.adjust")
        .target(format!("customer:{}", adj.customer))
        .customer(adj.customer)
        .change(before.to_string(), after.to_string())
        .details(adj.reason.trim())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(Adjusted { before, after })
}

/// `by` applies the points correction `adj` (credited points expire after `expire_after`, as
/// earned ones do). Returns the points balance before and after. Once per key.
pub async fn adjust_points(
    db: &DatabaseConnection,
    by: &Access,
    adj: &Adjustment,
    expire_after: Option<chrono::Duration>,
    now: DateTime<Utc>,
) -> Result<(i64, i64), AdjustError> {
    if !by.may(Permission::Balances) {
        return Err(AdjustError::NotAllowed);
    }
    if adj.reason.trim().is_empty() {
        return Err(AdjustError::NoReason);
    }
    if adj.delta_minor == 0 || adj.balance != Balance::Points {
        return Err(AdjustError::Zero);
    }
    let txn = crate::db::begin(db).await?;
    let before = points::balance(&txn, adj.customer, now).await?;
    let memo = Memo {
        idempotency_key: Some(format!("adjust-points:{}", adj.key)),
        actor: Some(by.who),
        text: adj.reason.trim().to_string(),
        ..Memo::default()
    };
    let moved = if adj.delta_minor > 0 {
        let expires = expire_after.map(|d| now + d);
        points::earn(&txn, adj.customer, adj.delta_minor, expires, memo, now).await
    } else {
        points::spend(&txn, adj.customer, -adj.delta_minor, memo, now).await
    };
    match moved {
        Ok(_) => {}
        Err(PointsError::Insufficient { available, .. }) => {
            return Err(AdjustError::NotEnoughPoints(available));
        }
        Err(PointsError::Ledger(e)) => return Err(e.into()),
        Err(PointsError::Db(e)) => return Err(e.into()),
        Err(PointsError::NotPositive) => return Err(AdjustError::Zero),
    }
    let after = points::balance(&txn, adj.customer, now).await?;
    Entry::new(Some(by.who), "points.adjust")
        .target(format!("customer:{}", adj.customer))
        .customer(adj.customer)
        .change(before.to_string(), after.to_string())
        .details(adj.reason.trim())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok((before, after))
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("your role may not refund orders")]
    NotAllowed,
    #[error("only a fulfilled purchase can be refunded here")]
    NotRefundable,
    #[error("this order was already refunded")]
    AlreadyRefunded,
    #[error(transparent)]
    Rewards(#[from] crate::rewards::RewardError),
    #[error(transparent)]
    Points(#[from] crate::points::PointsError),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl From<LedgerError> for RefundError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Db(e) => RefundError::Db(e),
            other => RefundError::Ledger(other),
        }
    }
}

/// `by` refunds a fulfilled purchase to the customer's wallet: the money back (a ledger
/// transaction), the points it used back, the referral reward it earned taken back, its account
/// turned off (by the job that does it for every refund, as the panel may be down), the
/// customer told. Once: the order moves `fulfilled → refunded` conditionally.
pub async fn refund_order(
    db: &DatabaseConnection,
    by: &Access,
    order: crate::ids::OrderId,
    now: DateTime<Utc>,
) -> Result<Adjusted, RefundError> {
    use crate::entities::{orders as order_rows, subscriptions};
    use crate::orders::{OrderKind, OrderStatus};
    use crate::subscriptions::SubscriptionStatus;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !by.may(Permission::Refunds) {
        return Err(RefundError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let o = crate::orders::get(&txn, order)
        .await?
        .ok_or(RefundError::NotRefundable)?;
    if o.status == OrderStatus::Refunded {
        return Err(RefundError::AlreadyRefunded);
    }
    if o.status != OrderStatus::Fulfilled || o.kind != OrderKind::Purchase {
        return Err(RefundError::NotRefundable);
    }
    let moved = order_rows::Entity::update_many()
        .col_expr(
            order_rows::Column::Status,
            Expr::value(OrderStatus::Refunded),
        )
        .col_expr(order_rows::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            order_rows::Column::Failure,
            Expr::value(Some(format!("refunded by staff ({})", by.who))),
        )
        .filter(order_rows::Column::Id.eq(order))
        .filter(order_rows::Column::Status.eq(OrderStatus::Fulfilled))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved != 1 {
        return Err(RefundError::AlreadyRefunded);
    }
    let before = ledger::wallet_balance(&txn, o.customer_id, o.currency).await?;
    crate::rewards::take_back(&txn, order, now).await?;
    let memo = |key: &str| Memo {
        idempotency_key: Some(format!("order:{order}:{key}")),
        order_id: Some(order),
        actor: Some(by.who),
        text: "refunded by staff".into(),
        ..Memo::default()
    };
    if o.total_minor > 0 {
        ledger::credit_wallet(
            &txn,
            o.customer_id,
            o.total(),
            &SystemAccount::Revenue,
            TxKind::Refund,
            memo("refund"),
            now,
        )
        .await?;
    }
    if o.points_used > 0 {
        crate::points::earn(
            &txn,
            o.customer_id,
            o.points_used,
            None,
            memo("refund_points"),
            now,
        )
        .await?;
    }
    if let Some(sub) = o.subscription_id {
        subscriptions::Entity::update_many()
            .col_expr(
                subscriptions::Column::Status,
                Expr::value(SubscriptionStatus::Failed),
            )
            .filter(subscriptions::Column::Id.eq(sub))
            .exec(&txn)
            .await?;
        crate::jobs::enqueue(
            &txn,
            crate::jobs::NewJob::of(
                &crate::provisioning::DisableRefunded {
                    subscription_id: sub,
                },
                now,
            )
            .dedupe(format!("{}:{sub}", crate::provisioning::DISABLE_JOB)),
            now,
        )
        .await?;
    }
    crate::notices::enqueue(
        &txn,
        &crate::notices::Notice::RefundedByStaff { order_id: order },
        now,
    )
    .await?;
    let after = ledger::wallet_balance(&txn, o.customer_id, o.currency).await?;
    Entry::new(Some(by.who), "order.refund")
        .target(format!("order:{order}"))
        .customer(o.customer_id)
        .change(before.to_string(), after.to_string())
        .details(format!("{} refunded", o.total()))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(Adjusted { before, after })
}
