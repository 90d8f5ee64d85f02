//! Configuration: `vpnshop.toml`, then an environment variable for every key, named by its path
//! (`VPNSHOP__TELEGRAM__TOKEN` overrides `telegram.token`). Secrets are wrapped so that they never
//! print, and `validate` names the exact key that is wrong and why.
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};

use serde::Deserialize;
use vpnshop_core::config::{Problems, lenient};
use vpnshop_core::customers::Language;
use vpnshop_core::money::Currency;
use vpnshop_core::payments::methods::PaymentMethods;
use vpnshop_core::sales::SalesRules;

pub use vpnshop_core::config::Problem;
pub use vpnshop_core::payments::card::CardSettings;
pub use vpnshop_core::payments::gateways::cryptobot::CryptoBotSettings;
pub use vpnshop_core::payments::gateways::nowpayments::NowPaymentsSettings;
pub use vpnshop_core::payments::gateways::yookassa::YooKassaSettings;
pub use vpnshop_core::payments::gateways::zarinpal::ZarinpalSettings;
pub use vpnshop_core::payments::methods::PaymentsSettings;
pub use vpnshop_core::sales::{PointsSettings, ReferralSettings, SalesSettings};
pub use vpnshop_core::subscriptions::rules::{LifeRules, LifeSettings};

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
    pub panels: PanelsSettings,
    pub subscriptions: LifeSettings,
    pub broadcasts: BroadcastsSettings,
    pub backups: BackupsSettings,
}

/// `[broadcasts]`: how fast a broadcast goes out.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BroadcastsSettings {
    /// Messages a second, for every broadcast of every process on this database together,
    /// spaced evenly. Telegram allows about 30 a second to different chats; the default stays
    /// just under it, with room for the network's timing jitter.
    pub per_second: f64,
}

impl Default for BroadcastsSettings {
    fn default() -> Self {
        BroadcastsSettings { per_second: 29.3 }
    }
}

/// `[backups]`: the scheduled backup, and where `vpnshop backup` keeps its files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsSettings {
    /// Hours between scheduled backups (on the hour, counted from midnight UTC); 0: none.
    pub every_hours: u32,
    /// How many backups to keep in `dir` (the oldest go first).
    pub keep: u32,
    /// Where backups are kept.
    pub dir: String,
    /// Send each scheduled backup to the owners, as a document (in parts above 49 MB).
    pub send_to_owners: bool,
}

impl Default for BackupsSettings {
    fn default() -> Self {
        BackupsSettings {
            every_hours: 24,
            keep: 7,
            dir: "backups".into(),
            send_to_owners: true,
        }
    }
}

/// `[panels]`: how the shop watches its panels.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PanelsSettings {
    /// Every this many seconds each enabled panel is asked whether it answers; one that stops is
    /// taken off sale and staff are told (once, and once when it is back). 0: never.
    pub health_check_seconds: u64,
    /// Paid orders for a location whose panels are all down wait this many minutes (tried
    /// again each minute, without using up attempts) before they are refunded.
    pub outage_refund_minutes: i64,
}

impl Default for PanelsSettings {
    fn default() -> Self {
        PanelsSettings {
            health_check_seconds: 60,
            outage_refund_minutes: 60,
        }
    }
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
    /// A job taken by a process is its own for this long, renewed every third of it while it
    /// runs; a process killed outright (`kill -9`, power loss) leaves its jobs to the next one
    /// after this long.
    pub job_lease_seconds: u64,
    /// For trying the shop's schedule quickly against fakes, never in a shop that sells: the
    /// clock runs this many times faster than real time (1: real time) …
    pub clock_speed: u32,
    /// … counted from this moment (RFC 3339; unset: when the process starts). Two processes
    /// given the same origin and speed agree on the time.
    pub clock_origin: Option<String>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            shutdown_seconds: 20,
            job_lease_seconds: 300,
            clock_speed: 1,
            clock_origin: None,
        }
    }
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
    /// The hour (0–23, UTC) the staff chat gets a summary of the day; unset: none.
    pub daily_summary_hour: Option<u32>,
    /// In a staff chat that is a forum: the topic (its thread id) each kind of notice goes to.
    pub staff_topics: StaffTopicsSettings,
    /// Minutes a customer's ticket message may wait for an answer before staff are reminded
    /// (once per wait); 0: no reminders.
    pub ticket_reminder_minutes: u32,
    /// The language used before a customer picks one: fa, en or ru.
    pub default_language: String,
    /// The currency prices and wallets are in.
    pub currency: String,
}

/// `[shop.staff_topics]`: in a staff chat with topics (a forum), which topic each kind of
/// notice is posted in, by the topic's thread id (the number at the end of a message link in
/// it). A kind left out goes to the chat's General topic.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaffTopicsSettings {
    /// Sales and refunds.
    pub sales: Option<i32>,
    /// Card-to-card receipts to review.
    pub receipts: Option<i32>,
    /// Payments in review (paid, but not as asked).
    pub payments: Option<i32>,
    /// Support tickets, customer replies and reminders.
    pub tickets: Option<i32>,
    /// The daily summary.
    pub summary: Option<i32>,
    /// Everything else: undeliverable answers, problems.
    pub alerts: Option<i32>,
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
            daily_summary_hour: None,
            staff_topics: StaffTopicsSettings::default(),
            ticket_reminder_minutes: 60,
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

/// The rules the bot runs by, parsed from [`Settings`] in one pass that checks every key.
pub struct Runtime {
    pub default_language: Language,
    pub currency: Currency,
    pub sales: SalesRules,
    pub life: LifeRules,
    pub payments: PaymentMethods,
    pub staff_chat: Option<i64>,
    pub daily_summary_hour: Option<u32>,
    /// How long a ticket waits for an answer before staff are reminded; `None`: never.
    pub ticket_reminder_after: Option<chrono::Duration>,
    /// How often panels are checked; `None`: never.
    pub panel_check_every: Option<chrono::Duration>,
    pub staff_topics: StaffTopicsSettings,
    pub limits: LimitsSettings,
    /// A fast clock (`run.clock_speed` > 1), or `None` for real time.
    pub clock: Option<vpnshop_core::clock::FastClock>,
    /// The pace every broadcast shares.
    pub broadcast_pace: vpnshop_core::pace::Rate,
    pub backups: BackupsSettings,
    /// What the scheduled backup dumps (`pg_dump` needs the URL).
    pub database_url: SecretString,
}

impl Settings {
    /// Checks every key and parses the settings in one pass: the rules the bot runs by, or
    /// every problem, each with its key. The only way to the parsed rules, so no stand-in for a
    /// wrong value ever reaches a running bot.
    pub fn runtime(&self) -> Result<Runtime, Vec<Problem>> {
        self.rules(true)
    }

    fn rules(&self, telegram: bool) -> Result<Runtime, Vec<Problem>> {
        let mut problems = Problems::new();
        if telegram {
            self.check_telegram(&mut problems);
        }
        let db = self.database.url.expose_secret();
        problems.require(
            db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"),
            "database.url",
            "must start with sqlite:// or postgres://",
        );
        let default_language = Language::parse(&self.shop.default_language).unwrap_or_else(|| {
            problems.bad(
                "shop.default_language",
                format!("`{}` is not one of fa, en, ru", self.shop.default_language),
            );
            Language::Fa
        });
        let currency = self.shop.currency.parse::<Currency>().unwrap_or_else(|e| {
            problems.bad("shop.currency", e.to_string());
            Currency::Irt
        });
        problems.require(
            self.shop.admin_ids.iter().all(|id| *id > 0),
            "shop.admin_ids",
            "Telegram user ids are positive numbers",
        );
        problems.require(
            !self.shop.name.trim().is_empty(),
            "shop.name",
            "must not be empty",
        );
        problems.require(
            self.shop.daily_summary_hour.is_none_or(|h| h < 24),
            "shop.daily_summary_hour",
            "is an hour of the day, 0–23 (UTC)",
        );
        let sales = self
            .sales
            .rules(&self.points, &self.referral, currency, &mut problems);
        let life = self
            .subscriptions
            .rules(self.panels.outage_refund_minutes, &mut problems);
        problems.require(
            (1..=10_000).contains(&self.run.clock_speed),
            "run.clock_speed",
            "is 1 (real time) to 10000",
        );
        let clock_origin = match self.run.clock_origin.as_deref() {
            None => None,
            Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.with_timezone(&chrono::Utc)),
                Err(_) => {
                    problems.bad("run.clock_origin", format!("`{t}` is not an RFC 3339 time"));
                    None
                }
            },
        };
        let payments = self
            .payments
            .methods(currency, self.limits.card_transfers, &mut problems);
        problems.require(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format",
            format!("`{}` is not `text` or `json`", self.log.format),
        );
        problems.require(
            tracing_subscriber::EnvFilter::try_new(&self.log.level).is_ok(),
            "log.level",
            format!(
                "`{}` is not a log filter (try `info` or `debug`)",
                self.log.level
            ),
        );
        problems.require(
            (0.1..=1_000.0).contains(&self.broadcasts.per_second),
            "broadcasts.per_second",
            "is 0.1 to 1000 (Telegram allows about 30)",
        );
        problems.require(
            self.backups.every_hours <= 24 * 7,
            "backups.every_hours",
            "is 0 (no scheduled backups) to 168",
        );
        problems.require(
            (1..=1_000).contains(&self.backups.keep),
            "backups.keep",
            "is 1 to 1000",
        );
        problems.require(
            !self.backups.dir.trim().is_empty(),
            "backups.dir",
            "must not be empty",
        );
        problems.finish(Runtime {
            broadcast_pace: vpnshop_core::pace::Rate {
                key: "pace:broadcasts".into(),
                limit: 1,
                window: chrono::Duration::microseconds(
                    (1_000_000.0 / self.broadcasts.per_second.clamp(0.1, 1_000.0)).round() as i64,
                ),
            },
            backups: self.backups.clone(),
            database_url: self.database.url.clone(),
            default_language,
            currency,
            sales,
            life,
            payments,
            staff_chat: self.shop.staff_chat_id,
            daily_summary_hour: self.shop.daily_summary_hour,
            staff_topics: self.shop.staff_topics,
            panel_check_every: (self.panels.health_check_seconds > 0).then(|| {
                chrono::Duration::seconds(self.panels.health_check_seconds.min(86_400) as i64)
            }),
            ticket_reminder_after: (self.shop.ticket_reminder_minutes > 0)
                .then(|| chrono::Duration::minutes(i64::from(self.shop.ticket_reminder_minutes))),
            limits: self.limits.clone(),
            clock: (self.run.clock_speed > 1).then(|| {
                vpnshop_core::clock::FastClock::new(
                    clock_origin.unwrap_or_else(chrono::Utc::now),
                    self.run.clock_speed,
                )
            }),
        })
    }

    /// The rules for a command that never talks to Telegram (`vpnshop reconcile`): as
    /// [`Settings::runtime`], without the Telegram keys.
    pub fn runtime_for_jobs(&self) -> Result<Runtime, Vec<Problem>> {
        self.rules(false)
    }

    /// Everything that is wrong, each with its key. Empty when the bot can start.
    pub fn validate(&self) -> Vec<Problem> {
        self.runtime().err().unwrap_or_default()
    }

    /// The Bot API connection and how updates arrive.
    fn check_telegram(&self, problems: &mut Problems) {
        match &self.telegram.token {
            None => problems.bad(
                "telegram.token",
                format!("not set: put the token from @BotFather in {} or in vpnshop.toml", env_name("telegram.token")),
            ),
            Some(t) if !token_looks_valid(t.expose_secret()) => problems.bad(
                "telegram.token",
                "does not look like a bot token (expected digits, a colon, then 30+ letters, digits, - or _)",
            ),
            Some(_) => {}
        }
        match url::Url::parse(&self.telegram.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => problems.bad(
                "telegram.api_url",
                format!("`{}` is not an http(s) URL", self.telegram.api_url),
            ),
        }
        if let Some(proxy) = &self.telegram.proxy {
            match url::Url::parse(proxy.expose_secret()) {
                Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => {}
                _ => problems.bad(
                    "telegram.proxy",
                    "must be an http://, https:// or socks5:// URL",
                ),
            }
        }
        if self.telegram.mode == UpdateMode::Webhook {
            match self.telegram.webhook_url.as_deref().map(url::Url::parse) {
                None => problems.bad(
                    "telegram.webhook_url",
                    format!(
                        "webhook mode needs the public URL Telegram should post to ({})",
                        env_name("telegram.webhook_url")
                    ),
                ),
                Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                Some(_) => problems.bad("telegram.webhook_url", "is not an http(s) URL"),
            }
            if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
                problems.bad(
                    "http.listen",
                    format!("`{}` is not an address like 0.0.0.0:8443", self.http.listen),
                );
            }
            if self.telegram.webhook_secret.is_none() {
                problems.bad(
                    "telegram.webhook_secret",
                    format!(
                        "webhook mode needs a secret shared by every process (e.g. `openssl rand -hex 32`), in {}",
                        env_name("telegram.webhook_secret")
                    ),
                );
            }
        }
        if !(1..=600).contains(&self.run.shutdown_seconds) {
            problems.bad("run.shutdown_seconds", "must be 1–600");
        }
        if let Some(secret) = &self.telegram.webhook_secret {
            let s = secret.expose_secret();
            if s.is_empty()
                || s.len() > 256
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                problems.bad(
                    "telegram.webhook_secret",
                    "1–256 characters: letters, digits, - and _ only",
                );
            }
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
