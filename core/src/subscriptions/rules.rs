//! `[subscriptions]`: the schedule of a subscription's life — how often usage is read, when
//! customers are reminded, when an automatic renewal is charged, and how long an expired
//! account stays on the panel. Parsed once into [`LifeRules`], which the jobs follow.
use chrono::Duration;

use crate::config::Problems;

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifeSettings {
    /// Every this many minutes every panel's accounts are read in pages (usage, expiry, status,
    /// last online). 0: never (figures are then read only when a customer opens one).
    pub sync_minutes: i64,
    /// Accounts per list call.
    pub sync_page_size: u64,
    /// List calls one panel is asked at once.
    pub sync_parallel: usize,
    /// Every this many minutes reminders, automatic renewals and expiry are looked at. 0: never
    /// (none of the three runs).
    pub check_minutes: i64,
    /// A reminder when this share of the traffic is used (each once per period).
    pub remind_traffic_percent: Vec<u8>,
    /// A reminder when this many days are left (each once per period).
    pub remind_days_left: Vec<i64>,
    /// A paid subscription with no traffic and never online this many hours after delivery
    /// gets one nudge with the guides. 0: never.
    pub not_connected_hours: i64,
    /// Automatic renewals are charged this many hours before expiry.
    pub auto_renew_hours: i64,
    /// An expired account is turned off on the panel this many hours after it expired.
    pub disable_after_hours: i64,
    /// … and deleted this many days after it expired. 0: never deleted.
    pub delete_after_days: i64,
    /// A subscription moves to another location at most once in this many days. 0: moving is
    /// not offered.
    pub switch_location_days: i64,
}

impl Default for LifeSettings {
    fn default() -> Self {
        LifeSettings {
            sync_minutes: 10,
            sync_page_size: 500,
            sync_parallel: 2,
            check_minutes: 15,
            remind_traffic_percent: vec![80, 95, 100],
            remind_days_left: vec![3, 1],
            not_connected_hours: 6,
            auto_renew_hours: 24,
            disable_after_hours: 24,
            delete_after_days: 30,
            switch_location_days: 30,
        }
    }
}

/// The rules the subscription jobs follow, parsed once.
#[derive(Clone, Debug)]
pub struct LifeRules {
    /// `None`: no scheduled sync.
    pub sync_every: Option<Duration>,
    pub page_size: u64,
    pub parallel: usize,
    /// `None`: no reminders, automatic renewals or expiry.
    pub check_every: Option<Duration>,
    /// Ascending.
    pub traffic_percent: Vec<u8>,
    /// Descending (3 days, then 1).
    pub days_left: Vec<i64>,
    pub not_connected_after: Option<Duration>,
    pub auto_renew_before: Duration,
    pub disable_after: Duration,
    pub delete_after: Option<Duration>,
    pub switch_every: Option<Duration>,
    /// How long provisioning waits for a panel that does not answer before it refunds.
    pub outage_refund_after: Duration,
}

impl Default for LifeRules {
    fn default() -> Self {
        LifeSettings::default().rules(60, &mut Problems::new())
    }
}

impl LifeSettings {
    /// What `[subscriptions]` says, with `outage_minutes` from `[panels]`; what is wrong goes
    /// into `problems` under its key.
    pub fn rules(&self, outage_minutes: i64, problems: &mut Problems) -> LifeRules {
        let key = |k: &str| format!("subscriptions.{k}");
        problems.require(
            (0..=1440).contains(&self.sync_minutes),
            &key("sync_minutes"),
            "is 0 (off) to 1440 minutes",
        );
        problems.require(
            (10..=5000).contains(&self.sync_page_size),
            &key("sync_page_size"),
            "is 10–5000 accounts",
        );
        problems.require(
            (1..=16).contains(&self.sync_parallel),
            &key("sync_parallel"),
            "is 1–16 calls",
        );
        problems.require(
            self.remind_traffic_percent
                .iter()
                .all(|p| (1..=100).contains(p)),
            &key("remind_traffic_percent"),
            "each is a percentage, 1–100",
        );
        problems.require(
            self.remind_days_left.iter().all(|d| (1..=60).contains(d)),
            &key("remind_days_left"),
            "each is 1–60 days",
        );
        for (k, v) in [
            ("not_connected_hours", self.not_connected_hours),
            ("auto_renew_hours", self.auto_renew_hours),
            ("disable_after_hours", self.disable_after_hours),
            ("delete_after_days", self.delete_after_days),
            ("switch_location_days", self.switch_location_days),
        ] {
            problems.require(v >= 0, &key(k), "must not be negative");
        }
        problems.require(
            self.delete_after_days == 0 || self.delete_after_days * 24 > self.disable_after_hours,
            &key("delete_after_days"),
            "must come after disable_after_hours (or be 0: never delete)",
        );
        problems.require(
            (0..=1440).contains(&self.check_minutes),
            &key("check_minutes"),
            "is 0 (off) to 1440 minutes",
        );
        let outage = problems.minutes("panels.outage_refund_minutes", outage_minutes, 1);
        let mut traffic_percent = self.remind_traffic_percent.clone();
        traffic_percent.sort_unstable();
        traffic_percent.dedup();
        let mut days_left = self.remind_days_left.clone();
        days_left.sort_unstable_by(|a, b| b.cmp(a));
        days_left.dedup();
        let positive = |n: i64, d: fn(i64) -> Duration| (n > 0).then(|| d(n));
        LifeRules {
            sync_every: positive(self.sync_minutes, Duration::minutes),
            page_size: self.sync_page_size.clamp(10, 5000),
            parallel: self.sync_parallel.clamp(1, 16),
            check_every: positive(self.check_minutes, Duration::minutes),
            traffic_percent,
            days_left,
            not_connected_after: positive(self.not_connected_hours, Duration::hours),
            auto_renew_before: Duration::hours(self.auto_renew_hours.max(0)),
            disable_after: Duration::hours(self.disable_after_hours.max(0)),
            delete_after: positive(self.delete_after_days, Duration::days),
            switch_every: positive(self.switch_location_days, Duration::days),
            outage_refund_after: outage,
        }
    }
}
