//! Errors of the bot's handlers: a refusal, which the customer is told in their language
//! (`refusals.rs` maps every core refusal to its text), or an internal failure, which is logged
//! (without secrets) and apologized for with `errors.internal` and a way back to the menu.
use vpnshop_core::sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The shop says no, for a reason the customer is told.
    #[error("refused: {}", .0.key)]
    Refused(crate::refusals::Refusal),
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

impl From<vpnshop_core::broadcasts::BroadcastError> for BotError {
    fn from(e: vpnshop_core::broadcasts::BroadcastError) -> Self {
        match e {
            vpnshop_core::broadcasts::BroadcastError::Db(e) => BotError::Db(e),
            other => BotError::Service(other.to_string()),
        }
    }
}
