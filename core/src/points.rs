//! Loyalty points: earned in lots that expire, spent oldest-expiring first, every change a
//! ledger transaction on the customer's points account. The points balance in the ledger always
//! equals the sum of the lots' `remaining`.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entities::points_lots;
use crate::ids::{CustomerId, TransactionId};
use crate::ledger::{self, LedgerError, Memo, Posting, SystemAccount, TxKind, Unit};

#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    #[error("only {available} points can be spent, {required} asked")]
    Insufficient { available: i64, required: i64 },
    #[error("a number of points must be positive")]
    NotPositive,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

fn spendable(customer: CustomerId, now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(points_lots::Column::CustomerId.eq(customer))
        .add(points_lots::Column::Remaining.gt(0))
        .add(
            Condition::any()
                .add(points_lots::Column::ExpiresAt.is_null())
                .add(points_lots::Column::ExpiresAt.gt(now)),
        )
}

/// Points the customer can spend now (expired lots not counted, even before they are swept).
pub async fn balance(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    Ok(points_lots::Entity::find()
        .filter(spendable(customer, now))
        .all(db)
        .await?
        .iter()
        .map(|l| l.remaining)
        .sum())
}

/// Gives the customer `points` that expire at `expires_at` (never, when `None`).
pub async fn earn(
    txn: &DatabaseTransaction,
    customer: CustomerId,
    points: i64,
    expires_at: Option<DateTime<Utc>>,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, PointsError> {
    if points <= 0 {
        return Err(PointsError::NotPositive);
    }
    let account = ledger::points_account(txn, customer, now).await?;
    let issued =
        ledger::system_account(txn, &SystemAccount::PointsIssued, Unit::Points, now).await?;
    let tx = ledger::post(
        txn,
        TxKind::PointsEarned,
        memo,
        &[
            Posting {
                account,
                amount_minor: points,
            },
            Posting {
                account: issued,
                amount_minor: -points,
            },
        ],
        now,
    )
    .await?;
    points_lots::Entity::insert(points_lots::ActiveModel {
        customer_id: Set(customer),
        transaction_id: Set(tx),
        amount: Set(points),
        remaining: Set(points),
        expires_at: Set(expires_at),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(tx)
}

/// Spends `points`, taking them from the lots that expire first.
pub async fn spend(
    txn: &DatabaseTransaction,
    customer: CustomerId,
    points: i64,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, PointsError> {
    if points <= 0 {
        return Err(PointsError::NotPositive);
    }
    let lots = points_lots::Entity::find()
        .filter(spendable(customer, now))
        .order_by_asc(Expr::col(points_lots::Column::ExpiresAt).is_null())
        .order_by_asc(points_lots::Column::ExpiresAt)
        .order_by_asc(points_lots::Column::Id)
        .all(txn)
        .await?;
    let available: i64 = lots.iter().map(|l| l.remaining).sum();
    if available < points {
        return Err(PointsError::Insufficient {
            available,
            required: points,
        });
    }
    let mut left = points;
    for lot in lots {
        if left == 0 {
            break;
        }
        let take = Ord::min(left, lot.remaining);
        let r = points_lots::Entity::update_many()
            .col_expr(
                points_lots::Column::Remaining,
                Expr::col(points_lots::Column::Remaining).sub(take),
            )
            .filter(points_lots::Column::Id.eq(lot.id))
            .filter(points_lots::Column::Remaining.gte(take))
            .exec(txn)
            .await?;
        if r.rows_affected != 1 {
            // Someone spent from this lot meanwhile: fail whole; the caller's transaction rolls back.
            return Err(PointsError::Insufficient {
                available: available - take,
                required: points,
            });
        }
        left -= take;
    }
    let account = ledger::points_account(txn, customer, now).await?;
    let issued =
        ledger::system_account(txn, &SystemAccount::PointsIssued, Unit::Points, now).await?;
    Ok(ledger::post(
        txn,
        TxKind::PointsSpent,
        memo,
        &[
            Posting {
                account,
                amount_minor: -points,
            },
            Posting {
                account: issued,
                amount_minor: points,
            },
        ],
        now,
    )
    .await?)
}

/// Takes back what is left of every lot whose time is up. Returns how many lots expired.
pub async fn expire_due(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, PointsError> {
    let due = points_lots::Entity::find()
        .filter(points_lots::Column::Remaining.gt(0))
        .filter(points_lots::Column::ExpiresAt.lte(now))
        .all(db)
        .await?;
    let mut expired = 0;
    for lot in due {
        let txn = crate::db::begin(db).await?;
        let r = points_lots::Entity::update_many()
            .col_expr(points_lots::Column::Remaining, 0i64.into())
            .filter(points_lots::Column::Id.eq(lot.id))
            .filter(points_lots::Column::Remaining.eq(lot.remaining))
            .exec(&txn)
            .await?;
        if r.rows_affected != 1 {
            continue;
        }
        let customer = lot.customer_id;
        let account = ledger::points_account(&txn, customer, now).await?;
        let issued =
            ledger::system_account(&txn, &SystemAccount::PointsIssued, Unit::Points, now).await?;
        ledger::post(
            &txn,
            TxKind::PointsExpired,
            Memo {
                idempotency_key: Some(format!("points-expiry:{}", lot.id)),
                ..Memo::default()
            },
            &[
                Posting {
                    account,
                    amount_minor: -lot.remaining,
                },
                Posting {
                    account: issued,
                    amount_minor: lot.remaining,
                },
            ],
            now,
        )
        .await?;
        txn.commit().await?;
        expired += 1;
    }
    Ok(expired)
}
