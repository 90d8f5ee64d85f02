//! Choosing the language: on first contact and whenever the customer asks.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::{self, Language};

use super::{ChatDialogue, Ctx, State, show};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::tr;

/// The picker, with the prompt in all three languages: the customer may not read ours yet.
pub async fn ask(bot: &Bot, chat: ChatId, edit: Option<MessageId>) -> HandlerResult {
    let prompt = Language::ALL.map(|l| tr(l, "lang.prompt")).join("\n");
    show(bot, chat, edit, prompt, keyboards::languages()).await
}

pub async fn choose(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    dialogue: &ChatDialogue,
    ctx: &Ctx,
    customer: &customers::Customer,
    lang: Language,
) -> HandlerResult {
    customers::set_language(&ctx.db, customer.telegram(), lang).await?;
    dialogue.update(State::Idle).await?;
    show(bot, chat, edit, tr(lang, "lang.set"), Default::default()).await?;
    super::menu::welcome(bot, chat, ctx, customer, lang).await
}
