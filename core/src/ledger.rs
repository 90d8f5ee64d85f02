//! The double-entry ledger: every balance change is a transaction whose entries sum to zero.
//!
//! Rows are never updated or deleted (but the cached `balance_minor`, which is moved only by the
//! same statement that writes its entry); a refund is a reversing transaction. A customer account
//! cannot go below zero: the cached balance moves by one conditional `UPDATE … WHERE balance + x >= 0`
//! (atomic on both SQLite and PostgreSQL) and a CHECK constraint backs it up.
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::is_unique_violation;
use crate::entities::{ledger_accounts, ledger_entries, ledger_transactions};
use crate::ids::{AccountId, CustomerId, OrderId, PaymentId, TelegramId, TransactionId};
use crate::money::{Currency, Money};

/// What an account counts: money in one currency, or loyalty points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Money(Currency),
    Points,
}

impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Money(c) => c.code(),
            Unit::Points => "PTS",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The shop's own accounts: the other side of every customer posting. They may go negative
/// (a gateway account is negative by what the gateway owes the shop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemAccount {
    /// Sales: what customers paid for subscriptions.
    Revenue,
    /// Money that came in (or went back out) through a payment provider.
    Gateway(crate::payments::Provider),
    /// Manual corrections by admins.
    Adjustments,
    /// Promotional credit and referral rewards paid by the shop.
    Promotions,
    /// Points issued to customers (earned) and taken back (spent, expired).
    PointsIssued,
}

impl SystemAccount {
    fn code(&self, unit: Unit) -> String {
        let name = match self {
            SystemAccount::Revenue => "revenue".to_string(),
            SystemAccount::Gateway(p) => format!("gateway-{p}"),
            SystemAccount::Adjustments => "adjustments".to_string(),
            SystemAccount::Promotions => "promotions".to_string(),
            SystemAccount::PointsIssued => "points-issued".to_string(),
        };
        format!("system:{name}:{unit}")
    }
}

text_column! {
    /// Why money moved. The `ledger_transactions.kind` column is this type; the set is closed
    /// so reports can rely on it.
    pub enum TxKind {
        TopUp = "top_up",
        Purchase = "purchase",
        Refund = "refund",
        Adjustment = "adjustment",
        ReferralReward = "referral_reward",
        PromoCredit = "promo_credit",
        PointsEarned = "points_earned",
        PointsSpent = "points_spent",
        PointsExpired = "points_expired",
    }
}

text_column! {
    /// Whose an account is. The `ledger_accounts.kind` column is this type.
    pub enum AccountKind {
        /// A customer's money in one currency.
        Wallet = "wallet",
        /// A customer's loyalty points.
        Points = "points",
        /// One of the shop's own accounts ([`SystemAccount`]).
        System = "system",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient balance: {available} available, {required} required")]
    InsufficientBalance { available: i64, required: i64 },
    #[error("a transaction with key `{0}` was already posted")]
    AlreadyPosted(String),
    #[error("transaction {0} was already reversed")]
    AlreadyReversed(TransactionId),
    #[error("transaction {0} does not exist")]
    NoSuchTransaction(TransactionId),
    #[error("the entries of a transaction must be non-zero, in one unit, and sum to zero")]
    Unbalanced,
    #[error("amounts must be positive")]
    NotPositive,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// One line of a transaction: `amount_minor` is added to the account (negative takes away).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    pub account: AccountId,
    pub amount_minor: i64,
}

/// Everything a transaction records besides its postings.
#[derive(Clone, Debug, Default)]
pub struct Memo {
    /// Posting twice with one key posts once (the second gets `AlreadyPosted`).
    pub idempotency_key: Option<String>,
    pub order_id: Option<OrderId>,
    pub payment_id: Option<PaymentId>,
    pub actor: Option<TelegramId>,
    pub text: String,
}

async fn account_by_code(
    txn: &impl ConnectionTrait,
    code: String,
    kind: AccountKind,
    customer: Option<CustomerId>,
    unit: Unit,
    allow_negative: bool,
    now: DateTime<Utc>,
) -> Result<AccountId, DbErr> {
    if let Some(a) = ledger_accounts::Entity::find()
        .filter(ledger_accounts::Column::Code.eq(&code))
        .one(txn)
        .await?
    {
        return Ok(a.id);
    }
    ledger_accounts::Entity::insert(ledger_accounts::ActiveModel {
        code: Set(code.clone()),
        kind: Set(kind),
        customer_id: Set(customer),
        currency: Set(unit.code().to_string()),
        allow_negative: Set(allow_negative),
        balance_minor: Set(0),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(ledger_accounts::Column::Code)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let a = ledger_accounts::Entity::find()
        .filter(ledger_accounts::Column::Code.eq(&code))
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(code))?;
    Ok(a.id)
}

/// The customer's wallet in `currency`, created on first use.
pub async fn wallet_account(
    txn: &impl ConnectionTrait,
    customer: CustomerId,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<AccountId, DbErr> {
    let unit = Unit::Money(currency);
    account_by_code(
        txn,
        format!("wallet:{customer}:{unit}"),
        AccountKind::Wallet,
        Some(customer),
        unit,
        false,
        now,
    )
    .await
}

/// The customer's points account, created on first use.
pub async fn points_account(
    txn: &impl ConnectionTrait,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<AccountId, DbErr> {
    account_by_code(
        txn,
        format!("points:{customer}"),
        AccountKind::Points,
        Some(customer),
        Unit::Points,
        false,
        now,
    )
    .await
}

pub async fn system_account(
    txn: &impl ConnectionTrait,
    which: &SystemAccount,
    unit: Unit,
    now: DateTime<Utc>,
) -> Result<AccountId, DbErr> {
    account_by_code(
        txn,
        which.code(unit),
        AccountKind::System,
        None,
        unit,
        true,
        now,
    )
    .await
}

/// Posts one balanced transaction. Takes a transaction handle so that the postings, the entries
/// and whatever the caller does beside them commit together or not at all.
pub async fn post(
    txn: &DatabaseTransaction,
    kind: TxKind,
    memo: Memo,
    postings: &[Posting],
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    insert_transaction(txn, kind, memo, None, postings, now).await
}

async fn insert_transaction(
    txn: &DatabaseTransaction,
    kind: TxKind,
    memo: Memo,
    reverses: Option<TransactionId>,
    postings: &[Posting],
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    // Merge postings to one per account and lock rows in id order, so two transactions touching
    // the same accounts can never deadlock on PostgreSQL.
    let mut merged: BTreeMap<AccountId, i64> = BTreeMap::new();
    for p in postings {
        let e = merged.entry(p.account).or_default();
        *e = e
            .checked_add(p.amount_minor)
            .ok_or(LedgerError::Unbalanced)?;
    }
    merged.retain(|_, v| *v != 0);
    let sum = merged.values().try_fold(0i64, |acc, v| acc.checked_add(*v));
    if merged.len() < 2 || sum != Some(0) {
        return Err(LedgerError::Unbalanced);
    }
    let ids: Vec<i64> = merged.keys().map(|a| a.get()).collect();
    let accounts = ledger_accounts::Entity::find()
        .filter(ledger_accounts::Column::Id.is_in(ids.clone()))
        .all(txn)
        .await?;
    if accounts.len() != ids.len() || accounts.iter().any(|a| a.currency != accounts[0].currency) {
        return Err(LedgerError::Unbalanced);
    }

    if let Some(key) = &memo.idempotency_key {
        let exists = ledger_transactions::Entity::find()
            .filter(ledger_transactions::Column::IdempotencyKey.eq(key))
            .count(txn)
            .await?;
        if exists > 0 {
            return Err(LedgerError::AlreadyPosted(key.clone()));
        }
    }
    let inserted = ledger_transactions::Entity::insert(ledger_transactions::ActiveModel {
        kind: Set(kind),
        idempotency_key: Set(memo.idempotency_key.clone()),
        order_id: Set(memo.order_id),
        payment_id: Set(memo.payment_id),
        reverses_id: Set(reverses),
        actor_telegram_id: Set(memo.actor),
        memo: Set(memo.text.clone()),
        created_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await;
    let tx_id = match inserted {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => {
            return Err(match (reverses, memo.idempotency_key) {
                (Some(r), _) => LedgerError::AlreadyReversed(r),
                (None, Some(k)) => LedgerError::AlreadyPosted(k),
                (None, None) => LedgerError::Db(e),
            });
        }
        Err(e) => return Err(e.into()),
    };

    for (account, amount) in &merged {
        let moved = ledger_accounts::Entity::update_many()
            .col_expr(
                ledger_accounts::Column::BalanceMinor,
                Expr::col(ledger_accounts::Column::BalanceMinor).add(*amount),
            )
            .filter(ledger_accounts::Column::Id.eq(*account))
            .filter(
                sea_orm::Condition::any()
                    .add(ledger_accounts::Column::AllowNegative.eq(true))
                    .add(
                        Expr::col(ledger_accounts::Column::BalanceMinor)
                            .add(*amount)
                            .gte(0),
                    ),
            )
            .exec(txn)
            .await?;
        if moved.rows_affected == 0 {
            let available = ledger_accounts::Entity::find_by_id(*account)
                .one(txn)
                .await?
                .map_or(0, |a| a.balance_minor);
            return Err(LedgerError::InsufficientBalance {
                available,
                required: -amount,
            });
        }
    }
    ledger_entries::Entity::insert_many(merged.iter().map(|(account, amount)| {
        ledger_entries::ActiveModel {
            transaction_id: Set(tx_id),
            account_id: Set(*account),
            amount_minor: Set(*amount),
            created_at: Set(now),
            ..Default::default()
        }
    }))
    .exec_without_returning(txn)
    .await?;
    Ok(tx_id)
}

/// Reverses a transaction entry by entry (a refund, or taking back a reward). A transaction is
/// reversed at most once: `reverses_id` is unique.
pub async fn reverse(
    txn: &DatabaseTransaction,
    original: TransactionId,
    kind: TxKind,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    if ledger_transactions::Entity::find_by_id(original)
        .one(txn)
        .await?
        .is_none()
    {
        return Err(LedgerError::NoSuchTransaction(original));
    }
    let already = ledger_transactions::Entity::find()
        .filter(ledger_transactions::Column::ReversesId.eq(original))
        .count(txn)
        .await?;
    if already > 0 {
        return Err(LedgerError::AlreadyReversed(original));
    }
    let postings: Vec<Posting> = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::TransactionId.eq(original))
        .all(txn)
        .await?
        .into_iter()
        .map(|e| Posting {
            account: e.account_id,
            amount_minor: -e.amount_minor,
        })
        .collect();
    insert_transaction(txn, kind, memo, Some(original), &postings, now).await
}

/// Moves `amount` from a system account into the customer's wallet (top-up, adjustment, reward).
pub async fn credit_wallet(
    txn: &DatabaseTransaction,
    customer: CustomerId,
    amount: Money,
    from: &SystemAccount,
    kind: TxKind,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    wallet_transfer(txn, customer, amount, 1, from, kind, memo, now).await
}

/// Moves `amount` out of the customer's wallet into a system account (a purchase, a correction).
/// Fails with `InsufficientBalance` and changes nothing when the wallet holds less.
pub async fn debit_wallet(
    txn: &DatabaseTransaction,
    customer: CustomerId,
    amount: Money,
    to: &SystemAccount,
    kind: TxKind,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    wallet_transfer(txn, customer, amount, -1, to, kind, memo, now).await
}

/// One posting pair between a wallet and a system account; `sign` is +1 into the wallet, −1 out.
#[allow(clippy::too_many_arguments)]
async fn wallet_transfer(
    txn: &DatabaseTransaction,
    customer: CustomerId,
    amount: Money,
    sign: i64,
    other: &SystemAccount,
    kind: TxKind,
    memo: Memo,
    now: DateTime<Utc>,
) -> Result<TransactionId, LedgerError> {
    if amount.minor() <= 0 {
        return Err(LedgerError::NotPositive);
    }
    let wallet = wallet_account(txn, customer, amount.currency(), now).await?;
    let other = system_account(txn, other, Unit::Money(amount.currency()), now).await?;
    let moved = sign * amount.minor();
    let postings = [
        Posting {
            account: wallet,
            amount_minor: moved,
        },
        Posting {
            account: other,
            amount_minor: -moved,
        },
    ];
    post(txn, kind, memo, &postings, now).await
}

/// The wallet balance in `currency` (zero when the customer never had one).
pub async fn wallet_balance(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    currency: Currency,
) -> Result<Money, DbErr> {
    let code = format!("wallet:{customer}:{currency}");
    let minor = ledger_accounts::Entity::find()
        .filter(ledger_accounts::Column::Code.eq(code))
        .one(db)
        .await?
        .map_or(0, |a| a.balance_minor);
    Ok(Money::new(minor, currency).unwrap_or_else(|_| Money::zero(currency)))
}

/// The cached balance of an account.
pub async fn balance(db: &impl ConnectionTrait, account: AccountId) -> Result<i64, DbErr> {
    Ok(ledger_accounts::Entity::find_by_id(account)
        .one(db)
        .await?
        .map_or(0, |a| a.balance_minor))
}

/// The balance recomputed from the entries: the truth the cached balance must equal.
pub async fn sum_of_entries(db: &impl ConnectionTrait, account: AccountId) -> Result<i64, DbErr> {
    let sum: Option<Option<i64>> = ledger_entries::Entity::find()
        .select_only()
        .column_as(
            Expr::col(ledger_entries::Column::AmountMinor)
                .sum()
                .cast_as("BIGINT"),
            "s",
        )
        .filter(ledger_entries::Column::AccountId.eq(account))
        .into_tuple()
        .one(db)
        .await?;
    Ok(sum.flatten().unwrap_or(0))
}

/// Accounts whose cached balance differs from the sum of their entries, and transactions whose
/// entries do not sum to zero. Both lists are empty in a healthy ledger.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub drifting_accounts: Vec<(AccountId, i64, i64)>,
    pub unbalanced_transactions: Vec<TransactionId>,
}

impl Audit {
    /// Every balance equals the sum of its entries, and every transaction sums to zero.
    pub fn is_clean(&self) -> bool {
        self.drifting_accounts.is_empty() && self.unbalanced_transactions.is_empty()
    }
}

pub async fn audit(db: &impl ConnectionTrait) -> Result<Audit, DbErr> {
    let mut report = Audit::default();
    for a in ledger_accounts::Entity::find().all(db).await? {
        let id = a.id;
        let sum = sum_of_entries(db, id).await?;
        if sum != a.balance_minor {
            report.drifting_accounts.push((id, a.balance_minor, sum));
        }
    }
    let sums: Vec<(TransactionId, Option<i64>)> = ledger_entries::Entity::find()
        .select_only()
        .column(ledger_entries::Column::TransactionId)
        .column_as(
            Expr::col(ledger_entries::Column::AmountMinor)
                .sum()
                .cast_as("BIGINT"),
            "s",
        )
        .group_by(ledger_entries::Column::TransactionId)
        .into_tuple()
        .all(db)
        .await?;
    report.unbalanced_transactions = sums
        .into_iter()
        .filter(|(_, s)| s.unwrap_or(0) != 0)
        .map(|(t, _)| t)
        .collect();
    Ok(report)
}

/// One line of a customer's wallet history, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    pub transaction: TransactionId,
    pub kind: Option<TxKind>,
    /// Positive when money came in.
    pub amount_minor: i64,
    pub at: DateTime<Utc>,
}

pub async fn wallet_history(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    currency: Currency,
    page: u64,
    per_page: u64,
) -> Result<Vec<HistoryLine>, DbErr> {
    let Some(account) = ledger_accounts::Entity::find()
        .filter(ledger_accounts::Column::Code.eq(format!("wallet:{customer}:{currency}")))
        .one(db)
        .await?
    else {
        return Ok(Vec::new());
    };
    let entries = ledger_entries::Entity::find()
        .filter(ledger_entries::Column::AccountId.eq(account.id))
        .order_by_desc(ledger_entries::Column::Id)
        .offset(page * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    let tx_ids: Vec<TransactionId> = entries.iter().map(|e| e.transaction_id).collect();
    let kinds: BTreeMap<TransactionId, TxKind> = ledger_transactions::Entity::find()
        .filter(ledger_transactions::Column::Id.is_in(tx_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.kind))
        .collect();
    Ok(entries
        .into_iter()
        .map(|e| HistoryLine {
            transaction: e.transaction_id,
            kind: kinds.get(&e.transaction_id).copied(),
            amount_minor: e.amount_minor,
            at: e.created_at,
        })
        .collect())
}
