//! Rendering for Telegram: localized texts, amounts, dates, and escaping of whatever a user typed
//! (the bot speaks HTML parse mode).
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_i18n::t;
use vpnshop_core::customers::Language;
use vpnshop_core::money::Money;

/// The text for `key` in `lang`.
pub fn tr(lang: Language, key: &str) -> String {
    t!(key, locale = lang.code()).into_owned()
}

/// The text for `key` in `lang` with `%{name}` placeholders filled. Values are inserted as
/// given: escape user-supplied ones with [`escape`] first.
pub fn tr_with(lang: Language, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = tr(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("%{{{name}}}"), value);
    }
    s
}

/// Escapes user-supplied text for HTML parse mode: `<b>&` shows as typed.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;"),
    )
}

/// `150,000 تومان`, `9.99 ₽`.
pub fn money(lang: Language, m: Money) -> String {
    let unit = tr(lang, &format!("currency.{}", m.currency().code()));
    match unit.as_str() {
        "$" | "€" => format!("{unit}{}", m.amount_text()),
        _ => format!("{} {unit}", m.amount_text()),
    }
}

/// A signed amount for history lines: `+50,000 toman`, `−150,000 toman`.
pub fn signed_money(lang: Language, minor: i64, currency: vpnshop_core::money::Currency) -> String {
    let abs = Money::new(minor.abs(), currency).unwrap_or_else(|_| Money::zero(currency));
    let sign = if minor < 0 { "−" } else { "+" };
    format!("{sign}{}", money(lang, abs))
}

pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Every key the code uses, so a test can check that each exists in each locale.
pub const ALL_KEYS: &[&str] = &[
    "lang.prompt",
    "lang.set",
    "menu.welcome",
    "menu.title",
    "menu.wallet",
    "menu.invite",
    "menu.language",
    "menu.help",
    "menu.back",
    "wallet.balance",
    "wallet.history_title",
    "wallet.no_history",
    "wallet.line",
    "wallet.kind.top_up",
    "wallet.kind.purchase",
    "wallet.kind.refund",
    "wallet.kind.adjustment",
    "wallet.kind.referral_reward",
    "wallet.kind.promo_credit",
    "wallet.kind.other",
    "invite.text",
    "help.text",
    "hint.unknown",
    "hint.pick_language",
    "cancel.done",
    "errors.internal",
    "errors.stale_button",
    "errors.banned",
    "commands.start",
    "commands.language",
    "commands.help",
    "commands.cancel",
    "currency.IRR",
    "currency.IRT",
    "currency.RUB",
    "currency.USD",
    "currency.EUR",
    "currency.XTR",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        assert_eq!(escape("<b>&"), "&lt;b&gt;&amp;");
        assert_eq!(escape("Sara"), "Sara");
    }

    #[test]
    fn every_key_exists_in_every_locale() {
        let locales: Vec<String> = rust_i18n::available_locales!()
            .iter()
            .map(|l| l.to_string())
            .collect();
        for lang in Language::ALL {
            assert!(
                locales.iter().any(|l| l == lang.code()),
                "no locale file for {}",
                lang.code()
            );
        }
        for key in crate::text::ALL_KEYS {
            for lang in Language::ALL {
                let s = tr(lang, key);
                assert_ne!(s, *key, "{key} is missing in {}", lang.code());
                assert!(
                    !s.contains(&format!("{}.", key.split('.').next().unwrap())),
                    "{key} in {} renders a raw key: {s}",
                    lang.code()
                );
            }
        }
    }
}
