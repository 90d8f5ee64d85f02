//! Help: the commands and how to use the shop.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::Language;

use super::show;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::tr;

pub async fn show_help(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    lang: Language,
) -> HandlerResult {
    show(
        bot,
        chat,
        edit,
        tr(lang, "help.text"),
        keyboards::back_to_menu(lang),
    )
    .await
}
