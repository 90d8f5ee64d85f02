//! Inline keyboards, built in one place from typed actions.
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnshop_core::customers::Language;

use crate::callback::{Action, StaffAction};
use crate::text::tr;

pub fn button(label: String, action: Action) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, action.encode())
}

/// A button in the staff chat.
pub fn staff_button(label: String, action: StaffAction) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, action.encode())
}

/// The main menu; the trial button only for customers who can still take it.
pub fn main_menu_with(lang: Language, trial: bool) -> InlineKeyboardMarkup {
    let mut rows = vec![vec![
        button(tr(lang, "menu.buy"), Action::Buy),
        button(tr(lang, "menu.subscriptions"), Action::Subscriptions),
    ]];
    if trial {
        rows.push(vec![button(tr(lang, "menu.trial"), Action::Trial)]);
    }
    rows.extend([
        vec![
            button(tr(lang, "menu.wallet"), Action::Wallet),
            button(tr(lang, "menu.points"), Action::Points),
        ],
        vec![
            button(tr(lang, "menu.invite"), Action::Invite),
            button(tr(lang, "menu.support"), Action::Support),
        ],
        vec![
            button(tr(lang, "menu.language"), Action::LanguageMenu),
            button(tr(lang, "menu.help"), Action::Help),
        ],
    ]);
    InlineKeyboardMarkup::new(rows)
}

pub fn main_menu(lang: Language) -> InlineKeyboardMarkup {
    main_menu_with(lang, false)
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
    InlineKeyboardMarkup::new(vec![vec![back(lang)]])
}

pub fn back(lang: Language) -> InlineKeyboardButton {
    button(tr(lang, "menu.back"), Action::Menu)
}

/// One button per row, then "back to menu".
pub fn list(lang: Language, items: Vec<(String, Action)>) -> InlineKeyboardMarkup {
    let mut rows: Vec<Vec<InlineKeyboardButton>> = items
        .into_iter()
        .map(|(label, action)| vec![button(label, action)])
        .collect();
    rows.push(vec![back(lang)]);
    InlineKeyboardMarkup::new(rows)
}
