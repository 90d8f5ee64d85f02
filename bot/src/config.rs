//! Configuration: `vpnshop.toml`, then an environment variable for every key, named by its path
//! (`VPNSHOP__TELEGRAM__TOKEN` overrides `telegram.token`). Secrets are wrapped so that they never
//! print, and `validate` names the exact key that is wrong and why.
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};

use crate::lenient;
use serde::Deserialize;
use vpnshop_core::customers::Language;
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::orders::PointsRules;
use vpnshop_core::payments::stars::StarsRate;
use vpnshop_core::rewards::{ReferralReward, RewardRules};

pub const ENV_PREFIX: &str = "VPNSHOP__";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub telegram: TelegramSettings,
    pub database: DatabaseSettings,
    pub shop: ShopSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub sales: SalesSettings,
    pub points: PointsSettings,
    pub referral: ReferralSettings,
    pub payments: PaymentsSettings,
    pub run: RunSettings,
    pub limits: LimitsSettings,
}

/// What one customer may have at once, so one person (or a script) cannot flood staff, the
/// gateways or the card amounts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSettings {
    /// Open support tickets.
    pub open_tickets: usize,
    /// Gateway payments opened in the last day and not paid.
    pub open_payments: usize,
    /// Card transfers waiting for a receipt.
    pub card_transfers: usize,
    /// Promo codes that do not exist, typed in one hour.
    pub promo_tries_per_hour: u64,
    /// Updates one chat may send in 10 seconds; more are dropped unread (a stuck client, a
    /// script). People press at most a few buttons a second.
    pub chat_updates_per_10s: u32,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        LimitsSettings {
            open_tickets: 3,
            open_payments: 5,
            card_transfers: 2,
            promo_tries_per_hour: 10,
            chat_updates_per_10s: 30,
        }
    }
}

/// How the process behaves as a whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// On SIGTERM or Ctrl-C: how long the job running then may take to finish before it is
    /// stopped and given back for the next process (replay-safe, so nothing is done twice).
    pub shutdown_seconds: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            shutdown_seconds: 20,
        }
    }
}

/// How customers pay besides the wallet and Stars. A gateway is offered only when its section
/// is filled in, and only in currencies it can charge.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsSettings {
    /// The shop's HTTP server as gateways reach it (`https://shop.example.com`); needed by any
    /// online gateway for its callbacks and return page.
    pub public_url: Option<String>,
    /// How often pending payments are checked with their gateway, in seconds.
    pub reconcile_seconds: i64,
    pub card: CardSettings,
    pub zarinpal: Option<ZarinpalSettings>,
    pub yookassa: Option<YooKassaSettings>,
    pub nowpayments: Option<NowPaymentsSettings>,
    pub cryptobot: Option<CryptoBotSettings>,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            public_url: None,
            reconcile_seconds: 300,
            card: CardSettings::default(),
            zarinpal: None,
            yookassa: None,
            nowpayments: None,
            cryptobot: None,
        }
    }
}

/// Card-to-card: offered whenever an enabled card exists (`vpnshop card add`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSettings {
    /// The most added to an amount to make pending transfers distinguishable (`"999"`); `"0"`: none.
    #[serde(deserialize_with = "lenient::text")]
    pub max_offset: String,
    /// Receipts above this amount need two different approvers; unset: one is enough.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub second_approval_above: Option<String>,
    /// Unreviewed receipts are reminded to staff after this many minutes (and again as often).
    pub remind_minutes: i64,
    /// A transfer with no receipt after this many minutes expires and frees its amount.
    pub expire_minutes: i64,
    /// A rejection with no reason after this many minutes may be taken over or cancelled by
    /// other finance staff.
    pub reject_takeover_minutes: i64,
}

impl Default for CardSettings {
    fn default() -> Self {
        CardSettings {
            max_offset: "999".into(),
            second_approval_above: None,
            remind_minutes: 30,
            expire_minutes: 24 * 60,
            reject_takeover_minutes: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZarinpalSettings {
    #[serde(deserialize_with = "lenient::secret")]
    pub merchant_id: SecretString,
    /// What Zarinpal is asked in: `IRR` (its default) or `IRT`.
    #[serde(default = "irr")]
    pub currency: String,
    #[serde(default = "zarinpal_api")]
    pub api_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YooKassaSettings {
    #[serde(deserialize_with = "lenient::text")]
    pub shop_id: String,
    #[serde(deserialize_with = "lenient::secret")]
    pub secret_key: SecretString,
    #[serde(default = "yookassa_api")]
    pub api_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowPaymentsSettings {
    #[serde(deserialize_with = "lenient::secret")]
    pub api_key: SecretString,
    #[serde(deserialize_with = "lenient::secret")]
    pub ipn_secret: SecretString,
    /// The account login: reconciliation lists an invoice's payments with it.
    pub email: String,
    #[serde(deserialize_with = "lenient::secret")]
    pub password: SecretString,
    #[serde(default = "nowpayments_api")]
    pub api_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoBotSettings {
    /// The Crypto Pay app token (from @CryptoBot → Crypto Pay → My Apps).
    #[serde(deserialize_with = "lenient::secret")]
    pub token: SecretString,
    #[serde(default = "cryptobot_api")]
    pub api_url: String,
}

fn irr() -> String {
    "IRR".into()
}
fn zarinpal_api() -> String {
    vpnshop_core::payments::gateways::zarinpal::DEFAULT_API.into()
}
fn yookassa_api() -> String {
    vpnshop_core::payments::gateways::yookassa::DEFAULT_API.into()
}
fn nowpayments_api() -> String {
    vpnshop_core::payments::gateways::nowpayments::DEFAULT_API.into()
}
fn cryptobot_api() -> String {
    vpnshop_core::payments::gateways::cryptobot::DEFAULT_API.into()
}

/// What customers can buy and how they pay. Amounts are written as in the shop's currency
/// (`"1,500"` toman, `"9.99"` roubles).
#[derive(Debug, Deserialize)]
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

/// Loyalty points: how they are earned, what they are worth, when they expire.
#[derive(Debug, Deserialize)]
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

/// The reward for inviting a friend, granted when the friend's first paid order is fulfilled.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferralSettings {
    /// A wallet credit (an amount), or …
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub reward_wallet: Option<String>,
    /// … points. Set one of the two, or neither for no reward.
    pub reward_points: Option<i64>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    /// The bot asks Telegram for updates (`getUpdates` long polling). Works anywhere.
    Polling,
    /// Telegram POSTs updates to `telegram.webhook_url`; the bot listens on `http.listen`.
    /// Needed to run several bot processes behind a load balancer.
    Webhook,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSettings {
    /// The token @BotFather gave. Best set through `VPNSHOP__TELEGRAM__TOKEN`.
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub token: Option<SecretString>,
    /// The Bot API server: Telegram's, a local `telegram-bot-api`, or a test double.
    pub api_url: String,
    pub mode: UpdateMode,
    /// The public https URL Telegram posts updates to (webhook mode), path included.
    pub webhook_url: Option<String>,
    /// The secret Telegram sends with every webhook call; required in webhook mode, and the
    /// same for every process, so processes behind one load balancer accept each other's posts.
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub webhook_secret: Option<SecretString>,
    /// An HTTP or SOCKS5 proxy for reaching the Bot API (`socks5://127.0.0.1:1080`).
    #[serde(default, deserialize_with = "lenient::opt_secret")]
    pub proxy: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://vpnshop.db` (the default; created on first run) or `postgres://user:pass@host/db`.
    #[serde(deserialize_with = "lenient::secret")]
    pub url: SecretString,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShopSettings {
    /// The shop's name, shown in the welcome text.
    pub name: String,
    /// Telegram user ids that are always owners, whatever the staff table says.
    pub admin_ids: Vec<i64>,
    /// The chat (group) where staff get notifications.
    pub staff_chat_id: Option<i64>,
    /// The language used before a customer picks one: fa, en or ru.
    pub default_language: String,
    /// The currency prices and wallets are in.
    pub currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Where the bot's HTTP server listens (the webhook in webhook mode).
    pub listen: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: "127.0.0.1:8080".to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter: `info`, `debug`, `vpnshop_bot=debug,info`, …
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for TelegramSettings {
    fn default() -> Self {
        TelegramSettings {
            token: None,
            api_url: "https://api.telegram.org".to_string(),
            mode: UpdateMode::Polling,
            webhook_url: None,
            webhook_secret: None,
            proxy: None,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: SecretString::from("sqlite://vpnshop.db"),
        }
    }
}

impl Default for ShopSettings {
    fn default() -> Self {
        ShopSettings {
            name: "VPN Shop".to_string(),
            admin_ids: Vec::new(),
            staff_chat_id: None,
            default_language: "fa".to_string(),
            currency: "IRT".to_string(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_string(),
            format: "text".to_string(),
        }
    }
}

/// The selling rules the handlers and jobs use, parsed once from the settings.
#[derive(Clone, Debug)]
pub struct Sales {
    pub trial_plan: Option<String>,
    pub quote_ttl: chrono::Duration,
    pub stars: Option<StarsRate>,
    pub stars_top_up: Vec<i64>,
    pub traffic_packs_gb: Vec<i64>,
    pub traffic_price_per_gb: Option<Money>,
    pub usage_max_age: chrono::Duration,
    pub account_prefix: String,
    pub points: PointsRules,
    pub rewards: RewardRules,
    pub staff_chat: Option<i64>,
    pub limits: LimitsSettings,
}

/// One wrong key: where it is, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Keys whose values are secrets: never echoed in an error.
fn is_secret_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    matches!(
        last,
        "token"
            | "secret_key"
            | "api_key"
            | "ipn_secret"
            | "password"
            | "merchant_id"
            | "webhook_secret"
            | "proxy"
    ) || key == "database.url"
}

fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// Reads the file (if it exists) and the environment. Parse errors come back as problems that
/// name the key and where its value came from.
pub fn load(path: &Path) -> Result<Settings, Vec<Problem>> {
    load_from(path, Env::prefixed(ENV_PREFIX).split("__"))
}

fn load_from(path: &Path, env: Env) -> Result<Settings, Vec<Problem>> {
    let mut figment = Figment::new();
    if path.exists() {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment.merge(env).extract::<Settings>().map_err(|errors| {
        errors
            .into_iter()
            .map(|e| {
                let key = if e.path.is_empty() {
                    "(top level)".to_string()
                } else {
                    e.path.join(".")
                };
                let source = e
                    .metadata
                    .as_ref()
                    .map(|m| match &m.source {
                        Some(figment::Source::File(f)) => format!(" (in {})", f.display()),
                        _ if m.name.contains("environment") => {
                            format!(" (from {})", env_name(&key))
                        }
                        _ => String::new(),
                    })
                    .unwrap_or_default();
                // figment's own messages quote the value; a secret's is never repeated.
                let message = if is_secret_key(&key) {
                    format!("has a value of the wrong kind (not shown: it is a secret){source}")
                } else {
                    format!("{}{source}", e.kind)
                };
                Problem { key, message }
            })
            .collect()
    })
}

/// The rules the bot runs by, parsed from [`Settings`] once, after every key was checked.
pub struct Runtime {
    pub default_language: Language,
    pub currency: Currency,
    pub sales: Sales,
    pub payments: crate::payment_methods::PaymentMethods,
}

impl Settings {
    /// Checks every key and parses the settings in one step: the rules the bot runs by, or
    /// every problem, each with its key. The only way to the parsed rules, so none of their
    /// fallbacks is ever taken for a value that was wrong.
    pub fn runtime(&self) -> Result<Runtime, Vec<Problem>> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Runtime {
            default_language: self.default_language(),
            currency: self.currency(),
            sales: self.sales(),
            payments: crate::payment_methods::PaymentMethods::from_settings(self, self.currency()),
        })
    }

    /// Everything that is wrong, each with its key. Empty when the bot can start.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, message: String| {
            problems.push(Problem {
                key: key.to_string(),
                message,
            })
        };
        match &self.telegram.token {
            None => bad(
                "telegram.token",
                format!("not set: put the token from @BotFather in {} or in vpnshop.toml", env_name("telegram.token")),
            ),
            Some(t) if !token_looks_valid(t.expose_secret()) => bad(
                "telegram.token",
                "does not look like a bot token (expected digits, a colon, then 30+ letters, digits, - or _)".into(),
            ),
            Some(_) => {}
        }
        match url::Url::parse(&self.telegram.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => bad(
                "telegram.api_url",
                format!("`{}` is not an http(s) URL", self.telegram.api_url),
            ),
        }
        if let Some(proxy) = &self.telegram.proxy {
            match url::Url::parse(proxy.expose_secret()) {
                Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => {}
                _ => bad(
                    "telegram.proxy",
                    "must be an http://, https:// or socks5:// URL".into(),
                ),
            }
        }
        if self.telegram.mode == UpdateMode::Webhook {
            match self.telegram.webhook_url.as_deref().map(url::Url::parse) {
                None => bad(
                    "telegram.webhook_url",
                    format!(
                        "webhook mode needs the public URL Telegram should post to ({})",
                        env_name("telegram.webhook_url")
                    ),
                ),
                Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                Some(_) => bad("telegram.webhook_url", "is not an http(s) URL".into()),
            }
            if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
                bad(
                    "http.listen",
                    format!("`{}` is not an address like 0.0.0.0:8443", self.http.listen),
                );
            }
            if self.telegram.webhook_secret.is_none() {
                bad(
                    "telegram.webhook_secret",
                    format!(
                        "webhook mode needs a secret shared by every process (e.g. `openssl rand -hex 32`), in {}",
                        env_name("telegram.webhook_secret")
                    ),
                );
            }
        }
        if !(1..=600).contains(&self.run.shutdown_seconds) {
            bad("run.shutdown_seconds", "must be 1–600".into());
        }
        if let Some(secret) = &self.telegram.webhook_secret {
            let s = secret.expose_secret();
            if s.is_empty()
                || s.len() > 256
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                bad(
                    "telegram.webhook_secret",
                    "1–256 characters: letters, digits, - and _ only".into(),
                );
            }
        }
        let db = self.database.url.expose_secret();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            bad(
                "database.url",
                "must start with sqlite:// or postgres://".into(),
            );
        }
        if Language::parse(&self.shop.default_language).is_none() {
            bad(
                "shop.default_language",
                format!("`{}` is not one of fa, en, ru", self.shop.default_language),
            );
        }
        if let Err(e) = self.shop.currency.parse::<Currency>() {
            bad("shop.currency", e.to_string());
        }
        if self.shop.admin_ids.iter().any(|id| *id <= 0) {
            bad(
                "shop.admin_ids",
                "Telegram user ids are positive numbers".into(),
            );
        }
        if self.shop.name.trim().is_empty() {
            bad("shop.name", "must not be empty".into());
        }
        let currency = self.currency();
        for (key, value) in [
            ("sales.stars_rate", &self.sales.stars_rate),
            (
                "sales.traffic_price_per_gb",
                &self.sales.traffic_price_per_gb,
            ),
            ("points.earn_per", &self.points.earn_per),
            ("points.value", &self.points.value),
            ("referral.reward_wallet", &self.referral.reward_wallet),
        ] {
            if let Some(v) = value
                && !Money::parse(v, currency).is_ok_and(|m| m.minor() > 0)
            {
                bad(
                    key,
                    format!("`{v}` is not a positive amount in {}", currency.code()),
                );
            }
        }
        if self.sales.quote_minutes < 1 {
            bad("sales.quote_minutes", "must be at least 1".into());
        }
        if self
            .sales
            .stars_top_up
            .iter()
            .any(|s| !(1..=10_000).contains(s))
        {
            bad("sales.stars_top_up", "each amount is 1–10000 Stars".into());
        }
        if self
            .sales
            .traffic_packs_gb
            .iter()
            .any(|g| !(1..=100_000).contains(g))
        {
            bad("sales.traffic_packs_gb", "each pack is 1–100000 GB".into());
        }
        if !self.sales.traffic_packs_gb.is_empty() && self.sales.traffic_price_per_gb.is_none() {
            bad(
                "sales.traffic_price_per_gb",
                "traffic packs are offered but have no price: set it, or set traffic_packs_gb = []"
                    .into(),
            );
        }
        if self.sales.account_prefix.is_empty()
            || self.sales.account_prefix.len() > 8
            || !self
                .sales
                .account_prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            bad(
                "sales.account_prefix",
                "1–8 lowercase letters or digits".into(),
            );
        }
        if self.points.max_share_percent > 100 {
            bad("points.max_share_percent", "is a percentage, 0–100".into());
        }
        if self.referral.reward_wallet.is_some() && self.referral.reward_points.is_some() {
            bad(
                "referral",
                "set reward_wallet or reward_points, not both".into(),
            );
        }
        if self.referral.reward_points.is_some_and(|p| p <= 0) {
            bad("referral.reward_points", "must be positive".into());
        }
        self.validate_payments(&mut bad);
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bad(
                "log.format",
                format!("`{}` is not `text` or `json`", self.log.format),
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            bad(
                "log.level",
                format!(
                    "`{}` is not a log filter (try `info` or `debug`)",
                    self.log.level
                ),
            );
        }
        problems
    }

    fn validate_payments(&self, bad: &mut impl FnMut(&str, String)) {
        let p = &self.payments;
        let online = p.zarinpal.is_some()
            || p.yookassa.is_some()
            || p.nowpayments.is_some()
            || p.cryptobot.is_some();
        match &p.public_url {
            Some(u) => match url::Url::parse(u) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => bad(
                    "payments.public_url",
                    format!("`{u}` is not an http(s) URL"),
                ),
            },
            None if online => bad(
                "payments.public_url",
                "not set: gateways need the address of this server for callbacks".into(),
            ),
            None => {}
        }
        if p.reconcile_seconds < 1 {
            bad("payments.reconcile_seconds", "must be at least 1".into());
        }
        if Money::parse(&p.card.max_offset, self.currency()).is_err() {
            bad(
                "payments.card.max_offset",
                format!(
                    "`{}` is not an amount in {}",
                    p.card.max_offset,
                    self.currency()
                ),
            );
        }
        if let Some(a) = &p.card.second_approval_above
            && Money::parse(a, self.currency()).is_err()
        {
            bad(
                "payments.card.second_approval_above",
                format!("`{a}` is not an amount in {}", self.currency()),
            );
        }
        if p.card.reject_takeover_minutes < 1 {
            bad(
                "payments.card.reject_takeover_minutes",
                "must be at least 1".into(),
            );
        }
        if p.card.expire_minutes < 1 {
            bad("payments.card.expire_minutes", "must be at least 1".into());
        }
        if p.card.remind_minutes < 1 {
            bad("payments.card.remind_minutes", "must be at least 1".into());
        }
        let urls = [
            (
                "payments.zarinpal.api_url",
                p.zarinpal.as_ref().map(|z| &z.api_url),
            ),
            (
                "payments.yookassa.api_url",
                p.yookassa.as_ref().map(|z| &z.api_url),
            ),
            (
                "payments.nowpayments.api_url",
                p.nowpayments.as_ref().map(|z| &z.api_url),
            ),
            (
                "payments.cryptobot.api_url",
                p.cryptobot.as_ref().map(|z| &z.api_url),
            ),
        ];
        for (key, url) in urls {
            if let Some(url) = url
                && !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
            {
                bad(key, format!("`{url}` is not an http(s) URL"));
            }
        }
        if let Some(z) = &p.zarinpal {
            if !matches!(z.currency.as_str(), "IRR" | "IRT") {
                bad("payments.zarinpal.currency", "is `IRR` or `IRT`".into());
            }
            if !matches!(self.currency(), Currency::Irr | Currency::Irt) {
                bad(
                    "payments.zarinpal",
                    format!(
                        "Zarinpal charges rial; the shop sells in {}",
                        self.currency()
                    ),
                );
            }
        }
        if p.yookassa.is_some() && self.currency() != Currency::Rub {
            bad(
                "payments.yookassa",
                format!(
                    "YooKassa is set up for RUB here; the shop sells in {}",
                    self.currency()
                ),
            );
        }
        for (key, on) in [
            ("payments.nowpayments", p.nowpayments.is_some()),
            ("payments.cryptobot", p.cryptobot.is_some()),
        ] {
            if on
                && !matches!(
                    self.currency(),
                    Currency::Usd | Currency::Eur | Currency::Rub
                )
            {
                bad(
                    key,
                    format!(
                        "prices crypto invoices in USD, EUR or RUB; the shop sells in {}",
                        self.currency()
                    ),
                );
            }
        }
    }

    fn default_language(&self) -> Language {
        Language::parse(&self.shop.default_language).unwrap_or(Language::Fa)
    }

    fn currency(&self) -> Currency {
        self.shop.currency.parse().unwrap_or(Currency::Irt)
    }

    fn amount(&self, text: &Option<String>) -> Option<Money> {
        text.as_deref()
            .and_then(|t| Money::parse(t, self.currency()).ok())
            .filter(|m| m.minor() > 0)
    }

    /// The selling rules, parsed (after `validate`: see [`Settings::runtime`]).
    fn sales(&self) -> Sales {
        let currency = self.currency();
        let points_value = self.amount(&self.points.value);
        Sales {
            trial_plan: self.sales.trial_plan.clone(),
            quote_ttl: chrono::Duration::minutes(self.sales.quote_minutes.max(1)),
            stars: self.amount(&self.sales.stars_rate).and_then(StarsRate::new),
            stars_top_up: self.sales.stars_top_up.clone(),
            traffic_packs_gb: self.sales.traffic_packs_gb.clone(),
            traffic_price_per_gb: self.amount(&self.sales.traffic_price_per_gb),
            usage_max_age: chrono::Duration::minutes(self.sales.usage_max_age_minutes.max(0)),
            account_prefix: self.sales.account_prefix.clone(),
            points: PointsRules {
                value_minor: points_value
                    .map(|v| vec![(currency, v.minor())])
                    .unwrap_or_default(),
                max_share_percent: self.points.max_share_percent.min(100),
            },
            rewards: RewardRules {
                points_per_paid: self
                    .amount(&self.points.earn_per)
                    .map(|per| (per.minor(), self.points.earn_points)),
                points_expire_after: (self.points.expire_days > 0)
                    .then(|| chrono::Duration::days(self.points.expire_days)),
                referral: match (
                    self.amount(&self.referral.reward_wallet),
                    self.referral.reward_points,
                ) {
                    (Some(m), _) => Some(ReferralReward::Wallet(m)),
                    (None, Some(p)) if p > 0 => Some(ReferralReward::Points(p)),
                    _ => None,
                },
            },
            staff_chat: self.shop.staff_chat_id,
            limits: self.limits.clone(),
        }
    }
}

fn token_looks_valid(token: &str) -> bool {
    match token.split_once(':') {
        Some((id, secret)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && secret.len() >= 30
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        None => false,
    }
}

/// A database URL safe to print: the password replaced.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(content: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::with(content)
    }

    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn with(content: &str) -> Self {
                let p = std::env::temp_dir().join(format!("vpnshop-config-{}.toml", uuid_like()));
                std::fs::write(&p, content).unwrap();
                TempPath(p)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                std::fs::remove_file(&self.0).ok();
            }
        }
        fn uuid_like() -> String {
            format!("{:?}-{}", std::thread::current().id(), std::process::id())
                .replace(['(', ')'], "")
        }
    }

    fn no_env() -> Env {
        Env::prefixed("VPNSHOP_CONFIG_TEST_UNUSED__").split("__")
    }

    const TOKEN: &str = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp";

    #[test]
    fn a_good_file_validates() {
        let f = write(&format!(
            "[telegram]\ntoken = \"{TOKEN}\"\n[shop]\nadmin_ids = [7000000001]\n"
        ));
        let s = load_from(&f.0, no_env()).unwrap();
        assert_eq!(s.validate(), vec![]);
        assert_eq!(s.shop.admin_ids, vec![7_000_000_001]);
        assert!(
            !format!("{s:?}").contains("AAbb"),
            "the token must not print"
        );
    }

    #[test]
    fn a_wrong_type_names_its_key_and_file() {
        let f = write("[shop]\nstaff_chat_id = \"abc\"\n");
        let problems = load_from(&f.0, no_env()).unwrap_err();
        assert_eq!(problems[0].key, "shop.staff_chat_id");
        assert!(
            problems[0].message.contains("vpnshop-config"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn an_unknown_key_and_a_bad_value_are_named() {
        let f = write("[telegram]\ntokn = \"x\"\n");
        assert!(
            load_from(&f.0, no_env()).unwrap_err()[0]
                .message
                .contains("tokn")
        );
        let f = write(&format!(
            "[telegram]\ntoken = \"{TOKEN}\"\nmode = \"pigeon\"\n"
        ));
        assert_eq!(
            load_from(&f.0, no_env()).unwrap_err()[0].key,
            "telegram.mode"
        );
        let f = write("[shop]\ndefault_language = \"de\"\ncurrency = \"BTC\"\n");
        let keys: Vec<String> = load_from(&f.0, no_env())
            .unwrap()
            .validate()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            keys,
            vec!["telegram.token", "shop.default_language", "shop.currency"]
        );
    }

    /// What sellers write without quotes, in the file or the environment: numbers where text is
    /// expected. They are taken as the text they stand for.
    #[test]
    fn numbers_are_accepted_where_text_is_expected() {
        let f = write(&format!(
            "[telegram]\ntoken = \"{TOKEN}\"\n[sales]\nstars_rate = 1500\n\
             [payments.card]\nmax_offset = 0\n\
             [payments.yookassa]\nshop_id = 123456\nsecret_key = 987654321\n"
        ));
        let s = load_from(&f.0, no_env()).unwrap();
        assert_eq!(s.sales.stars_rate.as_deref(), Some("1500"));
        assert_eq!(s.payments.card.max_offset, "0");
        let yk = s.payments.yookassa.as_ref().unwrap();
        assert_eq!(yk.shop_id, "123456");
        assert_eq!(yk.secret_key.expose_secret(), "987654321");
    }

    /// A secret of the wrong kind is named, never repeated.
    #[test]
    fn a_secrets_value_is_never_echoed() {
        let f = write("[payments.cryptobot]\ntoken = true\n");
        let problems = load_from(&f.0, no_env()).unwrap_err();
        assert_eq!(problems[0].key, "payments.cryptobot.token");
        assert!(
            !problems[0].message.contains("true"),
            "{}",
            problems[0].message
        );
        let f = write("[payments.zarinpal]\nmerchant_id = [4242]\n");
        let problems = load_from(&f.0, no_env()).unwrap_err();
        assert!(
            !problems[0].message.contains("4242"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(
            redacted_url("postgres://shop:s3cret@db:5432/shop"),
            "postgres://shop:***@db:5432/shop"
        );
        assert_eq!(redacted_url("sqlite://vpnshop.db"), "sqlite://vpnshop.db");
    }
}
