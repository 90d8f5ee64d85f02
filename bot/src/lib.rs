//! The vpnshop Telegram bot: turns updates into calls on `vpnshop-core` and results into
//! localized messages. Also a library, so the end-to-end tests build the real handler tree.
rust_i18n::i18n!("../locales", fallback = "en");

pub mod app;
pub mod callback;
pub mod charts;
pub mod cli;
pub mod config;
pub mod ctx;
pub mod errors;
pub mod handlers;
pub mod http;
pub mod jobs;
pub mod keyboards;
pub mod metrics;
pub mod overrides;
pub mod qr;
pub mod refusals;
pub mod staff_chat;
pub mod storage;
pub mod text;
