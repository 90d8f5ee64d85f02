//! Reminders: traffic running out, days running out, expired, and a nudge for a paid
//! subscription that was never used. Each is a durable notice whose dedupe key holds the
//! subscription's *period* — its expiry day and traffic limit — so each reminder goes once per
//! period, however many processes look and however often, and a renewal or a traffic pack (a
//! new period) arms them again.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::rules::LifeRules;
use super::{PanelState, Subscription, SubscriptionStatus};
use crate::entities::subscriptions;
use crate::notices::{self, Notice};

/// What a customer is reminded of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reminder {
    /// At least `percent` of the traffic is used (100: all of it).
    Traffic { percent: u8 },
    /// At most `days` days are left.
    DaysLeft { days: i64 },
    /// It has expired.
    Expired,
    /// Paid, delivered hours ago, and never connected: the guides and Support.
    NotConnected,
    /// An automatic renewal is due but the wallet is `missing_minor` short (in the shop's
    /// currency).
    TopUp { missing_minor: i64 },
}

impl Reminder {
    /// The part of the dedupe key that tells reminders of one period apart.
    pub fn key(&self) -> String {
        match self {
            Reminder::Traffic { percent } => format!("traffic{percent}"),
            Reminder::DaysLeft { days } => format!("days{days}"),
            Reminder::Expired => "expired".into(),
            Reminder::NotConnected => "not_connected".into(),
            Reminder::TopUp { .. } => "top_up".into(),
        }
    }
}

/// The period a subscription is in: its expiry day and traffic limit (in MB, so a panel that
/// rounds bytes does not start a new one). A renewal moves the expiry and a traffic pack
/// raises the limit: either starts a new period.
pub fn period(sub: &Subscription) -> String {
    let day = sub
        .expires_at
        .map_or_else(|| "never".to_string(), |at| at.date_naive().to_string());
    let limit = sub
        .traffic_limit_bytes
        .map_or_else(|| "unlimited".to_string(), |l| (l >> 20).to_string());
    format!("{day}/{limit}")
}

/// The reminders `sub` is due at `now`, at most one of each kind: the most urgent threshold
/// only (a subscription first seen at 96 % gets the 95 % reminder, not 80 % as well).
pub fn due(sub: &Subscription, rules: &LifeRules, now: DateTime<Utc>) -> Vec<Reminder> {
    if sub.status != SubscriptionStatus::Active {
        return Vec::new();
    }
    let mut due = Vec::new();
    // An account waiting for first use has not started its time: nothing runs out yet.
    let on_hold = sub.panel_status == Some(PanelState::OnHold);
    if let (Some(at), false) = (sub.expires_at, on_hold) {
        if at <= now {
            due.push(Reminder::Expired);
        } else if let Some(days) = rules
            .days_left
            .iter()
            .copied()
            .filter(|d| at - now <= Duration::days(*d))
            .min()
        {
            due.push(Reminder::DaysLeft { days });
        }
    }
    if let Some(limit) = sub.traffic_limit_bytes.filter(|l| *l > 0) {
        let used = i128::from(sub.used_bytes) * 100;
        if let Some(percent) = rules
            .traffic_percent
            .iter()
            .copied()
            .filter(|p| used >= i128::from(limit) * i128::from(*p))
            .max()
        {
            due.push(Reminder::Traffic { percent });
        }
    }
    if let Some(after) = rules.not_connected_after {
        let delivered = sub.created_at;
        // Only figures read after the nudge was due say "never connected"; a subscription
        // delivered long before this feature existed is left alone.
        let fresh = sub
            .usage_synced_at
            .is_some_and(|at| at >= delivered + after);
        if !sub.is_trial
            && fresh
            && sub.used_bytes == 0
            && sub.online_at.is_none()
            && now >= delivered + after
            && now < delivered + after + Duration::days(7)
        {
            due.push(Reminder::NotConnected);
        }
    }
    due
}

/// Queues every reminder that is due. Returns how many notices are queued now (a reminder
/// already queued for its period is not counted and not queued again).
pub async fn run(
    db: &DatabaseConnection,
    rules: &LifeRules,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let due: Vec<Notice> = candidates(db, rules, now)
        .await?
        .iter()
        .flat_map(|sub| {
            due(sub, rules, now)
                .into_iter()
                .map(|reminder| Notice::Reminder {
                    subscription_id: sub.id,
                    reminder,
                    period: period(sub),
                })
        })
        .collect();
    // Most were queued by an earlier run: those are found in one query per chunk, and only
    // the new ones are inserted (each still under its unique key, whoever races).
    let mut queued = 0;
    for chunk in due.chunks(500) {
        let keys: Vec<String> = chunk.iter().map(Notice::dedupe_key).collect();
        let known: std::collections::HashSet<String> = crate::entities::jobs::Entity::find()
            .select_only()
            .column(crate::entities::jobs::Column::DedupeKey)
            .filter(crate::entities::jobs::Column::DedupeKey.is_in(keys))
            .into_tuple::<Option<String>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        for notice in chunk.iter().filter(|n| !known.contains(&n.dedupe_key())) {
            if notices::enqueue_new(db, notice, now).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Active subscriptions that might be due: expiring within the longest threshold, past the
/// lowest traffic threshold, or never used. The database does the narrowing.
async fn candidates(
    db: &DatabaseConnection,
    rules: &LifeRules,
    now: DateTime<Utc>,
) -> Result<Vec<Subscription>, DbErr> {
    use subscriptions::Column as C;
    let longest = rules.days_left.iter().copied().max().unwrap_or(0);
    let mut any = Condition::any().add(C::ExpiresAt.lte(now + Duration::days(longest)));
    if let Some(lowest) = rules.traffic_percent.iter().copied().min() {
        any = any.add(
            Condition::all().add(C::TrafficLimitBytes.gt(0)).add(
                Expr::col(C::UsedBytes)
                    .mul(100)
                    .gte(Expr::col(C::TrafficLimitBytes).mul(i64::from(lowest))),
            ),
        );
    }
    if let Some(after) = rules.not_connected_after {
        any = any.add(
            Condition::all()
                .add(C::UsedBytes.eq(0))
                .add(C::OnlineAt.is_null())
                .add(C::IsTrial.eq(false))
                .add(C::CreatedAt.lte(now - after))
                .add(C::CreatedAt.gt(now - after - Duration::days(7))),
        );
    }
    subscriptions::Entity::find()
        .filter(C::Status.eq(SubscriptionStatus::Active))
        .filter(any)
        .all(db)
        .await
}

/// Whether `reminder` for `period` still says something true of `sub` when it is about to be
/// sent: a customer who renewed (a new period) or whose subscription ended is not reminded.
pub fn still_true(sub: &Subscription, reminder: &Reminder, period_then: &str) -> bool {
    if period(sub) != period_then {
        return false;
    }
    match reminder {
        Reminder::TopUp { .. } => sub.auto_renew && sub.status.renewable(),
        Reminder::Expired => sub.status.renewable(),
        _ => sub.status == SubscriptionStatus::Active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CustomerId, PanelId, PlanId, SubscriptionId};

    fn sub(now: DateTime<Utc>) -> Subscription {
        Subscription {
            id: SubscriptionId::new(7),
            customer_id: CustomerId::new(1),
            plan_id: PlanId::new(1),
            panel_id: PanelId::new(1),
            panel_account: "vs_1_7".into(),
            status: SubscriptionStatus::Active,
            is_trial: false,
            traffic_limit_bytes: Some(100 << 30),
            used_bytes: 0,
            expires_at: Some(now + Duration::days(20)),
            subscription_url: None,
            usage_synced_at: Some(now),
            account_uuid: None,
            account_sub_id: None,
            online_at: Some(now),
            panel_status: Some(PanelState::Active),
            auto_renew: false,
            disabled_at: None,
            deleted_at: None,
            switched_at: None,
            updated_at: now,
            created_at: now - Duration::days(10),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_subscription_in_good_shape_is_not_reminded() {
        assert!(due(&sub(now()), &LifeRules::default(), now()).is_empty());
    }

    #[test]
    fn only_the_most_urgent_threshold_is_sent() {
        let rules = LifeRules::default();
        let mut s = sub(now());
        s.used_bytes = 97 << 30;
        s.expires_at = Some(now() + Duration::hours(20));
        assert_eq!(
            due(&s, &rules, now()),
            vec![
                Reminder::DaysLeft { days: 1 },
                Reminder::Traffic { percent: 95 }
            ]
        );
        s.used_bytes = 100 << 30;
        s.expires_at = Some(now() - Duration::minutes(1));
        assert_eq!(
            due(&s, &rules, now()),
            vec![Reminder::Expired, Reminder::Traffic { percent: 100 }]
        );
    }

    #[test]
    fn an_account_on_hold_has_not_started_its_time() {
        let mut s = sub(now());
        s.panel_status = Some(PanelState::OnHold);
        s.expires_at = Some(now() - Duration::days(1));
        assert!(due(&s, &LifeRules::default(), now()).is_empty());
    }

    #[test]
    fn a_renewal_starts_a_new_period() {
        let mut s = sub(now());
        let before = period(&s);
        s.expires_at = Some(now() + Duration::days(50));
        assert_ne!(period(&s), before);
        let mut t = sub(now());
        t.traffic_limit_bytes = Some(110 << 30);
        assert_ne!(period(&t), before);
        // A usage read that changes only the bytes used is the same period.
        let mut u = sub(now());
        u.used_bytes = 5 << 30;
        assert_eq!(period(&u), before);
    }

    #[test]
    fn the_nudge_waits_for_figures_read_after_it_was_due() {
        let rules = LifeRules::default();
        let mut s = sub(now());
        s.created_at = now() - Duration::hours(7);
        s.online_at = None;
        s.usage_synced_at = Some(now() - Duration::hours(3));
        assert!(due(&s, &rules, now()).is_empty(), "figures too old");
        s.usage_synced_at = Some(now());
        assert_eq!(due(&s, &rules, now()), vec![Reminder::NotConnected]);
        s.is_trial = true;
        assert!(due(&s, &rules, now()).is_empty(), "trials are not nudged");
    }
}
