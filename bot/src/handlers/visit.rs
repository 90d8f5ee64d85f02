//! One customer's update, understood once: who they are (registered or loaded in one place),
//! which language to answer in, which chat, which message a button press edits, and their
//! dialogue. The dispatch tree builds a [`Visit`] before any feature handler runs; handlers take
//! `&Visit` and answer through it.
use std::sync::Arc;

use teloxide::dispatching::dialogue::ErasedStorage;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId, User};
use vpnshop_core::customers::{self, Contact, Customer, Language};
use vpnshop_core::ids::TelegramId;

use super::{ChatDialogue, State};
use crate::callback::Action;
use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

/// Who pressed or wrote, where, and in which language.
#[derive(Clone)]
pub struct Visit {
    pub bot: TgBot,
    pub chat: ChatId,
    /// The message to edit in place (a button press), or none (a typed message).
    pub edit: Option<MessageId>,
    pub ctx: Arc<Ctx>,
    pub customer: Customer,
    pub lang: Language,
    /// The chat's dialogue; its state is read only by the steps that need it.
    pub dialogue: ChatDialogue,
}

impl Visit {
    /// Sends `text` (HTML), or replaces the pressed message with it.
    pub async fn show(&self, text: String, keyboard: InlineKeyboardMarkup) -> HandlerResult {
        if let Some(message_id) = self.edit {
            let edited = self
                .bot
                .edit_message_text(self.chat, message_id, text.clone())
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
        self.say(text, keyboard).await
    }

    /// Sends a new HTML message.
    pub async fn say(&self, text: String, keyboard: InlineKeyboardMarkup) -> HandlerResult {
        self.bot
            .send_message(self.chat, text)
            .reply_markup(keyboard)
            .await?;
        Ok(())
    }

    /// The polite answer to an old, forged or someone else's button: nothing changed.
    pub async fn stale(&self) -> HandlerResult {
        self.say(
            tr(self.lang, "errors.stale_button"),
            keyboards::back_to_menu(self.lang),
        )
        .await
    }

    /// Logs an internal failure and tells the customer, in their language, that it was ours.
    pub async fn apologize(&self, error: &BotError) {
        apologize(&self.bot, self.chat, self.lang, error).await;
    }

    /// Moves the dialogue to `state`, writing only when it changes.
    pub async fn set_state(&self, state: State) -> HandlerResult {
        if self.dialogue.get().await?.unwrap_or_default() != state {
            self.dialogue.update(state).await?;
        }
        Ok(())
    }

    /// The same visit answered in another language (the one just chosen).
    pub fn speaking(&self, lang: Language) -> Visit {
        Visit {
            lang,
            ..self.clone()
        }
    }
}

/// Logs an internal failure and tells the person, in `lang`, that it was ours.
pub async fn apologize(bot: &TgBot, chat: ChatId, lang: Language, error: &BotError) {
    tracing::error!(chat = chat.0, error = %error, "handler failed");
    say_sorry(bot, chat, lang).await;
}

/// The apology for a failure of ours, with a way back to the menu: the one place it is said.
pub async fn say_sorry(bot: &TgBot, chat: ChatId, lang: Language) {
    let _ = bot
        .send_message(chat, tr(lang, "errors.internal"))
        .reply_markup(keyboards::back_to_menu(lang))
        .await;
}

fn contact(user: &User) -> Contact {
    Contact {
        telegram_id: TelegramId::new(user.id.0 as i64),
        username: user.username.clone(),
        first_name: user.first_name.clone(),
    }
}

/// The language to speak: the customer's choice, else their Telegram app's, else the shop's.
pub fn language_of(ctx: &Ctx, customer: &Customer, user: &User) -> Language {
    customer.lang().unwrap_or_else(|| guess_language(ctx, user))
}

/// The language before we know the customer: their Telegram app's, else the shop's.
pub fn guess_language(ctx: &Ctx, user: &User) -> Language {
    user.language_code
        .as_deref()
        .and_then(|c| Language::parse(c.get(..2).unwrap_or(c)))
        .unwrap_or(ctx.default_language)
}

/// Registers (or loads) the person behind an update. When the database fails, the person
/// is told, in the best language we can guess, and `None` is returned.
async fn registered(
    bot: &TgBot,
    ctx: &Ctx,
    user: &User,
    referral: Option<&str>,
) -> Option<Customer> {
    match customers::register(&ctx.db, &contact(user), referral, ctx.clock.now()).await {
        Ok(reg) => Some(reg.customer),
        Err(e) => {
            let lang = guess_language(ctx, user);
            apologize(bot, ChatId(user.id.0 as i64), lang, &e.into()).await;
            None
        }
    }
}

/// A message in a private chat: the visit of its sender (registered on first contact, with the
/// referral code of a `/start ref_<code>` link). Other chats are not customers.
pub async fn of_message(
    bot: TgBot,
    msg: Message,
    ctx: Arc<Ctx>,
    storage: Arc<ErasedStorage<State>>,
) -> Option<Visit> {
    let user = msg.from.as_ref().filter(|_| msg.chat.is_private())?;
    let text = msg.text().unwrap_or_default().trim();
    let referral = text
        .strip_prefix("/start")
        .map(str::trim)
        .and_then(|payload| payload.strip_prefix("ref_"))
        .filter(|code| !code.is_empty() && code.len() <= 32);
    let customer = registered(&bot, &ctx, user, referral).await?;
    Some(Visit {
        lang: language_of(&ctx, &customer, user),
        chat: msg.chat.id,
        edit: None,
        dialogue: ChatDialogue::new(storage, msg.chat.id),
        bot,
        ctx,
        customer,
    })
}

/// A button pressed in the presser's own private chat: their visit, editing the pressed
/// message. Buttons anywhere else act on nothing.
pub async fn of_button(
    bot: TgBot,
    q: CallbackQuery,
    ctx: Arc<Ctx>,
    storage: Arc<ErasedStorage<State>>,
) -> Option<Visit> {
    let customer = registered(&bot, &ctx, &q.from, None).await?;
    let lang = language_of(&ctx, &customer, &q.from);
    let message = q.regular_message();
    let own_chat =
        message.is_some_and(|m| m.chat.is_private() && m.chat.id.0 == q.from.id.0 as i64);
    if !own_chat {
        let _ = bot.answer_callback_query(q.id.clone()).await;
        return None;
    }
    let chat = message.map(|m| m.chat.id)?;
    Some(Visit {
        lang,
        chat,
        edit: message.map(|m| m.id),
        dialogue: ChatDialogue::new(storage, chat),
        bot,
        ctx,
        customer,
    })
}

/// What the pressed button asks for. The spinner is answered here, before any work: silently
/// for a button we know, with "this button is no longer active" for forged or old data (or a
/// banned customer), which then goes no further.
pub async fn action_of(q: CallbackQuery, v: Visit) -> Option<Action> {
    let action = q
        .data
        .as_deref()
        .and_then(Action::decode)
        .filter(|_| !v.customer.banned);
    let answer = v.bot.answer_callback_query(q.id.clone());
    let answered = match action {
        Some(_) => answer.await,
        None => answer.text(tr(v.lang, "errors.stale_button")).await,
    };
    if let Err(e) = answered {
        tracing::warn!(error = %e, "cannot answer a button press");
    }
    action
}
