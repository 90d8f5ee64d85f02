//! The usage sync: every subscription's used traffic, limit, expiry, panel state and last-online
//! time, read from its panel in bulk. Each panel is listed with its paged list calls (a few at
//! once, never one call per account) and all panels are read side by side, so a slow or dead
//! panel holds up no other: it is skipped, reported, and read again at the next run.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use marzban_client::Account;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use super::rules::LifeRules;
use super::{PanelState, SubscriptionStatus};
use crate::entities::subscriptions;
use crate::ids::SubscriptionId;
use crate::panels::{self, Panel};

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Panels read to the end.
    pub panels: usize,
    /// Panels that could not be read, with why: their subscriptions keep their figures.
    pub failed: Vec<(String, String)>,
    /// The shop's accounts found on the panels that were read.
    pub accounts: u64,
    /// Subscriptions whose figures changed.
    pub changed: u64,
    /// Subscriptions the shop has on a panel that was read, with no account there (for
    /// reconciliation to look at).
    pub missing: u64,
}

/// The figures the sync compares and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    used: i64,
    limit: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    online_at: Option<DateTime<Utc>>,
    state: Option<PanelState>,
}

impl Figures {
    fn of(account: &Account) -> Self {
        Figures {
            used: i64::try_from(account.used_bytes).unwrap_or(i64::MAX),
            limit: account
                .data_limit_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            expires_at: account.expires_at,
            online_at: account.online_at,
            state: Some(account.status.into()),
        }
    }
}

/// Reads every enabled panel and writes what changed.
pub async fn sync_all(
    db: &DatabaseConnection,
    rules: &LifeRules,
    now: DateTime<Utc>,
) -> Result<SyncReport, DbErr> {
    let panels = match panels::panels(db).await {
        Ok(all) => all.into_iter().filter(|p| p.enabled).collect::<Vec<_>>(),
        Err(crate::panels::PanelStoreError::Db(e)) => return Err(e),
        Err(e) => return Err(DbErr::Custom(e.to_string())),
    };
    let runs = join_all(panels.iter().map(|p| sync_panel(db, p, rules, now))).await;
    let mut report = SyncReport::default();
    for (panel, run) in panels.iter().zip(runs) {
        match run {
            Ok(Ok(one)) => {
                report.panels += 1;
                report.accounts += one.accounts;
                report.changed += one.changed;
                report.missing += one.missing;
            }
            Ok(Err(why)) => {
                tracing::warn!(panel = %panel.name, error = %why, "usage sync skipped a panel");
                report.failed.push((panel.name.clone(), why));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// One panel: `Ok(Err(why))` when the panel could not be read (nothing is written for it).
async fn sync_panel(
    db: &DatabaseConnection,
    panel: &Panel,
    rules: &LifeRules,
    now: DateTime<Utc>,
) -> Result<Result<SyncReport, String>, DbErr> {
    let client = match marzban_client::connect(panel.config.clone()) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // The shop's side first: a renewal written after this read changes `updated_at`, and the
    // write below then leaves that row alone.
    let known = known_on(db, panel).await?;
    let accounts = match client.all_accounts(rules.page_size, rules.parallel).await {
        Ok(a) => a,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut seen = Vec::with_capacity(accounts.len());
    let mut changes = Vec::new();
    for account in &accounts {
        let Some((id, read_at, before)) = known.get(account.name.as_str()) else {
            continue;
        };
        seen.push(*id);
        let after = Figures::of(account);
        // A panel that forgets when an account was last online does not erase what was known.
        let after = Figures {
            online_at: after.online_at.or(before.online_at),
            ..after
        };
        if &after != before {
            changes.push((*id, *read_at, after));
        }
    }
    let report = SyncReport {
        panels: 1,
        failed: Vec::new(),
        accounts: seen.len() as u64,
        changed: changes.len() as u64,
        missing: known.len().saturating_sub(seen.len()) as u64,
    };
    write(db, &changes, &seen, now).await?;
    Ok(Ok(report))
}

/// The shop's subscriptions on `panel` whose account should exist, by account name.
async fn known_on(
    db: &DatabaseConnection,
    panel: &Panel,
) -> Result<HashMap<String, (SubscriptionId, DateTime<Utc>, Figures)>, DbErr> {
    type Row = (
        SubscriptionId,
        String,
        i64,
        Option<i64>,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        Option<PanelState>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = subscriptions::Entity::find()
        .select_only()
        .columns([
            subscriptions::Column::Id,
            subscriptions::Column::PanelAccount,
            subscriptions::Column::UsedBytes,
            subscriptions::Column::TrafficLimitBytes,
            subscriptions::Column::ExpiresAt,
            subscriptions::Column::OnlineAt,
            subscriptions::Column::PanelStatus,
            subscriptions::Column::UpdatedAt,
        ])
        .filter(subscriptions::Column::PanelId.eq(panel.id))
        .filter(
            subscriptions::Column::Status
                .is_in([SubscriptionStatus::Active, SubscriptionStatus::Disabled]),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, used, limit, expires_at, online_at, state, updated_at)| {
                (
                    name,
                    (
                        id,
                        updated_at,
                        Figures {
                            used,
                            limit,
                            expires_at,
                            online_at,
                            state,
                        },
                    ),
                )
            },
        )
        .collect())
}

/// Rows per statement when marking what was read.
const CHUNK: usize = 500;

/// Writes the changed figures (unless the row changed since it was read) and marks every
/// account read as read now, in one transaction.
async fn write(
    db: &DatabaseConnection,
    changes: &[(SubscriptionId, DateTime<Utc>, Figures)],
    seen: &[SubscriptionId],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for (id, read_at, f) in changes {
        subscriptions::Entity::update_many()
            .col_expr(subscriptions::Column::UsedBytes, Expr::value(f.used))
            .col_expr(
                subscriptions::Column::TrafficLimitBytes,
                Expr::value(f.limit),
            )
            .col_expr(subscriptions::Column::ExpiresAt, Expr::value(f.expires_at))
            .col_expr(subscriptions::Column::OnlineAt, Expr::value(f.online_at))
            .col_expr(
                subscriptions::Column::PanelStatus,
                Expr::value(f.state.map(|s| s.as_str())),
            )
            .col_expr(subscriptions::Column::UpdatedAt, Expr::value(now))
            .filter(subscriptions::Column::Id.eq(*id))
            // Changed since it was read (a renewal just made): its new figures stand.
            .filter(subscriptions::Column::UpdatedAt.eq(*read_at))
            .exec(&txn)
            .await?;
    }
    for chunk in seen.chunks(CHUNK) {
        subscriptions::Entity::update_many()
            .col_expr(subscriptions::Column::UsageSyncedAt, Expr::value(now))
            .filter(subscriptions::Column::Id.is_in(chunk.iter().copied()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}
