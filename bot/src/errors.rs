//! Errors of the bot's handlers. A customer never sees these: they are logged (without secrets)
//! and the customer gets the localized apology `errors.internal` with a way back to the menu.
use vpnshop_core::sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("telegram: {0}")]
    Telegram(#[from] teloxide::RequestError),
    #[error("dialogue storage: {0}")]
    Storage(String),
    /// A core service failed in a way the customer cannot fix (logged, apologized for).
    #[error("{0}")]
    Service(String),
    /// A notice that can never be delivered: its reader, or the staff chat, is gone.
    #[error("undeliverable: {0}")]
    Undeliverable(String),
}

impl From<Box<dyn std::error::Error + Send + Sync>> for BotError {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Self {
        BotError::Storage(e.to_string())
    }
}

pub type HandlerResult = Result<(), BotError>;
