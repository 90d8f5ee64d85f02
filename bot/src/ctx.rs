//! What every handler and job shares, built once at start-up: the database, the clock, the
//! shop's rules, and the Bot API client they talk through.
use std::sync::Arc;

use vpnshop_core::clock::Clock;
use vpnshop_core::customers::Language;
use vpnshop_core::money::Currency;
use vpnshop_core::sea_orm::DatabaseConnection;

use crate::config::Sales;

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
    pub sales: Sales,
    pub payments: Arc<crate::payment_methods::PaymentMethods>,
    /// Whether the staff chat takes the bot's posts (card-to-card and support need it).
    pub staff: Arc<crate::staff_chat::StaffChat>,
}
