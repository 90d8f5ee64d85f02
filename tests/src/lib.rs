//! The end-to-end harness: fresh databases (SQLite or PostgreSQL, chosen by `VPNSHOP_TEST_DB`),
//! a fake Telegram Bot API server that speaks real HTTP, `spawn_app()` that runs the bot
//! against both, stateful fakes of the Marzban, Hiddify and 3x-UI panels, and of the Zarinpal,
//! YooKassa, NOWPayments and CryptoBot payment gateways.
pub mod app;
pub mod chaos;
pub mod db;
pub mod gateways;
pub mod panels;
pub mod seed;
pub mod telegram;

/// Asserts that a message the bot sent (anything with a `text`) says `needle`, and when it does
/// not, prints what it said instead.
#[macro_export]
macro_rules! assert_says {
    ($message:expr, $needle:expr $(,)?) => {{
        let message = &$message;
        let needle = &$needle;
        let (text, needle): (&str, &str) = (message.text.as_ref(), needle.as_ref());
        assert!(
            text.contains(needle),
            "expected the bot to say {needle:?}; it said:\n{text}"
        );
    }};
}
