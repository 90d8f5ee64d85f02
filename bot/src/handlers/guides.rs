//! Connection guides per platform, with the apps we recommend for each.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::customers::Language;

use super::Visit;
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

pub async fn menu(v: &Visit) -> HandlerResult {
    let lang = v.lang;

    v.show(tr(lang, "guides.pick"), guide_keyboard(lang)).await
}

pub async fn guide(v: &Visit, platform: Platform) -> HandlerResult {
    let lang = v.lang;

    let body = tr(lang, &format!("guides.{}.text", platform.code()));
    v.show(body, guide_keyboard(lang)).await
}
