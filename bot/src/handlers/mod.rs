//! The handler tree: messages and button presses, each routed to the feature that owns it.
mod buy;
mod checkout;
mod flood;
mod guides;
mod help;
mod invite;
mod language;
mod menu;
mod panics;
mod payments;
mod points;
pub mod receipts;
pub mod reviews;
mod start;
mod subscriptions;
mod support;
mod trial;
mod wallet;

pub use guides::guide_keyboard;
pub use subscriptions::{send_qr, summary as subscription_summary};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::{Dialogue, ErasedStorage};
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId, ParseMode, User};
use vpnshop_core::clock::Clock;
use vpnshop_core::customers::{self, Contact, Customer, Language};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::money::Currency;
use vpnshop_core::sea_orm::DatabaseConnection;

use crate::callback::Action;
use crate::config::Sales;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

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

/// Who pressed or wrote, where, and in which language: what every handler needs, built once
/// by the router for each update and handed down whole.
#[derive(Clone, Copy)]
pub struct Visit<'a> {
    pub bot: &'a Bot,
    pub chat: ChatId,
    /// The message to edit in place (a button press), or none (a typed message).
    pub edit: Option<MessageId>,
    pub ctx: &'a Ctx,
    pub customer: &'a Customer,
    pub lang: Language,
}

/// Where a chat is in a conversation. Stored in the database as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum State {
    #[default]
    Idle,
    /// First contact: waiting for the customer to pick a language.
    ChoosingLanguage,
    /// Checkout: waiting for a promo code for this pending order.
    EnteringPromo { order: i64 },
    /// Support: waiting for a ticket message (a new ticket when `None`).
    WritingTicket { ticket: Option<i64> },
    /// Card-to-card: waiting for the receipt photo of this payment.
    AwaitingReceipt { payment: i64 },
    /// Top-up: waiting for the amount to pay through this method.
    EnteringTopUp { method: String },
}

pub use receipts::post as post_receipt;

pub type ChatDialogue = Dialogue<State, ErasedStorage<State>>;

pub fn schema() -> UpdateHandler<BotError> {
    panics::guard()
        .filter(flood::allowed)
        .branch(
            Update::filter_message()
                .branch(
                    dptree::filter(|msg: Message, ctx: Arc<Ctx>| {
                        ctx.sales.staff_chat == Some(msg.chat.id.0)
                    })
                    .endpoint(support::on_staff_chat),
                )
                .branch(
                    dptree::filter(|msg: Message| msg.successful_payment().is_some())
                        .endpoint(payments::on_successful_payment),
                )
                .enter_dialogue::<Message, ErasedStorage<State>, State>()
                .endpoint(start::on_message),
        )
        .branch(
            Update::filter_callback_query()
                .filter(|q: CallbackQuery, ctx: Arc<Ctx>| {
                    ctx.sales.staff_chat.is_some()
                        && q.regular_message().map(|m| m.chat.id.0) == ctx.sales.staff_chat
                })
                .endpoint(on_staff_button),
        )
        .branch(
            Update::filter_callback_query()
                .enter_dialogue::<CallbackQuery, ErasedStorage<State>, State>()
                .endpoint(menu::on_callback),
        )
        .branch(Update::filter_pre_checkout_query().endpoint(payments::on_pre_checkout))
}

fn contact(user: &User) -> Contact {
    Contact {
        telegram_id: TelegramId::new(user.id.0 as i64),
        username: user.username.clone(),
        first_name: user.first_name.clone(),
    }
}

/// The language to speak: the customer's choice, else their Telegram app's, else the shop's.
fn language_of(ctx: &Ctx, customer: &Customer, user: &User) -> Language {
    customer.lang().unwrap_or_else(|| guess_language(ctx, user))
}

/// The language before we know the customer: their Telegram app's, else the shop's.
fn guess_language(ctx: &Ctx, user: &User) -> Language {
    user.language_code
        .as_deref()
        .and_then(|c| Language::parse(c.get(..2).unwrap_or(c)))
        .unwrap_or(ctx.default_language)
}

/// Registers (or refreshes) the person behind an update. When the database fails, the person
/// is told, in the best language we can guess, and `None` is returned.
async fn registered(bot: &Bot, ctx: &Ctx, user: &User, referral: Option<&str>) -> Option<Customer> {
    match customers::register(&ctx.db, &contact(user), referral, ctx.clock.now()).await {
        Ok(reg) => Some(reg.customer),
        Err(e) => {
            apologize(
                bot,
                ChatId(user.id.0 as i64),
                guess_language(ctx, user),
                &e.into(),
            )
            .await;
            None
        }
    }
}

/// Sends `text` (HTML) to the chat, or replaces the message `edit` with it.
async fn show(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    text: String,
    keyboard: InlineKeyboardMarkup,
) -> HandlerResult {
    if let Some(message_id) = edit {
        let edited = bot
            .edit_message_text(chat, message_id, text.clone())
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard.clone())
            .await;
        match edited {
            Ok(_) => return Ok(()),
            // "message is not modified": the same screen pressed twice. Nothing to do.
            Err(teloxide::RequestError::Api(teloxide::ApiError::MessageNotModified)) => {
                return Ok(());
            }
            // The message is too old to edit: fall through and send a new one.
            Err(teloxide::RequestError::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    bot.send_message(chat, text)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard)
        .await?;
    Ok(())
}

/// Sends a new HTML message.
async fn say(
    bot: &Bot,
    chat: ChatId,
    text: String,
    keyboard: InlineKeyboardMarkup,
) -> HandlerResult {
    bot.send_message(chat, text)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboard)
        .await?;
    Ok(())
}

/// The polite answer to an old, forged or someone else's button: nothing changed.
async fn stale(bot: &Bot, chat: ChatId, lang: Language) -> HandlerResult {
    say(
        bot,
        chat,
        tr(lang, "errors.stale_button"),
        keyboards::back_to_menu(lang),
    )
    .await
}

/// Logs an internal failure and tells the customer, in their language, that it was ours.
async fn apologize(bot: &Bot, chat: ChatId, lang: Language, error: &BotError) {
    tracing::error!(chat = chat.0, error = %error, "handler failed");
    let _ = bot
        .send_message(chat, tr(lang, "errors.internal"))
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboards::back_to_menu(lang))
        .await;
}

/// A button pressed in the staff chat: a payment in review, or a card-to-card receipt.
async fn on_staff_button(bot: Bot, q: CallbackQuery, ctx: Arc<Ctx>) -> HandlerResult {
    match q.data.as_deref().and_then(Action::decode) {
        Some(
            Action::ReviewCreditReceived(_)
            | Action::ReviewCreditFull(_)
            | Action::ReviewDecline(_),
        ) => reviews::on_staff_callback(bot, q, ctx).await,
        _ => receipts::on_staff_callback(bot, q, ctx).await,
    }
}
