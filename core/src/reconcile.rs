//! Reconciliation with the panels: what the shop sold, compared with what the panels hold.
//!
//! [`diff`] reads every enabled panel (its list calls, as the usage sync does) and reports drift
//! without changing anything: a subscription whose account is missing, one whose expiry, limit
//! or on/off state differs from what its last fulfilled order set, and accounts that carry this
//! shop's own name pattern but that the shop does not know (left over from a failed attempt, a
//! restored backup…). [`repair`] fixes one item an admin approved — read again from the panel
//! right then, so a stale list repairs nothing — and audits it. Accounts whose names are not
//! this shop's are never listed and never touched.
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use marzban_client::{Account, AccountName, AccountRef, AccountSpec, AccountStatus, PanelError};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::audit::Entry;
use crate::entities::{orders as order_rows, subscriptions};
use crate::ids::{PanelId, SubscriptionId, TelegramId};
use crate::orders::OrderStatus;
use crate::panels::{self, Panel};
use crate::provisioning;
use crate::subscriptions::{PanelState, Subscription, SubscriptionStatus};

/// Expiries closer than this are the same (Hiddify keeps days, not seconds).
const EXPIRY_SLACK: Duration = Duration::days(1);
/// Limits closer than this are the same (panels that keep GB with decimals round).
const LIMIT_SLACK: i64 = 1 << 20;

/// One way a panel account and the shop disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    Expiry {
        shop: Option<DateTime<Utc>>,
        panel: Option<DateTime<Utc>>,
    },
    Limit {
        shop: Option<i64>,
        panel: Option<i64>,
    },
    /// The shop's subscription runs; the panel has the account turned off.
    ShouldBeOn,
    /// The shop turned it off (expired, moved, refunded); the panel has it on.
    ShouldBeOff,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// The subscription should have an account on its panel and there is none.
    Missing { sub: SubscriptionId },
    /// The account differs from what the shop sold.
    Differs {
        sub: SubscriptionId,
        what: Vec<Difference>,
    },
    /// An account with this shop's name pattern that no running subscription of the shop's
    /// stands for.
    Unknown { panel: PanelId, account: String },
}

impl Drift {
    /// A short, stable name for the item: what an approval carries (and is checked again).
    pub fn key(&self) -> String {
        match self {
            Drift::Missing { sub } => format!("m:{sub}"),
            Drift::Differs { sub, .. } => format!("d:{sub}"),
            Drift::Unknown { panel, account } => format!("u:{panel}:{account}"),
        }
    }

    /// What the repair does, in one line (for the audit log and the command line).
    pub fn describe(&self) -> String {
        let day = |d: &Option<DateTime<Utc>>| {
            d.map_or("never".to_string(), |d| d.format("%Y-%m-%d").to_string())
        };
        let gb = |b: &Option<i64>| {
            b.map_or("unlimited".to_string(), |b| {
                let tenths = b.saturating_mul(10) / (1 << 30);
                format!("{}.{} GB", tenths / 10, tenths % 10)
            })
        };
        match self {
            Drift::Missing { sub } => format!("subscription {sub}: no account on its panel"),
            Drift::Unknown { account, .. } => {
                format!("account {account}: the shop has no running subscription for it")
            }
            Drift::Differs { sub, what } => {
                let parts: Vec<String> = what
                    .iter()
                    .map(|d| match d {
                        Difference::Expiry { shop, panel } => {
                            format!("expiry {} on the panel, {} sold", day(panel), day(shop))
                        }
                        Difference::Limit { shop, panel } => {
                            format!("limit {} on the panel, {} sold", gb(panel), gb(shop))
                        }
                        Difference::ShouldBeOn => "off on the panel, should be on".into(),
                        Difference::ShouldBeOff => "on on the panel, should be off".into(),
                    })
                    .collect();
                format!("subscription {sub}: {}", parts.join("; "))
            }
        }
    }
}

/// One item of the diff, with the panel it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub panel: String,
    pub drift: Drift,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Panels read to the end.
    pub panels: Vec<String>,
    /// Panels that could not be read, with why (nothing is reported for them).
    pub failed: Vec<(String, String)>,
    pub found: Vec<Found>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("`{0}` is not an item of the diff")]
    BadKey(String),
    /// Read again, the item is in order now (repaired meanwhile, or the list was stale).
    #[error("nothing to repair any more")]
    NothingToDo,
    #[error("subscription {0} has no account key: it cannot be made again")]
    NoKey(SubscriptionId),
    #[error("{0}")]
    Panel(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The shop's account-name tag (`<prefix><shop id>`).
async fn tag(db: &DatabaseConnection, prefix: &str) -> Result<String, DbErr> {
    Ok(crate::shop::identity(db).await?.account_tag(prefix))
}

/// What the shop sold for `sub`: the expiry and limit its last fulfilled order set, or the
/// subscription's own figures when no order says.
pub async fn sold(
    db: &DatabaseConnection,
    sub: &Subscription,
) -> Result<(Option<DateTime<Utc>>, Option<i64>), DbErr> {
    let last = order_rows::Entity::find()
        .filter(order_rows::Column::SubscriptionId.eq(sub.id))
        .filter(order_rows::Column::Status.eq(OrderStatus::Fulfilled))
        .filter(order_rows::Column::TargetSet.eq(true))
        .order_by_desc(order_rows::Column::FulfilledAt)
        .order_by_desc(order_rows::Column::Id)
        .one(db)
        .await?;
    Ok(match last {
        Some(o) => (o.target_expires_at, o.target_limit_bytes),
        None => (sub.expires_at, sub.traffic_limit_bytes),
    })
}

/// The drift of one subscription against its account as read (`None`: no account).
async fn drift_of(
    db: &DatabaseConnection,
    sub: &Subscription,
    account: Option<&Account>,
    now: DateTime<Utc>,
) -> Result<Option<Drift>, DbErr> {
    let runs = sub.status == SubscriptionStatus::Active;
    let off = matches!(
        sub.status,
        SubscriptionStatus::Disabled | SubscriptionStatus::Moved | SubscriptionStatus::Failed
    );
    let Some(account) = account else {
        return Ok(runs.then_some(Drift::Missing { sub: sub.id }));
    };
    // Can it connect now? 3x-UI switches an expired or used-up client off itself and reports
    // it by that reason, so only these two count as "on".
    let can_connect = matches!(
        account.status,
        AccountStatus::Active | AccountStatus::OnHold
    );
    let mut what = Vec::new();
    if runs {
        let (expiry, limit) = sold(db, sub).await?;
        let panel_limit = account
            .data_limit_bytes
            .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        let expiry_differs = match (expiry, account.expires_at) {
            (Some(a), Some(b)) => (a - b).abs() > EXPIRY_SLACK,
            (None, None) => false,
            // On hold: the panel starts the time at first use.
            (Some(_), None) => account.status != AccountStatus::OnHold,
            (None, Some(_)) => true,
        };
        if expiry_differs {
            what.push(Difference::Expiry {
                shop: expiry,
                panel: account.expires_at,
            });
        }
        let limit_differs = match (limit, panel_limit) {
            (Some(a), Some(b)) => (a - b).abs() > LIMIT_SLACK,
            (None, None) => false,
            _ => true,
        };
        if limit_differs {
            what.push(Difference::Limit {
                shop: limit,
                panel: panel_limit,
            });
        }
        let still_sold = expiry.is_none_or(|at| at > now);
        if account.status == AccountStatus::Disabled && still_sold {
            what.push(Difference::ShouldBeOn);
        }
    } else if off && can_connect {
        what.push(Difference::ShouldBeOff);
    }
    Ok((!what.is_empty()).then_some(Drift::Differs { sub: sub.id, what }))
}

/// The dry run: every panel read, nothing changed.
pub async fn diff(
    db: &DatabaseConnection,
    prefix: &str,
    page: u64,
    parallel: usize,
    now: DateTime<Utc>,
) -> Result<Report, DbErr> {
    let tag = tag(db, prefix).await?;
    let all = match panels::panels(db).await {
        Ok(all) => all,
        Err(panels::PanelStoreError::Db(e)) => return Err(e),
        Err(e) => return Err(DbErr::Custom(e.to_string())),
    };
    let mut report = Report::default();
    for panel in all.iter().filter(|p| p.enabled) {
        let listed = match marzban_client::connect(panel.config.clone()) {
            Ok(client) => client.all_accounts(page, parallel).await,
            Err(e) => Err(e),
        };
        let accounts = match listed {
            Ok(a) => a,
            Err(e) => {
                report.failed.push((panel.name.clone(), e.to_string()));
                continue;
            }
        };
        // Only this shop's names: another shop's (or the operator's) are none of its business.
        let mut ours: HashMap<String, Account> = accounts
            .into_iter()
            .filter(|a| AccountName::parse_ours(&tag, a.name.as_str()).is_ok())
            .map(|a| (a.name.as_str().to_string(), a))
            .collect();
        let subs = subscriptions::Entity::find()
            .filter(subscriptions::Column::PanelId.eq(panel.id))
            .order_by_asc(subscriptions::Column::Id)
            .all(db)
            .await?;
        for sub in &subs {
            let account = ours.remove(&sub.panel_account);
            if !crate::subscriptions::expiry::provably_ours(sub, &tag) {
                continue;
            }
            // A deleted subscription's account is gone by design; one that is back is unknown.
            if sub.status == SubscriptionStatus::Deleted
                || sub.status == SubscriptionStatus::Provisioning
            {
                if let Some(a) = account {
                    ours.insert(a.name.as_str().to_string(), a);
                }
                continue;
            }
            if let Some(drift) = drift_of(db, sub, account.as_ref(), now).await? {
                report.found.push(Found {
                    panel: panel.name.clone(),
                    drift,
                });
            }
        }
        let mut unknown: Vec<String> = ours
            .into_iter()
            .filter(|(_, a)| a.status != AccountStatus::Disabled)
            .map(|(name, _)| name)
            .collect();
        unknown.sort();
        // Accounts still being made are not drift: their subscription is provisioning.
        let making: Vec<String> = subs
            .iter()
            .filter(|s| s.status == SubscriptionStatus::Provisioning)
            .map(|s| s.panel_account.clone())
            .collect();
        for account in unknown.into_iter().filter(|a| !making.contains(a)) {
            report.found.push(Found {
                panel: panel.name.clone(),
                drift: Drift::Unknown {
                    panel: panel.id,
                    account,
                },
            });
        }
        report.panels.push(panel.name.clone());
    }
    Ok(report)
}

/// Repairs the item `key` names, after reading it again from its panel; audited under `by`
/// (`None`: the command line). Returns what was done.
pub async fn repair(
    db: &DatabaseConnection,
    prefix: &str,
    key: &str,
    by: Option<TelegramId>,
    now: DateTime<Utc>,
) -> Result<String, RepairError> {
    let bad = || RepairError::BadKey(key.to_string());
    let panel_err = |p: &Panel, e: PanelError| RepairError::Panel(format!("{}: {e}", p.name));
    let tag = tag(db, prefix).await?;
    let (kind, rest) = key.split_once(':').ok_or_else(bad)?;
    let done = match kind {
        "m" | "d" => {
            let id = SubscriptionId::new(rest.parse().map_err(|_| bad())?);
            let sub = subscriptions::Entity::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(bad)?;
            // Only accounts named by this shop for this very subscription, ever.
            if !crate::subscriptions::expiry::provably_ours(&sub, &tag) {
                return Err(bad());
            }
            let panel = panel_of(db, &sub).await?;
            let client =
                marzban_client::connect(panel.config.clone()).map_err(|e| panel_err(&panel, e))?;
            let account =
                provisioning::account_ref(&sub).map_err(|e| RepairError::Panel(e.to_string()))?;
            let current = match client.account(&account).await {
                Ok(a) => Some(a),
                Err(PanelError::NotFound) => None,
                Err(e) => return Err(panel_err(&panel, e)),
            };
            let drift = drift_of(db, &sub, current.as_ref(), now)
                .await?
                .filter(|d| d.key() == key)
                .ok_or(RepairError::NothingToDo)?;
            let (expiry, limit) = sold(db, &sub).await?;
            let limit_u = limit.map(|b| u64::try_from(b).unwrap_or(0));
            let fixed = match &drift {
                Drift::Missing { .. } => {
                    let key = account.key.clone().ok_or(RepairError::NoKey(sub.id))?;
                    client
                        .ensure_account(&AccountSpec {
                            name: account.name.clone(),
                            data_limit_bytes: limit_u,
                            expires_at: expiry,
                            note: format!("vpnshop customer {} (made again)", sub.customer_id),
                            key,
                        })
                        .await
                }
                Drift::Differs { what, .. } => {
                    let mut last = current.clone().ok_or(RepairError::NothingToDo)?;
                    for d in what {
                        last = match d {
                            Difference::Expiry { .. } => client.set_expiry(&account, expiry).await,
                            Difference::Limit { .. } => {
                                client.set_data_limit(&account, limit_u).await
                            }
                            Difference::ShouldBeOn => client.set_enabled(&account, true).await,
                            Difference::ShouldBeOff => client.set_enabled(&account, false).await,
                        }
                        .map_err(|e| panel_err(&panel, e))?;
                    }
                    Ok(last)
                }
                Drift::Unknown { .. } => unreachable!("keys m: and d: name subscriptions"),
            }
            .map_err(|e| panel_err(&panel, e))?;
            if sub.status == SubscriptionStatus::Active {
                let mut am = subscriptions::ActiveModel::from(sub.clone());
                am.expires_at = Set(fixed.expires_at);
                am.traffic_limit_bytes = Set(fixed
                    .data_limit_bytes
                    .map(|b| i64::try_from(b).unwrap_or(i64::MAX)));
                am.panel_status = Set(Some(PanelState::from(fixed.status)));
                am.updated_at = Set(now);
                am.update(db).await?;
            }
            drift.describe()
        }
        "u" => {
            let (panel_id, name) = rest.split_once(':').ok_or_else(bad)?;
            let panel_id = PanelId::new(panel_id.parse().map_err(|_| bad())?);
            // Only this shop's own names, ever.
            let (name, _, _) = AccountName::parse_ours(&tag, name).map_err(|_| bad())?;
            let panel = panels::panel(db, panel_id)
                .await
                .map_err(|e| RepairError::Panel(e.to_string()))?
                .ok_or_else(bad)?;
            let known = subscriptions::Entity::find()
                .filter(subscriptions::Column::PanelId.eq(panel_id))
                .filter(subscriptions::Column::PanelAccount.eq(name.as_str()))
                .filter(subscriptions::Column::Status.is_in([
                    SubscriptionStatus::Active,
                    SubscriptionStatus::Disabled,
                    SubscriptionStatus::Moved,
                    SubscriptionStatus::Failed,
                    SubscriptionStatus::Provisioning,
                ]))
                .one(db)
                .await?;
            if known.is_some() {
                return Err(RepairError::NothingToDo);
            }
            let client =
                marzban_client::connect(panel.config.clone()).map_err(|e| panel_err(&panel, e))?;
            let account = AccountRef::from(name.clone());
            match client.account(&account).await {
                Ok(a) if a.status != AccountStatus::Disabled => {}
                Ok(_) | Err(PanelError::NotFound) => return Err(RepairError::NothingToDo),
                Err(e) => return Err(panel_err(&panel, e)),
            }
            client
                .set_enabled(&account, false)
                .await
                .map_err(|e| panel_err(&panel, e))?;
            format!(
                "account {name} on {}: turned off (the shop has no subscription for it)",
                panel.name
            )
        }
        _ => return Err(bad()),
    };
    let txn = crate::db::begin(db).await?;
    Entry::new(by, "reconcile.repair")
        .target(key.chars().take(64).collect::<String>())
        .details(done.clone())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(done)
}

async fn panel_of(db: &DatabaseConnection, sub: &Subscription) -> Result<Panel, RepairError> {
    panels::panel(db, sub.panel_id)
        .await
        .map_err(|e| RepairError::Panel(e.to_string()))?
        .ok_or_else(|| RepairError::Panel("the subscription's panel is gone".into()))
}
