//! The staff chat: where receipts, payments in review and tickets go. Card-to-card payments and
//! support only work when the bot can post there, so start-up, `vpnshop check` and every payments
//! sweep verify it; while it is not reachable, those two are not offered to customers, who would
//! otherwise send a receipt or a question nobody ever sees.
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ctx::TgBot;
use teloxide::prelude::*;
use teloxide::types::ChatMemberKind;
use teloxide::{ApiError, RequestError};

/// Why the staff chat cannot take the bot's posts, and what the seller must do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(
        "shop.staff_chat_id is not set: card-to-card payments and support are off. Add the bot to your staff group and set the group's id (a negative number; forward a message from the group to @userinfobot to see it)"
    )]
    NotSet,
    #[error(
        "chat {0} was not found: add the bot to the staff group, then check that shop.staff_chat_id is that group's id (supergroups start with -100)"
    )]
    NotFound(i64),
    #[error("the bot is not a member of chat {0}: add it to the group again")]
    NotMember(i64),
    #[error(
        "the bot may not post in chat {0}: let members send messages, or make the bot an admin"
    )]
    CannotPost(i64),
    #[error("chat {0} is a private chat: use a group, so several staff members can decide")]
    Private(i64),
    #[error("cannot ask Telegram about chat {0} now: {1}")]
    Unknown(i64, String),
}

/// Telegram lets a bot post about 20 messages a minute in one group.
const POSTS_PER_MINUTE: u32 = 20;

/// Whether the configured staff chat takes the bot's posts (what start-up or the last sweep
/// found), and the pace the bot posts there at.
#[derive(Debug, Default)]
pub struct StaffChat {
    pub id: Option<i64>,
    reachable: AtomicBool,
    /// Posts allowed now, and when that was counted: a bucket of 20 that refills one post every
    /// 3 s, so a burst of notices (after a restart, a busy hour) goes out within the group's
    /// limit instead of being refused with 429s.
    bucket: tokio::sync::Mutex<Option<(u32, tokio::time::Instant)>>,
}

impl StaffChat {
    pub fn new(id: Option<i64>) -> Self {
        StaffChat {
            id,
            reachable: AtomicBool::new(false),
            bucket: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits until one more post fits in the group's limit, and takes it. Every post to the
    /// staff chat goes through here.
    pub async fn pace(&self) {
        let refill = std::time::Duration::from_millis(60_000 / u64::from(POSTS_PER_MINUTE));
        let mut bucket = self.bucket.lock().await;
        let now = tokio::time::Instant::now();
        let (tokens, since) = bucket.unwrap_or((POSTS_PER_MINUTE, now));
        let earned = (now.duration_since(since).as_millis() / refill.as_millis()) as u32;
        let tokens = tokens.saturating_add(earned).min(POSTS_PER_MINUTE);
        let since = if earned > 0 {
            since + refill * earned
        } else {
            since
        };
        if tokens > 0 {
            *bucket = Some((
                tokens - 1,
                if tokens == POSTS_PER_MINUTE {
                    now
                } else {
                    since
                },
            ));
            return;
        }
        // None left: wait for the next one, holding the lock so posts go out in turn.
        let at = since + refill;
        tokio::time::sleep_until(at).await;
        *bucket = Some((0, at));
    }

    /// Telegram answered a post with 429 and `retry_after`: no post goes to the group before
    /// `wait` has passed, then the bucket refills from empty.
    pub async fn hold(&self, wait: std::time::Duration) {
        let refill = std::time::Duration::from_millis(60_000 / u64::from(POSTS_PER_MINUTE));
        let mut bucket = self.bucket.lock().await;
        let free_at = tokio::time::Instant::now() + wait;
        // The next post is allowed one refill after `since`.
        let since = free_at.checked_sub(refill).unwrap_or(free_at);
        *bucket = Some((0, since));
    }

    /// Card-to-card and support are offered only while this holds.
    pub fn is_reachable(&self) -> bool {
        self.id.is_some() && self.reachable.load(Ordering::Relaxed)
    }

    /// Asks Telegram again and remembers the answer; logs a change with what to fix.
    pub async fn recheck(&self, bot: &TgBot) -> Result<(), Problem> {
        let outcome = match self.id {
            None => Err(Problem::NotSet),
            Some(id) => verify(bot, id).await,
        };
        // An outage of Telegram itself says nothing about the chat: keep what was known.
        if matches!(outcome, Err(Problem::Unknown(..))) {
            return outcome;
        }
        let now = outcome.is_ok();
        let before = self.reachable.swap(now, Ordering::Relaxed);
        match (&outcome, before) {
            // Said at start-up and whenever it stops working, not at every sweep.
            (Err(p), true) => {
                tracing::error!(problem = %p, "the staff chat stopped taking the bot's posts");
            }
            (Ok(()), false) => tracing::info!("the staff chat takes the bot's posts"),
            _ => {}
        }
        outcome
    }
}

/// Whether the bot can post in `chat`: it exists, is a group, and the bot is a member allowed to
/// send messages.
pub async fn verify(bot: &TgBot, chat: i64) -> Result<(), Problem> {
    let unknown = |e: RequestError| Problem::Unknown(chat, e.to_string());
    let found = match bot.get_chat(ChatId(chat)).await {
        Ok(c) => c,
        Err(RequestError::Api(ApiError::ChatNotFound)) => return Err(Problem::NotFound(chat)),
        Err(RequestError::Api(ApiError::BotKicked | ApiError::BotKickedFromSupergroup)) => {
            return Err(Problem::NotMember(chat));
        }
        Err(e) => return Err(unknown(e)),
    };
    if found.is_private() {
        return Err(Problem::Private(chat));
    }
    let me = bot.get_me().await.map_err(unknown)?;
    let member = match bot.get_chat_member(ChatId(chat), me.id).await {
        Ok(m) => m,
        Err(RequestError::Api(ApiError::UserNotFound)) => return Err(Problem::NotMember(chat)),
        Err(e) => return Err(unknown(e)),
    };
    match &member.kind {
        ChatMemberKind::Left | ChatMemberKind::Banned(_) => Err(Problem::NotMember(chat)),
        ChatMemberKind::Restricted(r) if !r.is_member => Err(Problem::NotMember(chat)),
        ChatMemberKind::Restricted(r) if !r.can_send_messages => Err(Problem::CannotPost(chat)),
        ChatMemberKind::Member(_) if found.is_channel() => Err(Problem::CannotPost(chat)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod pacing_tests {
    use super::StaffChat;

    /// On tokio's paused clock: a burst of twenty posts goes at once, the next ones one every
    /// three seconds.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_twenty_goes_at_once_then_one_every_three_seconds() {
        let chat = StaffChat::new(Some(-100));
        let start = tokio::time::Instant::now();
        for _ in 0..20 {
            chat.pace().await;
        }
        assert_eq!(start.elapsed().as_secs(), 0);
        chat.pace().await;
        chat.pace().await;
        assert_eq!(start.elapsed().as_secs(), 6);
        // A quiet minute refills the bucket.
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let quiet = tokio::time::Instant::now();
        for _ in 0..20 {
            chat.pace().await;
        }
        assert_eq!(quiet.elapsed().as_secs(), 0);
    }

    /// Telegram said "retry after 35 s": the next post waits exactly that, then the pace
    /// starts again from an empty bucket.
    #[tokio::test(start_paused = true)]
    async fn a_429_holds_the_next_post_for_exactly_its_retry_after() {
        let chat = StaffChat::new(Some(-100));
        chat.pace().await;
        let start = tokio::time::Instant::now();
        chat.hold(std::time::Duration::from_secs(35)).await;
        chat.pace().await;
        assert_eq!(start.elapsed().as_secs(), 35);
        chat.pace().await;
        assert_eq!(start.elapsed().as_secs(), 38);
    }
}
