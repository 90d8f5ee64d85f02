//! Expiry: an account that expired is turned off on its panel after the grace period, and
//! deleted after the longer one (when deletion is on). Only accounts the shop provably made are
//! touched: the name must be the one the shop derives for this very customer and subscription
//! (`<prefix><shop>_<customer>_<subscription>`), and the panel is asked again before anything is
//! changed, so an account extended on the panel by hand, or one waiting on hold for its first
//! use, is left alone and its new figures are kept.
use chrono::{DateTime, Utc};
use marzban_client::{AccountName, AccountStatus, PanelError};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use super::rules::LifeRules;
use super::{PanelState, Subscription, SubscriptionStatus};
use crate::entities::{orders as order_rows, subscriptions};
use crate::orders::OrderStatus;
use crate::panels;
use crate::provisioning;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    pub disabled: u64,
    pub deleted: u64,
    /// Found extended or on hold on the panel: its figures were updated instead.
    pub kept: u64,
    /// Not the shop's by name, or the panel did not answer: left for later (or for ever).
    pub skipped: u64,
}

/// What happened to one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Disabled,
    Deleted,
    Kept,
    Skipped,
}

/// Turns off and deletes what is due.
pub async fn run(
    db: &DatabaseConnection,
    rules: &LifeRules,
    account_prefix: &str,
    now: DateTime<Utc>,
) -> Result<ExpiryReport, DbErr> {
    let tag = crate::shop::identity(db).await?.account_tag(account_prefix);
    let mut report = ExpiryReport::default();
    let to_disable = subscriptions::Entity::find()
        .filter(subscriptions::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscriptions::Column::ExpiresAt.lte(now - rules.disable_after))
        .all(db)
        .await?;
    let mut to_delete = Vec::new();
    if let Some(after) = rules.delete_after {
        to_delete = subscriptions::Entity::find()
            .filter(subscriptions::Column::Status.eq(SubscriptionStatus::Disabled))
            .filter(subscriptions::Column::ExpiresAt.lte(now - after))
            .all(db)
            .await?;
    }
    for (sub, delete) in to_disable
        .into_iter()
        .map(|s| (s, false))
        .chain(to_delete.into_iter().map(|s| (s, true)))
    {
        let threshold = if delete {
            rules.delete_after.unwrap_or(rules.disable_after)
        } else {
            rules.disable_after
        };
        match step(db, &sub, &tag, delete, threshold, now).await? {
            Step::Disabled => report.disabled += 1,
            Step::Deleted => report.deleted += 1,
            Step::Kept => report.kept += 1,
            Step::Skipped => report.skipped += 1,
        }
    }
    Ok(report)
}

/// Whether `sub`'s account name is the one this shop derives for it.
pub fn provably_ours(sub: &Subscription, tag: &str) -> bool {
    matches!(
        AccountName::parse_ours(tag, &sub.panel_account),
        Ok((_, customer, id)) if customer == sub.customer_id.get() && id == sub.id.get()
    )
}

/// Moves `sub` from `from` to `to` only if nobody changed it since it was read (its status
/// and expiry as read): whether this run now holds it.
async fn claim(
    db: &DatabaseConnection,
    sub: &Subscription,
    from: SubscriptionStatus,
    to: SubscriptionStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::Status, to.as_str().into())
        .col_expr(subscriptions::Column::UpdatedAt, now.into())
        .filter(subscriptions::Column::Id.eq(sub.id))
        .filter(subscriptions::Column::Status.eq(from));
    q = match sub.expires_at {
        Some(at) => q.filter(subscriptions::Column::ExpiresAt.eq(at)),
        None => q.filter(subscriptions::Column::ExpiresAt.is_null()),
    };
    Ok(q.exec(db).await?.rows_affected == 1)
}

async fn step(
    db: &DatabaseConnection,
    sub: &Subscription,
    tag: &str,
    delete: bool,
    threshold: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Step, DbErr> {
    if !provably_ours(sub, tag) || sub.panel_status == Some(PanelState::OnHold) {
        return Ok(Step::Skipped);
    }
    let (from, to) = if delete {
        (SubscriptionStatus::Disabled, SubscriptionStatus::Deleted)
    } else {
        (SubscriptionStatus::Active, SubscriptionStatus::Disabled)
    };
    // The subscription is claimed before anything else: a renewal paid from here on sees it
    // turned off and turns it back on; one paid before is seen below and wins.
    if !claim(db, sub, from, to, now).await? {
        return Ok(Step::Skipped);
    }
    let claimed = Subscription {
        status: to,
        ..sub.clone()
    };
    let undo = || claim(db, &claimed, to, from, now);
    let renewing = order_rows::Entity::find()
        .filter(order_rows::Column::SubscriptionId.eq(sub.id))
        .filter(order_rows::Column::Status.is_in([OrderStatus::Paid, OrderStatus::Provisioning]))
        .one(db)
        .await?
        .is_some();
    let connected = match (renewing, panels::panel(db, sub.panel_id).await) {
        (false, Ok(Some(panel))) => match (
            provisioning::account_ref(sub),
            marzban_client::connect(panel.config.clone()),
        ) {
            (Ok(account), Ok(client)) => Some((account, client)),
            _ => None,
        },
        _ => None,
    };
    let Some((account, client)) = connected else {
        undo().await?;
        return Ok(Step::Skipped);
    };
    // The panel has the last word on expiry: read it again right before acting.
    let current = match client.account(&account).await {
        Ok(a) => Some(a),
        Err(PanelError::NotFound) => None,
        Err(e) => {
            tracing::warn!(subscription = %sub.id, error = %e, "expiry: panel did not answer");
            undo().await?;
            return Ok(Step::Skipped);
        }
    };
    if let Some(current) = &current {
        let extended = current.expires_at.is_none_or(|at| at > now - threshold);
        if extended || current.status == AccountStatus::OnHold {
            undo().await?;
            subscriptions::Entity::update_many()
                .col_expr(subscriptions::Column::ExpiresAt, current.expires_at.into())
                .col_expr(
                    subscriptions::Column::PanelStatus,
                    Some(PanelState::from(current.status).as_str()).into(),
                )
                .col_expr(subscriptions::Column::UpdatedAt, now.into())
                .filter(subscriptions::Column::Id.eq(sub.id))
                .filter(subscriptions::Column::Status.eq(from))
                .exec(db)
                .await?;
            return Ok(Step::Kept);
        }
    }
    let done = match (delete, &current) {
        (_, None) => Ok(()),
        (false, Some(_)) => client.set_enabled(&account, false).await.map(|_| ()),
        (true, Some(_)) => client.delete(&account).await,
    };
    if let Err(e) = done {
        tracing::warn!(subscription = %sub.id, error = %e, "expiry: panel refused");
        undo().await?;
        return Ok(Step::Skipped);
    }
    // A renewal paid while the account was being turned off may have turned it on before this
    // run turned it off: it goes back on.
    let paid_meanwhile = order_rows::Entity::find()
        .filter(order_rows::Column::SubscriptionId.eq(sub.id))
        .filter(order_rows::Column::PaidAt.gte(now))
        .one(db)
        .await?
        .is_some();
    if paid_meanwhile && !delete {
        if let Err(e) = client.set_enabled(&account, true).await {
            tracing::warn!(subscription = %sub.id, error = %e, "expiry: could not turn a renewed account back on");
        }
        return Ok(Step::Kept);
    }
    let txn = crate::db::begin(db).await?;
    let mut am = subscriptions::ActiveModel::from(claimed.clone());
    let (step, action) = if delete {
        am.deleted_at = Set(Some(now));
        (Step::Deleted, "subscription.deleted")
    } else {
        am.disabled_at = Set(Some(now));
        am.panel_status = Set(Some(PanelState::Disabled));
        (Step::Disabled, "subscription.disabled")
    };
    am.updated_at = Set(now);
    am.update(&txn).await?;
    crate::audit::Entry::new(None, action)
        .target(format!("subscription:{}", sub.id))
        .customer(sub.customer_id)
        .change(from.as_str(), to.as_str())
        .details(format!(
            "expired {}",
            sub.expires_at.map(|at| at.to_rfc3339()).unwrap_or_default()
        ))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(step)
}
