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
use crate::staff::{Access, Permission};

/// A correction the admin saw in a preview and confirmed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adjustment {
    pub customer: CustomerId,
    pub currency: Currency,
    /// Positive: credit; negative: debit.
    pub delta_minor: i64,
    pub reason: String,
    /// Made when the preview was shown: confirming it twice posts once.
    pub key: String,
}

impl Adjustment {
    /// A new correction, with the key that makes confirming it idempotent.
    pub fn new(customer: CustomerId, currency: Currency, delta_minor: i64, reason: &str) -> Self {
        Adjustment {
            customer,
            currency,
            delta_minor,
            reason: reason.trim().chars().take(200).collect(),
            key: uuid::Uuid::new_v4().simple().to_string(),
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
