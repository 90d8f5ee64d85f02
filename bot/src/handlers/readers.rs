//! Whom a notice is for: a customer found again by id (the job names them, nothing else), the
//! language they read, and their private chat.
use teloxide::types::ChatId;
use vpnshop_core::customers::{self, Customer, Language};
use vpnshop_core::ids::CustomerId;

use crate::ctx::Ctx;
use crate::errors::BotError;

/// The customer a notice is for; one who is gone can never be told.
pub async fn customer(ctx: &Ctx, id: CustomerId) -> Result<Customer, BotError> {
    customers::by_id(&ctx.db, id)
        .await?
        .ok_or_else(|| BotError::Undeliverable(format!("customer {id} is gone")))
}

/// Their language, else the shop's.
pub fn lang(ctx: &Ctx, c: &Customer) -> Language {
    c.lang().unwrap_or(ctx.default_language)
}

/// Their private chat with the bot.
pub fn chat(c: &Customer) -> ChatId {
    ChatId(c.telegram_id.get())
}
