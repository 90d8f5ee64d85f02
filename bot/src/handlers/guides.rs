//! Connection guides per platform, with the apps we recommend for each.
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId};
use vpnshop_core::customers::Language;

use crate::callback::{Action, Platform};
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::text::tr;

/// One button per platform, then "back".
pub fn guide_keyboard(lang: Language) -> InlineKeyboardMarkup {
    let platforms: Vec<_> = Platform::ALL
        .into_iter()
        .map(|p| {
            button(
                tr(lang, &format!("guides.{}.name", p.code())),
                Action::Guide(p),
            )
        })
        .collect();
    InlineKeyboardMarkup::new(vec![
        platforms[..3].to_vec(),
        platforms[3..].to_vec(),
        vec![keyboards::back(lang)],
    ])
}

pub async fn menu(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    lang: Language,
) -> HandlerResult {
    super::show(
        bot,
        chat,
        edit,
        tr(lang, "guides.pick"),
        guide_keyboard(lang),
    )
    .await
}

pub async fn show(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    lang: Language,
    platform: Platform,
) -> HandlerResult {
    let body = tr(lang, &format!("guides.{}.text", platform.code()));
    super::show(bot, chat, edit, body, guide_keyboard(lang)).await
}
