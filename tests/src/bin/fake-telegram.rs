//! Try the bot by hand, offline: a fake Telegram Bot API server on 127.0.0.1 that you drive from
//! the terminal.
//!
//! ```sh
//! cargo run -p vpnshop-tests --bin fake-telegram -- 8081
//! # in another terminal:
//! VPNSHOP__TELEGRAM__TOKEN=5000000001:AAH-fake-token-for-tests_0123456789 \
//! VPNSHOP__TELEGRAM__API_URL=http://127.0.0.1:8081 cargo run -p vpnshop-bot
//! ```
//!
//! Then type `send <user-id> <text>` (e.g. `send 42 /start`) or `press <user-id> <button label>`.
use std::collections::HashMap;
use std::io::BufRead;

use vpnshop_tests::app::TOKEN;
use vpnshop_tests::telegram::{BotMessage, FakeTelegram, FakeUser};

fn print(m: &BotMessage) {
    let verb = if m.edited { "edited" } else { "sent" };
    println!(
        "[bot {verb} #{} to {}]\n{}",
        m.message_id, m.chat_id, m.text
    );
    for row in &m.buttons {
        println!(
            "  {}",
            row.iter()
                .map(|(l, _)| format!("[{l}]"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let tg = FakeTelegram::start_on(TOKEN, port).await;
    println!("fake Telegram on {} for token {TOKEN}", tg.url());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut users: HashMap<i64, FakeUser> = HashMap::new();
    let mut last: HashMap<i64, BotMessage> = HashMap::new();
    while let Some(line) = rx.recv().await {
        let mut parts = line.splitn(3, ' ');
        let (verb, id, rest) = (
            parts.next().unwrap_or(""),
            parts.next().and_then(|i| i.parse::<i64>().ok()),
            parts.next().unwrap_or(""),
        );
        let Some(id) = id else {
            println!("usage: send <user-id> <text> | press <user-id> <button label>");
            continue;
        };
        let user = users
            .entry(id)
            .or_insert_with(|| tg.user(id, &format!("User{id}"), None))
            .clone();
        match verb {
            "send" => {
                user.send(rest);
            }
            "press" => match last.get(&id) {
                Some(m) if m.buttons.iter().flatten().any(|(l, _)| l.contains(rest)) => {
                    user.press(m, rest);
                }
                _ => {
                    println!("no button {rest:?} on the last message");
                    continue;
                }
            },
            _ => {
                println!("usage: send <user-id> <text> | press <user-id> <button label>");
                continue;
            }
        }
        // Show whatever the bot says within a second and a half.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
        while let Ok(m) = tokio::time::timeout_at(deadline, user.next_quiet()).await {
            print(&m);
            last.insert(id, m);
        }
    }
}
