//! The jobs that need no Telegram, registered here once: making paid orders' accounts, turning
//! off refunded ones, reading usage from the panels, and housekeeping (quotes that ran out,
//! points whose time is up). The bot adds the ones that talk to
//! people (notices, the payments sweep) to the same runner.
use std::sync::Arc;

use crate::clock::Clock;
use crate::jobs::{JobError, Recurring, Runner};
use crate::money::Currency;
use crate::orders::Provision;
use crate::provisioning::{self, DisableRefunded, Outcome, ProvisionError};
use crate::sales::SalesRules;
use crate::subscriptions::rules::LifeRules;
use crate::subscriptions::{self, RefreshUsage, auto_renew, switch, sync};

/// Every ten minutes: pending orders whose quote ran out are marked expired (their promo code
/// and points were never taken: those are consumed only when an order is paid), and points
/// whose lot expired are taken back, each a ledger transaction.
pub const HOUSEKEEPING: Recurring = Recurring {
    kind: "housekeeping",
    every: chrono::Duration::minutes(10),
};

async fn housekeeping(
    db: &sea_orm::DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), JobError> {
    let orders = crate::orders::expire_stale(db, now).await?;
    let lots = crate::points::expire_due(db, now)
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    if orders + lots > 0 {
        tracing::info!(orders, points_lots = lots, "expired what ran out");
    }
    Ok(())
}

/// The usage sync, every `subscriptions.sync_minutes`.
pub fn usage_sync(every: chrono::Duration) -> Recurring {
    Recurring {
        kind: "usage_sync",
        every,
    }
}

/// Reminders, automatic renewals and expiry, each every `subscriptions.check_minutes`.
pub fn reminders(every: chrono::Duration) -> Recurring {
    Recurring {
        kind: "reminders",
        every,
    }
}

pub fn auto_renew(every: chrono::Duration) -> Recurring {
    Recurring {
        kind: "auto_renew",
        every,
    }
}

pub fn expiry(every: chrono::Duration) -> Recurring {
    Recurring {
        kind: "expiry",
        every,
    }
}

/// Every six hours the shop is compared with its panels (a dry run; staff are told when
/// something differs, and repair from `/reconcile` or `vpnshop reconcile`).
pub const RECONCILE: Recurring = Recurring {
    kind: "reconcile",
    every: chrono::Duration::hours(6),
};

/// What the core's jobs follow.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub sales: SalesRules,
    pub life: LifeRules,
    /// The shop's currency: automatic renewals are charged in it.
    pub currency: Currency,
}

/// The scheduled side of subscriptions: the usage sync (when on), reminders, automatic
/// renewals and expiry, each a recurring job of its own so one that fails or runs long holds
/// up none of the others.
fn register_life(runner: Runner, clock: Arc<dyn Clock>, schedule: Arc<Schedule>) -> Runner {
    let db = runner.db().clone();
    let life = schedule.life.clone();
    let mut runner = runner;
    if let Some(every) = life.sync_every {
        let (db, clock, s) = (db.clone(), clock.clone(), schedule.clone());
        runner = runner.every(usage_sync(every), move |_job| {
            let (db, clock, s) = (db.clone(), clock.clone(), s.clone());
            async move {
                let report = sync::sync_all(&db, &s.life, clock.now()).await?;
                tracing::info!(
                    panels = report.panels,
                    accounts = report.accounts,
                    changed = report.changed,
                    missing = report.missing,
                    failed = report.failed.len(),
                    "usage synced"
                );
                match report.failed.first() {
                    // The others were read; the run is marked with the first failure so the
                    // jobs screen shows it.
                    Some((panel, why)) => Err(JobError::Retry(format!("{panel}: {why}"))),
                    None => Ok(()),
                }
            }
        });
    }
    let Some(check_every) = life.check_every else {
        return runner;
    };
    let (db4, clock4, s4) = (db.clone(), clock.clone(), schedule.clone());
    let runner = runner.every(RECONCILE, move |_job| {
        let (db, clock, s) = (db4.clone(), clock4.clone(), s4.clone());
        async move {
            let now = clock.now();
            let report = crate::reconcile::diff(
                &db,
                &s.sales.account_prefix,
                s.life.page_size,
                s.life.parallel,
                now,
            )
            .await?;
            if !report.found.is_empty() {
                tracing::warn!(items = report.found.len(), "the shop and its panels differ");
                let notice = crate::notices::Notice::DriftFound {
                    items: report.found.len() as u64,
                    at: now.timestamp(),
                };
                crate::notices::enqueue(&db, &notice, now).await?;
            }
            Ok(())
        }
    });
    let (db2, clock2, s2) = (db.clone(), clock.clone(), schedule.clone());
    let (db3, clock3, s3) = (db.clone(), clock.clone(), schedule.clone());
    runner
        .every(reminders(check_every), move |_job| {
            let (db, clock, s) = (db.clone(), clock.clone(), schedule.clone());
            async move {
                let queued = subscriptions::reminders::run(&db, &s.life, clock.now()).await?;
                if queued > 0 {
                    tracing::info!(queued, "reminders queued");
                }
                Ok(())
            }
        })
        .every(auto_renew(check_every), move |_job| {
            let (db, clock, s) = (db2.clone(), clock2.clone(), s2.clone());
            async move {
                let r = auto_renew::run(&db, &s.life, s.currency, clock.now()).await?;
                if r != auto_renew::AutoRenewReport::default() {
                    tracing::info!(
                        renewed = r.renewed,
                        short = r.short,
                        cannot = r.cannot,
                        "automatic renewals"
                    );
                }
                Ok(())
            }
        })
        .every(expiry(check_every), move |_job| {
            let (db, clock, s) = (db3.clone(), clock3.clone(), s3.clone());
            async move {
                let r =
                    subscriptions::expiry::run(&db, &s.life, &s.sales.account_prefix, clock.now())
                        .await?;
                if r != subscriptions::expiry::ExpiryReport::default() {
                    tracing::info!(
                        disabled = r.disabled,
                        deleted = r.deleted,
                        kept = r.kept,
                        skipped = r.skipped,
                        "expiry"
                    );
                }
                Ok(())
            }
        })
}

/// `runner` with the core's jobs registered, each in a lane of its own: a slow panel never
/// holds up notices, nor usage reads the provisioning of paid orders.
pub fn register(runner: Runner, clock: Arc<dyn Clock>, schedule: Schedule) -> Runner {
    let schedule = Arc::new(schedule);
    let runner = register_life(runner, clock.clone(), schedule.clone());
    let db = runner.db().clone();
    let rules = Arc::new(schedule.sales.clone());
    let outage = schedule.life.outage_refund_after;
    let (db2, db3, db4, db5) = (db.clone(), db.clone(), db.clone(), db.clone());
    let (clock2, rules2, clock3, clock4) =
        (clock.clone(), rules.clone(), clock.clone(), clock.clone());
    runner
        .every(HOUSEKEEPING, move |_job| {
            let (db, clock) = (db4.clone(), clock3.clone());
            async move { housekeeping(&db, clock.now()).await }
        })
        .on(8, move |p: Provision, job| {
            let (db, clock, rules, outage) = (db.clone(), clock.clone(), rules.clone(), outage);
            async move {
                let order = p.order_id;
                let now = clock.now();
                // A panel that is down (by the health check) is waited for, up to `outage`,
                // without using up attempts; then the order is refunded.
                let waiting = provisioning::waits_for_panel(&db, order, outage, now).await?;
                let last = job.attempts >= job.max_attempts && !waiting;
                let outcome =
                    provisioning::provision(&db, order, &rules.account_prefix, last, now).await;
                match outcome {
                    Err(e) if waiting && !matches!(e, ProvisionError::NoSuchOrder(_)) => {
                        Err(JobError::Wait {
                            after: chrono::Duration::minutes(1),
                            why: format!("the panel is down: {e}"),
                        })
                    }
                    Ok(Outcome::Fulfilled(_) | Outcome::AlreadyDone | Outcome::Refunded { .. }) => {
                        Ok(())
                    }
                    Err(ProvisionError::NoSuchOrder(_)) => {
                        Err(JobError::Permanent(format!("order {order} is gone")))
                    }
                    Err(e) => Err(JobError::Retry(e.to_string())),
                }
            }
        })
        .on(2, move |p: switch::RetireMoved, _job| {
            let (db, clock) = (db5.clone(), clock4.clone());
            async move {
                switch::turn_off_old(&db, p.subscription_id, clock.now())
                    .await
                    .map_err(JobError::Retry)
            }
        })
        .on(2, move |p: DisableRefunded, _job| {
            let db = db2.clone();
            async move {
                provisioning::disable_refunded(&db, p.subscription_id)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))
            }
        })
        // A panel that does not answer is left for the next time the customer looks (nothing
        // is retried in a loop).
        .on(4, move |p: RefreshUsage, _job| {
            let (db, clock, rules) = (db3.clone(), clock2.clone(), rules2.clone());
            async move {
                let id = p.subscription_id;
                subscriptions::refresh(&db, id, rules.usage_max_age, clock.now()).await?;
                Ok(())
            }
        })
}
