//! The end-to-end harness: fresh databases (SQLite or PostgreSQL, chosen by `VPNSHOP_TEST_DB`),
//! a fake Telegram Bot API server that speaks real HTTP, and `spawn_app()` that runs the bot
//! against both.
pub mod app;
pub mod db;
pub mod telegram;
