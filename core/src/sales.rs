//! The selling rules: the free trial, how long a quote holds, Stars and traffic packs, points and
//! referral rewards, and how panel accounts are named. The seller writes them as `[sales]`,
//! `[points]` and `[referral]`; [`SalesSettings::rules`] checks and parses them in one pass into
//! the [`SalesRules`] the handlers and the core jobs follow.
use chrono::Duration;

use crate::config::{Problems, lenient};
use crate::money::Currency;
use crate::orders::PointsRules;
use crate::payments::stars::StarsRate;
use crate::rewards::{ReferralReward, RewardRules};

/// `[sales]`: what customers can buy and how. Amounts are written as in the shop's currency
/// (`"1,500"` toman, `"9.99"` roubles).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesSettings {
    /// The code of the plan given as the free trial (one per customer); unset: no trial.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub trial_plan: Option<String>,
    /// How long a quote (and its unpaid order) holds its price, in minutes.
    pub quote_minutes: i64,
    /// What one Telegram Star is worth in the shop's currency; unset: Stars are not accepted.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub stars_rate: Option<String>,
    /// The Stars amounts offered for a wallet top-up.
    pub stars_top_up: Vec<i64>,
    /// Extra-traffic packs offered for a subscription, in GB; empty: none.
    pub traffic_packs_gb: Vec<i64>,
    /// The price of one GB of extra traffic.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub traffic_price_per_gb: Option<String>,
    /// Usage shown in "my subscriptions" is read from the panel when older than this (minutes).
    pub usage_max_age_minutes: i64,
    /// The prefix of account names on panels (`<prefix>_<customer>_<subscription>`).
    pub account_prefix: String,
}

impl Default for SalesSettings {
    fn default() -> Self {
        SalesSettings {
            trial_plan: None,
            quote_minutes: 30,
            stars_rate: None,
            stars_top_up: vec![50, 100, 250, 500],
            traffic_packs_gb: Vec::new(),
            traffic_price_per_gb: None,
            usage_max_age_minutes: 10,
            account_prefix: "vs".to_string(),
        }
    }
}

/// `[points]`: how loyalty points are earned, what they are worth, when they expire.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PointsSettings {
    /// Customers earn `earn_points` for every full `earn_per` paid (an amount); unset: none.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub earn_per: Option<String>,
    pub earn_points: i64,
    /// What one point takes off a price at checkout (an amount); unset: points are not spent.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub value: Option<String>,
    /// At most this share of a price may be paid with points.
    pub max_share_percent: u8,
    /// Earned points expire after this many days; 0: never.
    pub expire_days: i64,
}

impl Default for PointsSettings {
    fn default() -> Self {
        PointsSettings {
            earn_per: None,
            earn_points: 1,
            value: None,
            max_share_percent: 50,
            expire_days: 365,
        }
    }
}

/// `[referral]`: the reward for inviting a friend, granted when the friend's first paid order
/// is fulfilled.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralSettings {
    /// A wallet credit (an amount), or …
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub reward_wallet: Option<String>,
    /// … points. Set one of the two, or neither for no reward.
    pub reward_points: Option<i64>,
}

/// The selling rules the handlers and jobs follow, parsed once.
#[derive(Clone, Debug)]
pub struct SalesRules {
    pub trial_plan: Option<String>,
    pub quote_ttl: Duration,
    pub stars: Option<StarsRate>,
    pub stars_top_up: Vec<i64>,
    pub traffic_packs_gb: Vec<i64>,
    pub traffic_price_per_gb: Option<crate::money::Money>,
    /// Usage figures younger than this are not read from the panel again.
    pub usage_max_age: Duration,
    /// The prefix of account names on panels.
    pub account_prefix: String,
    pub points: PointsRules,
    pub rewards: RewardRules,
}

impl SalesSettings {
    /// The rules `[sales]`, `points` and `referral` describe for a shop selling in `shop`; what
    /// is wrong goes into `problems` under its key.
    pub fn rules(
        &self,
        points: &PointsSettings,
        referral: &ReferralSettings,
        shop: Currency,
        problems: &mut Problems,
    ) -> SalesRules {
        let stars = problems
            .positive_amount("sales.stars_rate", self.stars_rate.as_deref(), shop)
            .and_then(StarsRate::new);
        let traffic_price_per_gb = problems.positive_amount(
            "sales.traffic_price_per_gb",
            self.traffic_price_per_gb.as_deref(),
            shop,
        );
        let earn_per =
            problems.positive_amount("points.earn_per", points.earn_per.as_deref(), shop);
        let point_value = problems.positive_amount("points.value", points.value.as_deref(), shop);
        let reward_wallet = problems.positive_amount(
            "referral.reward_wallet",
            referral.reward_wallet.as_deref(),
            shop,
        );
        let quote_ttl = problems.minutes("sales.quote_minutes", self.quote_minutes, 1);
        problems.require(
            self.stars_top_up.iter().all(|s| (1..=10_000).contains(s)),
            "sales.stars_top_up",
            "each amount is 1–10000 Stars",
        );
        problems.require(
            self.traffic_packs_gb
                .iter()
                .all(|g| (1..=100_000).contains(g)),
            "sales.traffic_packs_gb",
            "each pack is 1–100000 GB",
        );
        problems.require(
            self.traffic_packs_gb.is_empty() || self.traffic_price_per_gb.is_some(),
            "sales.traffic_price_per_gb",
            "traffic packs are offered but have no price: set it, or set traffic_packs_gb = []",
        );
        let prefix = &self.account_prefix;
        problems.require(
            (1..=8).contains(&prefix.len())
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "sales.account_prefix",
            "1–8 lowercase letters or digits",
        );
        problems.require(
            points.max_share_percent <= 100,
            "points.max_share_percent",
            "is a percentage, 0–100",
        );
        problems.require(
            !(referral.reward_wallet.is_some() && referral.reward_points.is_some()),
            "referral",
            "set reward_wallet or reward_points, not both",
        );
        problems.require(
            referral.reward_points.is_none_or(|p| p > 0),
            "referral.reward_points",
            "must be positive",
        );
        SalesRules {
            trial_plan: self.trial_plan.clone(),
            quote_ttl,
            stars,
            stars_top_up: self.stars_top_up.clone(),
            traffic_packs_gb: self.traffic_packs_gb.clone(),
            traffic_price_per_gb,
            usage_max_age: Duration::minutes(self.usage_max_age_minutes.max(0)),
            account_prefix: self.account_prefix.clone(),
            points: PointsRules {
                value_minor: point_value
                    .map(|v| vec![(shop, v.minor())])
                    .unwrap_or_default(),
                max_share_percent: points.max_share_percent.min(100),
            },
            rewards: RewardRules {
                points_per_paid: earn_per.map(|per| (per.minor(), points.earn_points)),
                points_expire_after: (points.expire_days > 0)
                    .then(|| Duration::days(points.expire_days)),
                referral: match (reward_wallet, referral.reward_points) {
                    (Some(m), _) => Some(ReferralReward::Wallet(m)),
                    (None, Some(p)) if p > 0 => Some(ReferralReward::Points(p)),
                    _ => None,
                },
            },
        }
    }
}
