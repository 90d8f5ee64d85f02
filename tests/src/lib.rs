//! The end-to-end harness: fresh databases (SQLite or PostgreSQL, chosen by `VPNSHOP_TEST_DB`),
//! a fake Telegram Bot API server that speaks real HTTP, `spawn_app()` that runs the bot
//! against both, stateful fakes of the Marzban, Hiddify and 3x-UI panels, and of the Zarinpal,
//! YooKassa, NOWPayments and CryptoBot payment gateways.
pub mod app;
pub mod db;
pub mod gateways;
pub mod panels;
pub mod telegram;
