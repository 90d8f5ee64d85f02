//! The end-to-end harness: fresh databases (SQLite or PostgreSQL, chosen by `VPNSHOP_TEST_DB`),
//! a fake Telegram Bot API server that speaks real HTTP, `spawn_app()` that runs the bot
//! against both, and stateful fakes of the Marzban, Hiddify and 3x-UI panels.
pub mod app;
pub mod db;
pub mod panels;
pub mod telegram;
