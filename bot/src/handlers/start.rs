//! `/start` (with an optional `ref_<code>` deep link), the other commands, and any text that
//! arrives outside a dialogue step.
use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::ParseMode;
use vpnshop_core::customers;

use super::{
    ChatDialogue, Ctx, State, Visit, apologize, buy, checkout, help, language, language_of, menu,
    registered, subscriptions, support, wallet,
};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::tr;

pub async fn on_message(
    bot: Bot,
    msg: Message,
    dialogue: ChatDialogue,
    ctx: Arc<Ctx>,
) -> HandlerResult {
    // Only private chats are customers; staff-chat messages belong to the staff features.
    let (true, Some(user)) = (msg.chat.is_private(), msg.from.clone()) else {
        return Ok(());
    };
    let text = msg.text().unwrap_or_default().trim().to_string();
    let referral = text
        .strip_prefix("/start")
        .map(str::trim)
        .and_then(|payload| payload.strip_prefix("ref_"))
        .filter(|code| !code.is_empty() && code.len() <= 32);
    let Some(customer) = registered(&bot, &ctx, &user, referral).await else {
        return Ok(());
    };
    let lang = language_of(&ctx, &customer, &user);
    if let Err(e) = route(&bot, &msg, &dialogue, &ctx, &customer, lang, &text).await {
        apologize(&bot, msg.chat.id, lang, &e).await;
    }
    Ok(())
}

async fn route(
    bot: &Bot,
    msg: &Message,
    dialogue: &ChatDialogue,
    ctx: &Ctx,
    customer: &customers::Customer,
    lang: vpnshop_core::customers::Language,
    text: &str,
) -> HandlerResult {
    let chat = msg.chat.id;
    let v = Visit {
        bot,
        chat,
        edit: None,
        ctx,
        customer,
        lang,
    };
    if customer.banned {
        bot.send_message(chat, tr(lang, "errors.banned")).await?;
        return Ok(());
    }
    // A command may carry @botname (`/start@vpnshop_bot`) and arguments.
    let command = text
        .split_whitespace()
        .next()
        .filter(|w| w.starts_with('/'))
        .map(|w| w.split('@').next().unwrap_or(w).to_ascii_lowercase());
    match command.as_deref() {
        Some("/start") | Some("/menu") => {
            if customer.lang().is_none() {
                dialogue.update(State::ChoosingLanguage).await?;
                return language::ask(bot, chat, None).await;
            }
            dialogue.update(State::Idle).await?;
            menu::welcome(bot, chat, ctx, customer, lang).await
        }
        Some("/language") | Some("/lang") => {
            dialogue.update(State::ChoosingLanguage).await?;
            language::ask(bot, chat, None).await
        }
        Some("/help") => help::show_help(bot, chat, None, lang).await,
        Some("/buy") => {
            dialogue.update(State::Idle).await?;
            buy::locations(bot, chat, None, ctx, lang).await
        }
        Some("/subscriptions") => {
            dialogue.update(State::Idle).await?;
            subscriptions::list(&v, 0).await
        }
        Some("/wallet") => {
            dialogue.update(State::Idle).await?;
            wallet::show_wallet(bot, chat, None, ctx, customer, lang, 0).await
        }
        Some("/support") => {
            dialogue.update(State::Idle).await?;
            support::menu(bot, chat, None, ctx, customer, lang).await
        }
        Some("/cancel") => {
            dialogue.update(State::Idle).await?;
            bot.send_message(chat, tr(lang, "cancel.done"))
                .parse_mode(ParseMode::Html)
                .reply_markup(keyboards::main_menu(lang))
                .await?;
            Ok(())
        }
        Some(_) if dialogue.get().await?.unwrap_or_default() != State::Idle => {
            // An unknown command inside a dialogue step: a hint, and the step stays.
            bot.send_message(chat, tr(lang, "hint.in_dialogue"))
                .parse_mode(ParseMode::Html)
                .await?;
            Ok(())
        }
        _ => match dialogue.get().await?.unwrap_or_default() {
            State::EnteringPromo { order } => {
                buy::promo_entered(&v, dialogue, order, msg.text()).await
            }
            State::WritingTicket { ticket } => support::written(&v, msg, dialogue, ticket).await,
            State::AwaitingReceipt { payment } => {
                checkout::receipt(&v, msg, dialogue, Some(payment)).await
            }
            State::EnteringTopUp { method } => {
                checkout::top_up_entered(&v, dialogue, &method, msg.text()).await
            }
            // The step stays where it was; the customer gets a short hint.
            State::ChoosingLanguage => {
                bot.send_message(chat, tr(lang, "hint.pick_language"))
                    .reply_markup(keyboards::languages())
                    .await?;
                Ok(())
            }
            State::Idle if msg.photo().is_some() => {
                checkout::receipt(&v, msg, dialogue, None).await
            }
            State::Idle => {
                bot.send_message(chat, tr(lang, "hint.unknown"))
                    .parse_mode(ParseMode::Html)
                    .reply_markup(keyboards::main_menu(lang))
                    .await?;
                Ok(())
            }
        },
    }
}
