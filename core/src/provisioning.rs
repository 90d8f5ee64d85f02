//! Turning a paid order into a working account on a panel. Runs only from the job queue, never
//! inside a handler, and is safe to replay at any point: the subscription row and its account
//! name are saved before the panel is called, the panel call is create-or-get or sets an
//! absolute value computed from what the database held before, and the order only moves
//! forward. When the last attempt fails, the order is refunded to the wallet once.
//!
//! The account's name carries the shop's identity and the account its own key (both saved
//! before the first panel call): an account of that name which does not carry the key was made
//! by someone else, is never handed out, and the order is refunded at once.
use chrono::{DateTime, TimeDelta, Utc};
use marzban_client::{AccountKey, AccountName, AccountRef, AccountSpec, PanelError};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder,
};

use crate::entities::{orders as order_rows, subscriptions};
use crate::ids::{CustomerId, OrderId, SubscriptionId};
use crate::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use crate::notices::{self, Notice};
use crate::orders::{self, OrderKind, OrderStatus};
use crate::panels::{self, Panel};
use crate::points;
use crate::rewards;

use crate::subscriptions::{Subscription, SubscriptionStatus};

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The account is ready (or was already): tell the customer.
    Fulfilled(SubscriptionId),
    /// Given up: the money is back in the wallet; tell the customer and staff.
    Refunded { reason: String },
    /// An earlier run already finished this order; nothing to tell anyone again.
    AlreadyDone,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// This try failed; the next may not (the panel is down, timed out, or refused for now).
    #[error(transparent)]
    Attempt(#[from] AttemptError),
    /// The order is not paid (nor being provisioned): there is nothing to make.
    #[error("order {order} is {status}, not paid")]
    NotPaid { order: OrderId, status: OrderStatus },
    #[error("order {0} does not exist")]
    NoSuchOrder(OrderId),
    #[error(transparent)]
    Rewards(#[from] rewards::RewardError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Points(#[from] points::PointsError),
}

/// Provisions `order`. `last_attempt`: when this try fails, refund instead of asking for
/// another.
pub async fn provision(
    db: &DatabaseConnection,
    order: OrderId,
    account_prefix: &str,
    last_attempt: bool,
    now: DateTime<Utc>,
) -> Result<Outcome, ProvisionError> {
    let row = orders::get(db, order)
        .await?
        .ok_or(ProvisionError::NoSuchOrder(order))?;
    match row.state() {
        OrderStatus::Fulfilled | OrderStatus::Refunded => return Ok(Outcome::AlreadyDone),
        OrderStatus::Paid => {
            orders::transition(db, order, OrderStatus::Provisioning, now).await?;
        }
        OrderStatus::Provisioning => {}
        status => return Err(ProvisionError::NotPaid { order, status }),
    }
    match attempt(db, &row, account_prefix, now).await {
        Ok(sub) => Ok(Outcome::Fulfilled(sub)),
        Err(failure) if last_attempt || failure.gives_up() => {
            let reason = failure.to_string();
            refund(db, &row, &reason, now).await?;
            Ok(Outcome::Refunded { reason })
        }
        Err(failure) => Err(failure.into()),
    }
}

/// Whether `order` is waiting out an outage: every panel it could go to is marked unhealthy by
/// the health check, and it was paid less than `outage` ago. Such an order is tried again
/// without burning its attempts, and refunded only once the outage lasted `outage`.
pub async fn waits_for_panel(
    db: &DatabaseConnection,
    order: OrderId,
    outage: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let Some(row) = orders::get(db, order).await? else {
        return Ok(false);
    };
    if row.paid_at.is_none_or(|at| now - at >= outage) {
        return Ok(false);
    }
    let all = match panels::panels(db).await {
        Ok(all) => all,
        Err(crate::panels::PanelStoreError::Db(e)) => return Err(e),
        Err(_) => return Ok(false),
    };
    let candidates: Vec<&Panel> = match row.subscription_id {
        Some(sub) if !row.kind.makes_account() => {
            let Some(sub) = subscriptions::Entity::find_by_id(sub).one(db).await? else {
                return Ok(false);
            };
            all.iter().filter(|p| p.id == sub.panel_id).collect()
        }
        _ => {
            let location = match row.location_id {
                Some(l) => Some(l),
                None => match row.plan_id {
                    Some(plan) => crate::catalog::plan(db, plan)
                        .await?
                        .and_then(|p| p.location_id),
                    None => None,
                },
            };
            all.iter()
                .filter(|p| p.enabled && Some(p.location_id) == location)
                .collect()
        }
    };
    Ok(!candidates.is_empty() && candidates.iter().all(|p| !p.healthy))
}

/// Why one try failed. Its text is what staff read on a refunded order.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The order lacks what its kind needs: a subscription, a location or a plan.
    #[error("the order names no {0}")]
    OrderLacks(&'static str),
    #[error("the {0} is gone")]
    Gone(&'static str),
    #[error("no enabled panel with room in this location")]
    NoRoom,
    /// A renewal or traffic pack for a subscription that was moved, deleted or never made.
    #[error("the subscription is {0}: there is no account to extend")]
    NotRenewable(&'static str),
    #[error("`{0}` is not an account name")]
    NotAnAccountName(String),
    #[error("subscription {0} has a malformed account key")]
    MalformedKey(SubscriptionId),
    #[error("the subscription has no account key")]
    NoAccountKey,
    #[error("another run attached a subscription first")]
    Raced,
    /// The panel refused or did not answer.
    #[error("panel {panel}: {error}")]
    Panel { panel: String, error: PanelError },
    /// The panel's stored configuration does not make a client.
    #[error("{0}")]
    Client(PanelError),
    #[error("{0}")]
    Name(#[from] marzban_client::AccountNameError),
    #[error("{0}")]
    Store(#[from] crate::panels::PanelStoreError),
    #[error("{0}")]
    Db(#[from] sea_orm::DbErr),
}

impl AttemptError {
    /// Trying again cannot help (the account name belongs to someone else): refund now.
    pub fn gives_up(&self) -> bool {
        matches!(
            self,
            AttemptError::Panel {
                error: PanelError::NotOurs,
                ..
            } | AttemptError::NotRenewable(_)
        )
    }
}

/// One try.
async fn attempt(
    db: &DatabaseConnection,
    order: &order_rows::Model,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<SubscriptionId, AttemptError> {
    let kind = order.kind;
    let sub = match kind {
        OrderKind::Purchase | OrderKind::Trial | OrderKind::Move => {
            new_subscription(db, order, prefix, now).await?
        }
        OrderKind::Renewal | OrderKind::AddTraffic => {
            let id = order
                .subscription_id
                .ok_or(AttemptError::OrderLacks("subscription"))?;
            let sub = subscriptions::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or(AttemptError::Gone("subscription"))?;
            // Moved elsewhere or deleted meanwhile: there is no account here to extend.
            if !sub.status.renewable() {
                return Err(AttemptError::NotRenewable(sub.status.as_str()));
            }
            sub
        }
    };
    let panel = panel_of(db, &sub).await?;
    let client = marzban_client::connect(panel.config.clone()).map_err(AttemptError::Client)?;
    let account = account_ref(&sub)?;
    let account = match kind {
        OrderKind::Purchase | OrderKind::Trial | OrderKind::Move => {
            let key = account.key.clone().ok_or(AttemptError::NoAccountKey)?;
            let spec = AccountSpec {
                name: account.name,
                data_limit_bytes: order.traffic_bytes.map(|b| b as u64),
                expires_at: Some(
                    sub.expires_at
                        .unwrap_or(now + TimeDelta::days(i64::from(order.duration_days))),
                ),
                note: format!("vpnshop customer {} order {}", order.customer_id, order.id),
                key,
            };
            client.ensure_account(&spec).await
        }
        OrderKind::Renewal | OrderKind::AddTraffic => {
            // The targets are computed once, from what the database held before this order,
            // and kept on the order: a retry sets the same values again even after a usage
            // refresh copied the panel's already-changed figures into the subscription.
            let (expires_at, limit) = targets(db, order, &sub, kind, now).await?;
            let limit = limit.map(|b| b as u64);
            let changed = match kind {
                OrderKind::Renewal => match client.set_expiry(&account, expires_at).await {
                    Ok(_) => client.set_data_limit(&account, limit).await,
                    Err(e) => Err(e),
                },
                _ => client.set_data_limit(&account, limit).await,
            };
            // An account the expiry job turned off comes back on with its renewal.
            match changed {
                Ok(_) if sub.status == SubscriptionStatus::Disabled => {
                    client.set_enabled(&account, true).await
                }
                other => other,
            }
        }
    }
    .map_err(|error| AttemptError::Panel {
        panel: panel.name.clone(),
        error,
    })?;

    let txn = crate::db::begin(db).await?;
    let mut am = subscriptions::ActiveModel::from(sub.clone());
    am.status = Set(SubscriptionStatus::Active);
    am.panel_status = Set(Some(account.status.into()));
    am.disabled_at = Set(None);
    am.expires_at = Set(account.expires_at);
    am.traffic_limit_bytes = Set(account.data_limit_bytes.map(|b| b as i64));
    am.used_bytes = Set(account.used_bytes as i64);
    am.subscription_url = Set(account
        .subscription_url
        .clone()
        .or(sub.subscription_url.clone()));
    am.usage_synced_at = Set(Some(now));
    am.updated_at = Set(now);
    am.update(&txn).await?;
    let id = order.id;
    if kind.makes_account() {
        // What was sold, kept on the order: reconciliation compares the panel with it.
        order_rows::Entity::update_many()
            .col_expr(order_rows::Column::TargetSet, true.into())
            .col_expr(
                order_rows::Column::TargetExpiresAt,
                account.expires_at.into(),
            )
            .col_expr(
                order_rows::Column::TargetLimitBytes,
                account.data_limit_bytes.map(|b| b as i64).into(),
            )
            .filter(order_rows::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    if orders::transition(&txn, id, OrderStatus::Fulfilled, now).await? {
        if kind == OrderKind::Move {
            // Delivered: the old account is turned off (a job, retried until the panel
            // answers) and the subscription lives on here.
            if let Some(old) = order.moved_from {
                crate::subscriptions::switch::retire(&txn, old, sub.id, now).await?;
            }
            notices::enqueue(&txn, &Notice::Fulfilled { order_id: id }, now).await?;
        } else {
            for notice in [
                Notice::Fulfilled { order_id: id },
                Notice::OrderRewards { order_id: id },
                Notice::SaleToStaff { order_id: id },
            ] {
                notices::enqueue(&txn, &notice, now).await?;
            }
        }
    }
    txn.commit().await?;
    Ok(sub.id)
}

/// What a renewal or traffic pack sets the account to: stored on the order before the first
/// panel call, then read from there by every retry.
async fn targets(
    db: &DatabaseConnection,
    order: &order_rows::Model,
    sub: &Subscription,
    kind: OrderKind,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, Option<i64>), AttemptError> {
    if order.target_set {
        return Ok((order.target_expires_at, order.target_limit_bytes));
    }
    let (expires_at, limit) = match kind {
        OrderKind::Renewal => {
            // Remaining days carry over, and the plan's traffic comes on top of what is unused.
            let from = sub.expires_at.filter(|&at| at > now).unwrap_or(now);
            let days = TimeDelta::days(i64::from(order.duration_days));
            (
                Some(from + days),
                renewed_limit(sub.traffic_limit_bytes, order.traffic_bytes),
            )
        }
        _ => (
            sub.expires_at,
            sub.traffic_limit_bytes
                .map(|l| l.saturating_add(order.traffic_bytes.unwrap_or(0))),
        ),
    };
    // Only the first run writes them; a concurrent one reads what won.
    order_rows::Entity::update_many()
        .col_expr(order_rows::Column::TargetSet, true.into())
        .col_expr(order_rows::Column::TargetExpiresAt, expires_at.into())
        .col_expr(order_rows::Column::TargetLimitBytes, limit.into())
        .filter(order_rows::Column::Id.eq(order.id))
        .filter(order_rows::Column::TargetSet.eq(false))
        .exec(db)
        .await?;
    let stored = order_rows::Entity::find_by_id(order.id)
        .one(db)
        .await?
        .ok_or(AttemptError::Gone("order"))?;
    Ok((stored.target_expires_at, stored.target_limit_bytes))
}

/// The traffic limit after a renewal: unlimited stays unlimited; otherwise the plan's traffic
/// is added to the current limit, so unused traffic is kept.
pub fn renewed_limit(current: Option<i64>, plan_traffic: Option<i64>) -> Option<i64> {
    match (current, plan_traffic) {
        (Some(limit), Some(extra)) => Some(limit.saturating_add(extra)),
        _ => None,
    }
}

/// The panel account a subscription stands for: its name and, for subscriptions made since keys
/// are kept, its key.
pub fn account_ref(sub: &Subscription) -> Result<AccountRef, AttemptError> {
    let name = AccountName::from_panel(&sub.panel_account)
        .ok_or_else(|| AttemptError::NotAnAccountName(sub.panel_account.clone()))?;
    let key = match (&sub.account_uuid, &sub.account_sub_id) {
        (Some(uuid), Some(sub_id)) => {
            Some(AccountKey::from_parts(uuid, sub_id).ok_or(AttemptError::MalformedKey(sub.id))?)
        }
        _ => None,
    };
    Ok(AccountRef { name, key })
}

async fn panel_of(db: &DatabaseConnection, sub: &Subscription) -> Result<Panel, AttemptError> {
    panels::panel(db, sub.panel_id)
        .await?
        .ok_or(AttemptError::Gone("subscription's panel"))
}

/// The subscription a purchase makes, saved (with its account name) before any panel call;
/// a replay finds it through the order.
async fn new_subscription(
    db: &DatabaseConnection,
    order: &order_rows::Model,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Subscription, AttemptError> {
    if let Some(id) = order.subscription_id {
        let row = subscriptions::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or(AttemptError::Gone("subscription"))?;
        if row.account_uuid.is_some() {
            return Ok(row);
        }
        // Saved before keys were kept and never provisioned: give it one now.
        let key = AccountKey::generate();
        let mut am = subscriptions::ActiveModel::from(row);
        am.account_uuid = Set(Some(key.uuid().to_string()));
        am.account_sub_id = Set(Some(key.sub_id().to_string()));
        return Ok(am.update(db).await?);
    }
    let location = order
        .location_id
        .ok_or(AttemptError::OrderLacks("location"))?;
    let plan = order.plan_id.ok_or(AttemptError::OrderLacks("plan"))?;
    let panel = panels::with_room(db, location, false)
        .await?
        .ok_or(AttemptError::NoRoom)?;
    let tag = crate::shop::identity(db).await?.account_tag(prefix);
    let key = AccountKey::generate();
    let txn = crate::db::begin(db).await?;
    let placeholder = format!("pending_{}", order.id);
    let row = subscriptions::Entity::insert(subscriptions::ActiveModel {
        customer_id: Set(order.customer_id),
        plan_id: Set(plan),
        panel_id: Set(panel.id),
        panel_account: Set(placeholder),
        status: Set(SubscriptionStatus::Provisioning),
        is_trial: Set(order.kind == OrderKind::Trial),
        traffic_limit_bytes: Set(order.traffic_bytes),
        used_bytes: Set(0),
        // A move keeps the subscription's expiry; a purchase starts its days now.
        expires_at: Set(match order.kind {
            OrderKind::Move => order.target_expires_at,
            _ => Some(now + TimeDelta::days(i64::from(order.duration_days))),
        }),
        subscription_url: Set(None),
        usage_synced_at: Set(None),
        account_uuid: Set(Some(key.uuid().to_string())),
        account_sub_id: Set(Some(key.sub_id().to_string())),
        updated_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    let name = AccountName::derive(&tag, order.customer_id.get(), row.id.get())?;
    let mut am = subscriptions::ActiveModel::from(row);
    am.panel_account = Set(name.to_string());
    let row = am.update(&txn).await?;
    // Only the first run gets to attach it: a concurrent replay leaves no orphan.
    let attached = order_rows::Entity::update_many()
        .col_expr(order_rows::Column::SubscriptionId, Some(row.id).into())
        .filter(order_rows::Column::Id.eq(order.id))
        .filter(order_rows::Column::SubscriptionId.is_null())
        .exec(&txn)
        .await?;
    if attached.rows_affected != 1 {
        return Err(AttemptError::Raced);
    }
    txn.commit().await?;
    Ok(row)
}

/// Gives the customer back what the order took, once: the money into the wallet (whatever
/// paid it), the points as new points, and marks the order refunded.
async fn refund(
    db: &DatabaseConnection,
    order: &order_rows::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), ProvisionError> {
    let txn = crate::db::begin(db).await?;
    let id = order.id;
    if !orders::transition(&txn, id, OrderStatus::Refunded, now).await? {
        return Ok(());
    }
    notices::enqueue(&txn, &Notice::Refunded { order_id: id }, now).await?;
    rewards::take_back(&txn, id, now).await?;
    if let (OrderKind::Move, Some(old)) = (order.kind, order.moved_from) {
        // The move did not happen: the subscription may be moved again at once.
        crate::subscriptions::switch::release(&txn, old).await?;
    }
    let customer = order.customer_id;
    let memo = |key: &str| Memo {
        idempotency_key: Some(format!("order:{}:{key}", order.id)),
        order_id: Some(id),
        text: reason.chars().take(200).collect(),
        ..Memo::default()
    };
    if order.total_minor > 0 {
        let amount = order.total();
        ledger::credit_wallet(
            &txn,
            customer,
            amount,
            &SystemAccount::Revenue,
            TxKind::Refund,
            memo("refund"),
            now,
        )
        .await?;
    }
    if order.points_used > 0 {
        points::earn(
            &txn,
            customer,
            order.points_used,
            None,
            memo("refund_points"),
            now,
        )
        .await?;
    }
    order_rows::Entity::update_many()
        .col_expr(order_rows::Column::Failure, Some(reason.to_string()).into())
        .filter(order_rows::Column::Id.eq(order.id))
        .exec(&txn)
        .await?;
    if let Some(sub) = order.subscription_id
        && order.kind.makes_account()
    {
        subscriptions::Entity::update_many()
            .col_expr(
                subscriptions::Column::Status,
                SubscriptionStatus::Failed.into(),
            )
            .filter(subscriptions::Column::Id.eq(sub))
            .exec(&txn)
            .await?;
        // A try whose answer was lost may have made the account after all: the customer got
        // the money back, so it must not keep working. Done by a job, as the panel may be down.
        crate::jobs::enqueue(
            &txn,
            crate::jobs::NewJob::of(
                &DisableRefunded {
                    subscription_id: sub,
                },
                now,
            )
            .dedupe(format!("{DISABLE_JOB}:{sub}")),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The job that turns off the panel account of a refunded purchase, if it exists.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct DisableRefunded {
    pub subscription_id: SubscriptionId,
}

impl crate::jobs::Payload for DisableRefunded {
    const KIND: &'static str = "disable_refunded_account";
}

pub const DISABLE_JOB: &str = <DisableRefunded as crate::jobs::Payload>::KIND;

/// Turns off the account a refunded purchase may have made. An account that was never made, or
/// that is not the shop's, is left alone; a panel that does not answer is tried again later.
pub async fn disable_refunded(
    db: &DatabaseConnection,
    subscription: SubscriptionId,
) -> Result<(), ProvisionError> {
    let Some(sub) = subscriptions::Entity::find_by_id(subscription)
        .one(db)
        .await?
        .filter(|s| s.status == SubscriptionStatus::Failed)
    else {
        return Ok(());
    };
    let Ok(account) = account_ref(&sub) else {
        // Never got a name: nothing was asked of any panel.
        return Ok(());
    };
    let panel = panel_of(db, &sub).await?;
    let client = marzban_client::connect(panel.config.clone()).map_err(AttemptError::Client)?;
    match client.set_enabled(&account, false).await {
        Ok(_) | Err(PanelError::NotFound | PanelError::NotOurs) => Ok(()),
        Err(error) => Err(AttemptError::Panel {
            panel: panel.name.clone(),
            error,
        }
        .into()),
    }
}

/// The customer's subscriptions, newest first (failed, deleted and moved ones left out).
pub async fn of_customer(
    db: &impl ConnectionTrait,
    customer: CustomerId,
) -> Result<Vec<Subscription>, sea_orm::DbErr> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::CustomerId.eq(customer))
        .filter(subscriptions::Column::Status.is_not_in([
            SubscriptionStatus::Failed,
            SubscriptionStatus::Deleted,
            SubscriptionStatus::Moved,
        ]))
        .order_by_desc(subscriptions::Column::Id)
        .all(db)
        .await
}
