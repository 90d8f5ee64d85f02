//! Rewards for a fulfilled order: points for what was paid, and the referrer's reward when a
//! referred customer's first paid order is fulfilled, granted once (ledger idempotency keys)
//! and taken back if that order is refunded.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entities::{customers, ledger_transactions, orders as order_rows};
use crate::ids::{CustomerId, OrderId};
use crate::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use crate::money::Money;
use crate::orders::{self, OrderKind, OrderStatus};
use crate::points::{self, PointsError};

/// What a referrer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralReward {
    Wallet(Money),
    Points(i64),
}

/// The seller's earning rules (from config).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewardRules {
    /// `(minor, points)`: `points` for every full `minor` units paid for an order.
    pub points_per_paid: Option<(i64, i64)>,
    /// Earned points expire after this long (`None`: never).
    pub points_expire_after: Option<Duration>,
    pub referral: Option<ReferralReward>,
}

/// What an order earned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    pub points: i64,
    /// The referrer and their reward, when this order earned one.
    pub referral: Option<(CustomerId, ReferralReward)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error(transparent)]
    Points(#[from] PointsError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

async fn posted(db: &impl sea_orm::ConnectionTrait, key: &str) -> Result<bool, DbErr> {
    Ok(ledger_transactions::Entity::find()
        .filter(ledger_transactions::Column::IdempotencyKey.eq(key))
        .count(db)
        .await?
        > 0)
}

/// Grants what a fulfilled order earned. Running it again grants nothing more.
pub async fn grant_for_order(
    db: &DatabaseConnection,
    order: OrderId,
    rules: &RewardRules,
    now: DateTime<Utc>,
) -> Result<Granted, RewardError> {
    let Some(row) = orders::get(db, order).await? else {
        return Ok(Granted::default());
    };
    let paid_for = row.kind != OrderKind::Trial && row.total_minor > 0;
    if row.state() != OrderStatus::Fulfilled || !paid_for {
        return Ok(Granted::default());
    }
    let customer = row.customer_id;
    let txn = crate::db::begin(db).await?;
    let mut granted = Granted::default();
    let expires = rules.points_expire_after.map(|d| now + d);
    if let Some((per, pts)) = rules
        .points_per_paid
        .filter(|(per, pts)| *per > 0 && *pts > 0)
    {
        let earned = row.total_minor / per * pts;
        let key = format!("order:{}:earn", row.id);
        if earned > 0 && !posted(&txn, &key).await? {
            let memo = Memo {
                idempotency_key: Some(key),
                order_id: Some(order),
                ..Memo::default()
            };
            points::earn(&txn, customer, earned, expires, memo, now).await?;
            granted.points = earned;
        }
    }
    let referrer = customers::Entity::find_by_id(row.customer_id)
        .one(&txn)
        .await?
        .and_then(|c| c.referred_by);
    let key = format!("referral:{}", row.customer_id);
    if let (Some(referrer), Some(reward)) = (referrer, rules.referral)
        && !posted(&txn, &key).await?
    {
        let memo = Memo {
            idempotency_key: Some(key),
            order_id: Some(order),
            text: format!("customer {} bought", row.customer_id),
            ..Memo::default()
        };
        match reward {
            ReferralReward::Wallet(amount) => {
                ledger::credit_wallet(
                    &txn,
                    referrer,
                    amount,
                    &SystemAccount::Promotions,
                    TxKind::ReferralReward,
                    memo,
                    now,
                )
                .await?;
            }
            ReferralReward::Points(n) => {
                points::earn(&txn, referrer, n, expires, memo, now).await?;
            }
        }
        let (wallet, points) = match reward {
            ReferralReward::Wallet(m) => (Some(m), None),
            ReferralReward::Points(n) => (None, Some(n)),
        };
        crate::notices::enqueue(
            &txn,
            &crate::notices::Notice::ReferralRewarded {
                referrer,
                referred: customer,
                wallet,
                points,
            },
            now,
        )
        .await?;
        granted.referral = Some((referrer, reward));
    }
    txn.commit().await?;
    Ok(granted)
}

/// Takes back the referral reward an order earned, when that order is refunded: a wallet
/// reward is reversed (as far as the referrer still has it), points are spent. Once.
pub async fn take_back(
    txn: &sea_orm::DatabaseTransaction,
    order: OrderId,
    now: DateTime<Utc>,
) -> Result<(), RewardError> {
    let Some(reward) = ledger_transactions::Entity::find()
        .filter(ledger_transactions::Column::OrderId.eq(order))
        .filter(ledger_transactions::Column::IdempotencyKey.like("referral:%"))
        .one(txn)
        .await?
    else {
        return Ok(());
    };
    let key = format!("referral:{}:taken_back", order);
    if posted(txn, &key).await? {
        return Ok(());
    }
    let memo = Memo {
        idempotency_key: Some(key),
        order_id: Some(order),
        text: "referred order refunded".into(),
        ..Memo::default()
    };
    if reward.kind == TxKind::ReferralReward {
        match ledger::reverse(txn, reward.id, TxKind::ReferralReward, memo, now).await {
            Ok(_) | Err(LedgerError::AlreadyReversed(_)) => {}
            // Already spent: the shop absorbs it rather than push a wallet below zero.
            Err(LedgerError::InsufficientBalance { .. }) => {
                tracing::warn!(order = %order, "referral reward already spent; not taken back");
            }
            Err(e) => return Err(e.into()),
        }
    } else if reward.kind == TxKind::PointsEarned {
        let lot = crate::entities::points_lots::Entity::find()
            .filter(crate::entities::points_lots::Column::TransactionId.eq(reward.id))
            .one(txn)
            .await?;
        if let Some(lot) = lot {
            let owner = lot.customer_id;
            let take = lot.amount.min(points::balance(txn, owner, now).await?);
            if take > 0 {
                points::spend(txn, owner, take, memo, now).await?;
            }
        }
    }
    Ok(())
}

/// The referrer's numbers: how many joined through their link, how many of those bought.
pub async fn referral_stats(
    db: &DatabaseConnection,
    referrer: CustomerId,
) -> Result<(u64, u64), DbErr> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    use sea_orm::{PaginatorTrait, QuerySelect};
    // Two counts in SQL, however many friends joined: no id list is ever sent back and forth.
    let joined = customers::Entity::find()
        .filter(customers::Column::ReferredBy.eq(referrer))
        .count(db)
        .await?;
    let referred = Query::select()
        .column(customers::Column::Id)
        .from(customers::Entity)
        .and_where(Expr::col(customers::Column::ReferredBy).eq(referrer.get()))
        .to_owned();
    let bought: Option<i64> = order_rows::Entity::find()
        .select_only()
        .column_as(
            Expr::col(order_rows::Column::CustomerId).count_distinct(),
            "buyers",
        )
        .filter(order_rows::Column::CustomerId.in_subquery(referred))
        .filter(order_rows::Column::Kind.ne(OrderKind::Trial.as_str()))
        .filter(order_rows::Column::Status.eq(OrderStatus::Fulfilled.as_str()))
        .into_tuple()
        .one(db)
        .await?;
    Ok((joined, u64::try_from(bought.unwrap_or(0)).unwrap_or(0)))
}
