//! The jobs that need no Telegram, registered here once: making paid orders' accounts, turning
//! off refunded ones, reading usage from the panels, and housekeeping (quotes that ran out,
//! points whose time is up). The bot adds the ones that talk to
//! people (notices, the payments sweep) to the same runner.
use std::sync::Arc;

use crate::clock::Clock;
use crate::jobs::{JobError, Recurring, Runner};
use crate::orders::Provision;
use crate::provisioning::{self, DisableRefunded, Outcome, ProvisionError};
use crate::sales::SalesRules;
use crate::subscriptions::{self, RefreshUsage};

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

/// `runner` with the core's jobs registered, each in a lane of its own: a slow panel never
/// holds up notices, nor usage reads the provisioning of paid orders.
pub fn register(runner: Runner, clock: Arc<dyn Clock>, rules: SalesRules) -> Runner {
    let db = runner.db().clone();
    let rules = Arc::new(rules);
    let (db2, db3, db4) = (db.clone(), db.clone(), db.clone());
    let (clock2, rules2, clock3) = (clock.clone(), rules.clone(), clock.clone());
    runner
        .every(HOUSEKEEPING, move |_job| {
            let (db, clock) = (db4.clone(), clock3.clone());
            async move { housekeeping(&db, clock.now()).await }
        })
        .on(8, move |p: Provision, job| {
            let (db, clock, rules) = (db.clone(), clock.clone(), rules.clone());
            async move {
                let order = p.order_id;
                let last = job.attempts >= job.max_attempts;
                let outcome =
                    provisioning::provision(&db, order, &rules.account_prefix, last, clock.now())
                        .await;
                match outcome {
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
