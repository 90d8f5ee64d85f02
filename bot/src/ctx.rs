//! What every handler and job shares, built once at start-up: the database, the clock, the
//! shop's rules, and the Bot API client they talk through.
use std::sync::Arc;

use vpnshop_core::clock::Clock;
use vpnshop_core::customers::Language;
use vpnshop_core::money::Currency;
use vpnshop_core::sea_orm::DatabaseConnection;

use vpnshop_core::payments::methods::PaymentMethods;
use vpnshop_core::sales::SalesRules;

use crate::config::LimitsSettings;

/// The Bot API client every message goes out through: HTML by default, so no send can forget
/// it, and wrapping it again (throttling) is one line in `app.rs`.
pub type TgBot = teloxide::adaptors::DefaultParseMode<teloxide::Bot>;

/// What every handler needs, built once at start-up.
pub struct Ctx {
    pub db: DatabaseConnection,
    pub clock: Arc<dyn Clock>,
    pub shop_name: String,
    pub default_language: Language,
    pub currency: Currency,
    /// The bot's @username, for deep links (`t.me/<username>?start=ref_…`).
    pub bot_username: String,
    pub sales: SalesRules,
    /// The schedule of subscriptions' lives: reminders, automatic renewal, expiry.
    pub life: vpnshop_core::subscriptions::rules::LifeRules,
    pub payments: Arc<PaymentMethods>,
    /// The chat (group) where staff get notifications.
    pub staff_chat: Option<i64>,
    /// The hour (UTC) the staff chat gets the day's summary.
    pub daily_summary_hour: Option<u32>,
    /// How long a ticket waits for an answer before staff are reminded; `None`: never.
    pub ticket_reminder_after: Option<chrono::Duration>,
    /// How often panels are checked; `None`: never.
    pub panel_check_every: Option<chrono::Duration>,
    /// What one customer may have at once.
    pub limits: LimitsSettings,
    /// This process's reading of the maintenance switch.
    pub maintenance: crate::handlers::maintenance::Switch,
    /// This process's reading of the settings changed from the bot.
    pub overrides: crate::overrides::Cached,
    /// Customers found in the required channel lately.
    pub members: crate::handlers::channel::Members,
    /// How many updates each chat sent in its current window (flood control).
    pub flood: crate::handlers::flood::Windows,
    /// Whether the staff chat takes the bot's posts (card-to-card and support need it).
    pub staff: Arc<crate::staff_chat::StaffChat>,
    /// The pace every broadcast shares (`[broadcasts]`).
    pub broadcast_pace: vpnshop_core::pace::Rate,
    /// `[backups]`.
    pub backups: crate::config::BackupsSettings,
    pub database_url: secrecy::SecretString,
}

impl Ctx {
    /// The context for a shop named `shop_name`, served as @`bot_username`, by `runtime`'s rules.
    pub fn new(
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        (shop_name, bot_username): (String, String),
        runtime: crate::config::Runtime,
    ) -> Ctx {
        let staff = crate::staff_chat::StaffChat::new(runtime.staff_chat)
            .with_topics(runtime.staff_topics)
            .with_shared_pace(db.clone(), clock.clone());
        Ctx {
            db,
            clock,
            shop_name,
            default_language: runtime.default_language,
            currency: runtime.currency,
            bot_username,
            sales: runtime.sales,
            life: runtime.life,
            payments: Arc::new(runtime.payments),
            staff_chat: runtime.staff_chat,
            daily_summary_hour: runtime.daily_summary_hour,
            ticket_reminder_after: runtime.ticket_reminder_after,
            panel_check_every: runtime.panel_check_every,
            staff: Arc::new(staff),
            limits: runtime.limits,
            broadcast_pace: runtime.broadcast_pace,
            backups: runtime.backups,
            database_url: runtime.database_url,
            maintenance: Default::default(),
            overrides: Default::default(),
            members: Default::default(),
            flood: Default::default(),
        }
    }
}
