//! One chat sending updates faster than any person presses buttons (a stuck client, a script)
//! gets the surplus dropped before any work is done on it, so its queue in the dispatcher always
//! drains at once and can never fill up and hold every other chat back.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use teloxide::types::Update;

use super::Ctx;

/// At most `limits.chat_updates_per_10s` updates from one chat within `WINDOW` are handled.
const WINDOW: Duration = Duration::from_secs(10);

/// Per chat: when its window began and how many updates came in it. One per bot (in `Ctx`), so
/// two bots in one process (tests, a future multi-shop host) never share a budget.
#[derive(Debug, Default)]
pub struct Windows(Mutex<HashMap<i64, (Instant, u32)>>);

/// Whether the update should be handled: false for a chat over its budget. The staff chat,
/// where many people work at once, has none.
pub fn allowed(update: Update, ctx: Arc<Ctx>) -> bool {
    let Some(chat) = update.chat().map(|c| c.id.0) else {
        return true;
    };
    if ctx.staff_chat == Some(chat) {
        return true;
    }
    let now = Instant::now();
    let mut windows = ctx.flood.0.lock().unwrap_or_else(|p| p.into_inner());
    if windows.len() > 100_000 {
        windows.retain(|_, (began, _)| now.duration_since(*began) < WINDOW);
    }
    let (began, count) = windows.entry(chat).or_insert((now, 0));
    if now.duration_since(*began) >= WINDOW {
        *began = now;
        *count = 0;
    }
    *count += 1;
    let most = ctx.limits.chat_updates_per_10s;
    if *count == most + 1 {
        tracing::warn!(
            chat,
            "a chat sends updates too fast; the surplus is dropped"
        );
    }
    *count <= most
}
