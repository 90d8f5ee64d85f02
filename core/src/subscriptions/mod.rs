//! A customer's subscriptions: reading one they own, refreshing its usage from the panel when the
//! stored figure is old, and pricing a renewal or extra traffic with a preview of the result.
//! The scheduled side of their life lives in the submodules: the bulk usage sync, reminders,
//! automatic renewal from the wallet and expiry.
pub mod auto_renew;
pub mod expiry;
pub mod reminders;
pub mod rules;
pub mod switch;
pub mod sync;
use chrono::{DateTime, Duration, TimeDelta, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};

use crate::catalog;
use crate::entities::subscriptions;
use crate::ids::{CustomerId, SubscriptionId};
use crate::money::{Currency, Money};
use crate::orders::{self, Order, OrderError, OrderKind, Quote};
use crate::panels::{self, Panel, PanelStoreError};
use crate::provisioning;

/// A customer's subscription: one panel account, its limits and the last figures read from it.
pub use subscriptions::Model as Subscription;

/// Where a subscription is in its life. The `subscriptions.status` column is this type (stored
/// as text).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::N(16))"
)]
pub enum SubscriptionStatus {
    /// Paid; its panel account is being made.
    #[sea_orm(string_value = "provisioning")]
    Provisioning,
    /// Its account exists (it may still have expired or used up its traffic).
    #[sea_orm(string_value = "active")]
    Active,
    /// Provisioning gave up and the money went back.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Expired past the grace period: the expiry job turned the account off on the panel. A
    /// renewal turns it back on.
    #[sea_orm(string_value = "disabled")]
    Disabled,
    /// Expired past the longer period: the account was deleted from the panel.
    #[sea_orm(string_value = "deleted")]
    Deleted,
    /// Moved to another location: the account here was turned off once the new one was
    /// delivered.
    #[sea_orm(string_value = "moved")]
    Moved,
}

impl SubscriptionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Provisioning => "provisioning",
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Failed => "failed",
            SubscriptionStatus::Disabled => "disabled",
            SubscriptionStatus::Deleted => "deleted",
            SubscriptionStatus::Moved => "moved",
        }
    }

    pub fn parse(s: &str) -> Option<SubscriptionStatus> {
        [
            Self::Provisioning,
            Self::Active,
            Self::Failed,
            Self::Disabled,
            Self::Deleted,
            Self::Moved,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the customer can still renew it: its account exists on the panel.
    pub fn renewable(self) -> bool {
        matches!(self, Self::Active | Self::Disabled)
    }
}

text_column! {
    /// What the panel last said of the account (read by the usage sync): the shop's own status
    /// says where the subscription is in its life, this says whether it can connect right now.
    pub enum PanelState {
        Active = "active",
        Disabled = "disabled",
        Limited = "limited",
        Expired = "expired",
        /// Waiting for first use before its time starts: never expired by the shop.
        OnHold = "on_hold",
    }
}

impl From<marzban_client::AccountStatus> for PanelState {
    fn from(s: marzban_client::AccountStatus) -> Self {
        use marzban_client::AccountStatus as A;
        match s {
            A::Active => PanelState::Active,
            A::Disabled => PanelState::Disabled,
            A::Limited => PanelState::Limited,
            A::Expired => PanelState::Expired,
            A::OnHold => PanelState::OnHold,
        }
    }
}

impl Subscription {
    pub fn subscription_id(&self) -> SubscriptionId {
        self.id
    }

    pub fn state(&self) -> SubscriptionStatus {
        self.status
    }
}

pub const GB: i64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("no such subscription")]
    NotFound,
    #[error("this subscription is not active")]
    NotActive,
    #[error("this subscription's plan is no longer sold")]
    PlanGone,
    #[error("this subscription has unlimited traffic")]
    Unlimited,
    #[error("no traffic pack of {0} GB is sold")]
    NoSuchPack(i64),
    #[error(transparent)]
    Order(#[from] OrderError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// The subscription, if it exists and belongs to `customer`. A forged id of someone else's is
/// indistinguishable from a missing one.
pub async fn owned(
    db: &DatabaseConnection,
    id: SubscriptionId,
    customer: CustomerId,
) -> Result<Subscription, SubscriptionError> {
    subscriptions::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|s| s.customer_id == customer)
        .ok_or(SubscriptionError::NotFound)
}

/// A subscription by id, whoever owns it (for notices and jobs).
pub async fn find(
    db: &DatabaseConnection,
    id: SubscriptionId,
) -> Result<Option<Subscription>, DbErr> {
    subscriptions::Entity::find_by_id(id).one(db).await
}

/// The job that reads a subscription's figures from its panel, so no handler waits on one.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct RefreshUsage {
    pub subscription_id: SubscriptionId,
}

impl crate::jobs::Payload for RefreshUsage {
    const KIND: &'static str = "refresh_usage";
}

pub const REFRESH_JOB: &str = <RefreshUsage as crate::jobs::Payload>::KIND;

/// Queues a refresh of `sub`'s figures when they are older than `max_age`, unless one is
/// already waiting or running: a customer pressing a hundred times queues one. Whether the
/// figures are being refreshed.
pub async fn request_refresh(
    db: &DatabaseConnection,
    sub: &Subscription,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if sub.state() != SubscriptionStatus::Active
        || sub.usage_synced_at.is_some_and(|at| now - at < max_age)
    {
        return Ok(false);
    }
    let job = crate::jobs::NewJob::of(
        &RefreshUsage {
            subscription_id: sub.id,
        },
        now,
    );
    if !crate::jobs::is_open(db, REFRESH_JOB, &job.payload).await? {
        crate::jobs::enqueue(db, job.attempts(1), now).await?;
    }
    Ok(true)
}

/// The refresh job's work: reads subscription `id`'s figures from its panel if still stale.
pub async fn refresh(
    db: &DatabaseConnection,
    id: SubscriptionId,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if let Some(sub) = subscriptions::Entity::find_by_id(id).one(db).await? {
        refresh_usage(db, sub, max_age, now).await?;
    }
    Ok(())
}

/// Panels that failed lately: reads are not tried again until the pause is over, so a dead
/// panel costs one timeout a minute, not one per customer who opens a subscription.
mod breaker {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::{Duration, Instant};

    const PAUSE: Duration = Duration::from_secs(60);
    static OPEN_UNTIL: LazyLock<Mutex<HashMap<i64, Instant>>> = LazyLock::new(Default::default);

    pub fn is_open(panel: i64) -> bool {
        OPEN_UNTIL
            .lock()
            .expect("not poisoned")
            .get(&panel)
            .is_some_and(|until| Instant::now() < *until)
    }

    pub fn failed(panel: i64) {
        OPEN_UNTIL
            .lock()
            .expect("not poisoned")
            .insert(panel, Instant::now() + PAUSE);
    }

    pub fn answered(panel: i64) {
        OPEN_UNTIL.lock().expect("not poisoned").remove(&panel);
    }
}

/// Reads usage, limit and expiry from the panel when the stored figure is older than
/// `max_age`. A panel that cannot answer (or failed within the last minute) leaves the stored
/// figure (returned with `false`). Called from the refresh job, never from a handler.
pub async fn refresh_usage(
    db: &DatabaseConnection,
    sub: Subscription,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Result<(Subscription, bool), DbErr> {
    if sub.state() != SubscriptionStatus::Active
        || sub.usage_synced_at.is_some_and(|at| now - at < max_age)
    {
        return Ok((sub, true));
    }
    let Some(panel) = panel_of(db, &sub).await? else {
        return Ok((sub, false));
    };
    if breaker::is_open(panel.id.get()) {
        return Ok((sub, false));
    }
    let (Ok(account), Ok(client)) = (
        provisioning::account_ref(&sub),
        marzban_client::connect(panel.config.clone()),
    ) else {
        return Ok((sub, false));
    };
    match client.account(&account).await {
        Ok(account) => {
            breaker::answered(panel.id.get());
            let mut am = subscriptions::ActiveModel::from(sub);
            am.used_bytes = Set(account.used_bytes as i64);
            am.traffic_limit_bytes = Set(account.data_limit_bytes.map(|b| b as i64));
            am.expires_at = Set(account.expires_at);
            am.online_at = Set(account.online_at.or(am.online_at.take().flatten()));
            am.panel_status = Set(Some(account.status.into()));
            if account.subscription_url.is_some() {
                am.subscription_url = Set(account.subscription_url);
            }
            am.usage_synced_at = Set(Some(now));
            am.updated_at = Set(now);
            Ok((am.update(db).await?, true))
        }
        Err(e) => {
            if e.is_retryable() {
                breaker::failed(panel.id.get());
            }
            tracing::warn!(subscription = %sub.id, error = %e, "usage not refreshed");
            Ok((sub, false))
        }
    }
}

async fn panel_of(db: &DatabaseConnection, sub: &Subscription) -> Result<Option<Panel>, DbErr> {
    match panels::panel(db, sub.panel_id).await {
        Ok(p) => Ok(p),
        Err(PanelStoreError::Db(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

/// What the subscription will be after an order: shown before paying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub expires_at: Option<DateTime<Utc>>,
    /// Traffic left after the order (`None`: unlimited).
    pub traffic_left_bytes: Option<i64>,
}

/// A priced renewal with its preview: the subscription's plan again, remaining days and unused
/// traffic kept.
pub async fn quote_renewal(
    db: &DatabaseConnection,
    sub: &Subscription,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<(Quote, Preview), SubscriptionError> {
    if !sub.state().renewable() {
        return Err(SubscriptionError::NotActive);
    }
    let plan = catalog::plan(db, sub.plan_id)
        .await?
        .filter(|p| p.enabled && !p.is_trial)
        .ok_or(SubscriptionError::PlanGone)?;
    let price = catalog::price(db, plan.plan_id(), currency)
        .await?
        .ok_or(SubscriptionError::PlanGone)?;
    let panel = panel_of(db, sub).await?;
    let quote = Quote {
        plan: plan.plan_id(),
        location: panel.map(|p| p.location_id),
        duration_days: plan.duration_days,
        traffic_bytes: plan.traffic_bytes,
        list_price: price,
        promo_code_id: None,
        discount_minor: 0,
        points_used: 0,
        points_value_minor: 0,
        total: price,
    };
    let from = sub.expires_at.filter(|&at| at > now).unwrap_or(now);
    let limit = provisioning::renewed_limit(sub.traffic_limit_bytes, plan.traffic_bytes);
    let preview = Preview {
        expires_at: Some(from + TimeDelta::days(i64::from(plan.duration_days))),
        traffic_left_bytes: limit.map(|l| (l - sub.used_bytes).max(0)),
    };
    Ok((quote, preview))
}

/// A priced traffic pack of `gb` GB (one of the seller's `packs`) at `price_per_gb`.
pub async fn quote_traffic(
    db: &DatabaseConnection,
    sub: &Subscription,
    gb: i64,
    packs: &[i64],
    price_per_gb: Money,
) -> Result<(Quote, Preview), SubscriptionError> {
    if sub.state() != SubscriptionStatus::Active {
        return Err(SubscriptionError::NotActive);
    }
    let Some(limit) = sub.traffic_limit_bytes else {
        return Err(SubscriptionError::Unlimited);
    };
    if !packs.contains(&gb) || gb <= 0 {
        return Err(SubscriptionError::NoSuchPack(gb));
    }
    let price = Money::new(
        gb.saturating_mul(price_per_gb.minor()),
        price_per_gb.currency(),
    )
    .map_err(|_| SubscriptionError::NoSuchPack(gb))?;
    let panel = panel_of(db, sub).await?;
    let quote = Quote {
        plan: sub.plan_id,
        location: panel.map(|p| p.location_id),
        duration_days: 0,
        traffic_bytes: Some(gb * GB),
        list_price: price,
        promo_code_id: None,
        discount_minor: 0,
        points_used: 0,
        points_value_minor: 0,
        total: price,
    };
    let preview = Preview {
        expires_at: sub.expires_at,
        traffic_left_bytes: Some((limit + gb * GB - sub.used_bytes).max(0)),
    };
    Ok((quote, preview))
}

/// Places the order for a renewal or a traffic pack, waiting for payment for `ttl`.
pub async fn place(
    db: &DatabaseConnection,
    sub: &Subscription,
    kind: OrderKind,
    quote: &Quote,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Order, SubscriptionError> {
    Ok(orders::place(db, sub.customer_id, kind, quote, Some(sub.id), ttl, now).await?)
}

/// Where the subscription's panel is (for the listing).
pub async fn location_of(
    db: &DatabaseConnection,
    sub: &Subscription,
) -> Result<Option<catalog::Location>, DbErr> {
    let Some(panel) = panel_of(db, sub).await? else {
        return Ok(None);
    };
    catalog::location(db, panel.location_id).await
}
