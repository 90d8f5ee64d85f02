//! Inline keyboards, built in one place from typed actions.
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnshop_core::customers::Language;

use crate::callback::Action;
use crate::text::tr;

fn button(label: String, action: Action) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, action.encode())
}

pub fn main_menu(lang: Language) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![
        vec![
            button(tr(lang, "menu.wallet"), Action::Wallet),
            button(tr(lang, "menu.invite"), Action::Invite),
        ],
        vec![
            button(tr(lang, "menu.language"), Action::LanguageMenu),
            button(tr(lang, "menu.help"), Action::Help),
        ],
    ])
}

/// The language picker: each language named in itself, so anyone can find theirs.
pub fn languages() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![
        button("🇮🇷 فارسی".to_string(), Action::SetLanguage(Language::Fa)),
        button("🇬🇧 English".to_string(), Action::SetLanguage(Language::En)),
        button("🇷🇺 Русский".to_string(), Action::SetLanguage(Language::Ru)),
    ]])
}

pub fn back_to_menu(lang: Language) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![button(tr(lang, "menu.back"), Action::Menu)]])
}
