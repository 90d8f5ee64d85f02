//! Help: the FAQ, the commands, and the connection guides.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::Language;

use super::{guide_keyboard, show};
use crate::errors::HandlerResult;
use crate::text::tr;

pub async fn show_help(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    lang: Language,
) -> HandlerResult {
    let mut body = tr(lang, "help.text");
    body.push_str("\n\n");
    body.push_str(&tr(lang, "help.faq"));
    show(bot, chat, edit, body, guide_keyboard(lang)).await
}
