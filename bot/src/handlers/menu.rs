//! The main menu, and every button press: decoded in one place, then checked and routed.
use std::sync::Arc;

use teloxide::prelude::*;
use vpnshop_core::customers::{Customer, Language};

use super::{
    ChatDialogue, Ctx, apologize, help, invite, language, language_of, registered, show, wallet,
};
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{escape, tr, tr_with};

pub async fn welcome(
    bot: &Bot,
    chat: ChatId,
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> HandlerResult {
    let text = tr_with(
        lang,
        "menu.welcome",
        &[
            ("shop", &escape(&ctx.shop_name)),
            ("name", &escape(&customer.first_name)),
        ],
    );
    show(bot, chat, None, text, keyboards::main_menu(lang)).await
}

pub async fn on_callback(
    bot: Bot,
    q: CallbackQuery,
    dialogue: ChatDialogue,
    ctx: Arc<Ctx>,
) -> HandlerResult {
    let Some(customer) = registered(&bot, &ctx, &q.from, None).await else {
        return Ok(());
    };
    let lang = language_of(&ctx, &customer, &q.from);
    let action = q.data.as_deref().and_then(Action::decode);
    let Some(action) = action.filter(|_| !customer.banned) else {
        // An old button from an earlier version, or forged data: say so and change nothing.
        bot.answer_callback_query(q.id.clone())
            .text(tr(lang, "errors.stale_button"))
            .await?;
        return Ok(());
    };
    bot.answer_callback_query(q.id.clone()).await?;
    let Some(message) = q.regular_message() else {
        return Ok(());
    };
    // Buttons only ever act in the presser's own private chat.
    if !message.chat.is_private() || message.chat.id.0 != q.from.id.0 as i64 {
        return Ok(());
    }
    let (chat, edit) = (message.chat.id, Some(message.id));
    let result = match action {
        Action::Menu => {
            show(
                &bot,
                chat,
                edit,
                tr(lang, "menu.title"),
                keyboards::main_menu(lang),
            )
            .await
        }
        Action::LanguageMenu => language::ask(&bot, chat, edit).await,
        Action::SetLanguage(new) => {
            language::choose(&bot, chat, edit, &dialogue, &ctx, &customer, new).await
        }
        Action::Wallet => wallet::show_wallet(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::Invite => invite::show_invite(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::Help => help::show_help(&bot, chat, edit, lang).await,
    };
    if let Err(e) = result {
        apologize(&bot, chat, lang, &e).await;
    }
    Ok(())
}
