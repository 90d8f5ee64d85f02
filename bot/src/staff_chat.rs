//! The staff chat: where receipts, payments in review and tickets go. Card-to-card payments and
//! support only work when the bot can post there, so start-up, `vpnshop check` and every payments
//! sweep verify it; while it is not reachable, those two are not offered to customers, who would
//! otherwise send a receipt or a question nobody ever sees.
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;

use vpnshop_core::clock::Clock;
use vpnshop_core::pace;
use vpnshop_core::sea_orm::DatabaseConnection;

use crate::ctx::TgBot;
use teloxide::payloads::{SendMessageSetters, SendPhotoSetters};
use teloxide::prelude::*;
use teloxide::types::{ChatMemberKind, MessageId, ThreadId};
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
#[derive(Default)]
pub struct StaffChat {
    pub id: Option<i64>,
    reachable: AtomicBool,
    /// Where the pace is kept when it is shared: the database, read on the shop's clock. Every
    /// process posting to the chat, before and after a restart, then keeps one pace.
    shared: Option<(DatabaseConnection, Arc<dyn Clock>)>,
    /// Without a database (unit tests): this process's reserved slots, ms since `started`.
    log: tokio::sync::Mutex<Vec<i64>>,
    started: Option<tokio::time::Instant>,
    /// The forum topic each kind of notice goes to.
    topics: crate::config::StaffTopicsSettings,
}

impl std::fmt::Debug for StaffChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffChat")
            .field("id", &self.id)
            .field("reachable", &self.reachable)
            .finish_non_exhaustive()
    }
}

/// What a staff-chat post is about: in a forum, each kind can have its own topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Sales,
    Receipts,
    Payments,
    Tickets,
    Summary,
    Alerts,
}

/// Puts a staff-chat message in its topic (when the chat has one for it).
pub trait InTopic: Sized {
    fn in_topic(self, topic: Option<ThreadId>) -> Self;
}

impl<R: SendMessageSetters> InTopic for R {
    fn in_topic(self, topic: Option<ThreadId>) -> Self {
        match topic {
            Some(t) => self.message_thread_id(t),
            None => self,
        }
    }
}

/// Puts a staff-chat photo in its topic.
pub trait PhotoInTopic: Sized {
    fn photo_in_topic(self, topic: Option<ThreadId>) -> Self;
}

impl<R: SendPhotoSetters> PhotoInTopic for R {
    fn photo_in_topic(self, topic: Option<ThreadId>) -> Self {
        match topic {
            Some(t) => self.message_thread_id(t),
            None => self,
        }
    }
}

/// Sleeps until `at` on `clock`, a second at a time: a clock that jumps ahead (the tests') ends
/// the wait as it would have ended.
async fn wait_until(clock: &dyn Clock, at: chrono::DateTime<chrono::Utc>) {
    loop {
        let left = at - clock.now();
        if left <= chrono::Duration::zero() {
            return;
        }
        let step = left
            .to_std()
            .unwrap_or_default()
            .min(std::time::Duration::from_secs(1));
        tokio::time::sleep(step).await;
    }
}

impl StaffChat {
    pub fn new(id: Option<i64>) -> Self {
        StaffChat {
            id,
            started: Some(tokio::time::Instant::now()),
            ..Default::default()
        }
    }

    /// With the forum topics from `[shop.staff_topics]`.
    pub fn with_topics(mut self, topics: crate::config::StaffTopicsSettings) -> Self {
        self.topics = topics;
        self
    }

    /// Keeps the pace in the database, shared by every process on it.
    pub fn with_shared_pace(mut self, db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        self.shared = Some((db, clock));
        self
    }

    /// The thread a post about `kind` goes to; `None`: the chat itself (or its General topic).
    pub fn topic(&self, kind: Topic) -> Option<ThreadId> {
        let id = match kind {
            Topic::Sales => self.topics.sales,
            Topic::Receipts => self.topics.receipts,
            Topic::Payments => self.topics.payments,
            Topic::Tickets => self.topics.tickets,
            Topic::Summary => self.topics.summary,
            Topic::Alerts => self.topics.alerts,
        };
        id.map(|id| ThreadId(MessageId(id)))
    }

    fn rate(&self) -> pace::Rate {
        pace::Rate {
            key: format!("pace.staff_chat.{}", self.id.unwrap_or_default()),
            limit: POSTS_PER_MINUTE,
            window: chrono::Duration::minutes(1),
        }
    }

    /// Waits until one more post fits in the group's limit (20 in any minute, a burst of 20 at
    /// once), and takes it. Every post to the staff chat goes through here.
    pub async fn pace(&self) {
        if let Some((db, clock)) = &self.shared {
            match pace::reserve(db, &self.rate(), clock.now()).await {
                Ok(at) => return wait_until(clock.as_ref(), at).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep the staff chat's pace in the database; pacing this process alone");
                }
            }
        }
        let started = self.started.unwrap_or_else(tokio::time::Instant::now);
        let at = {
            let mut log = self.log.lock().await;
            let now = started.elapsed().as_millis() as i64;
            pace::next_slot(&mut log, now, POSTS_PER_MINUTE, 60_000)
        };
        tokio::time::sleep_until(started + std::time::Duration::from_millis(at.max(0) as u64))
            .await;
    }

    /// Telegram answered a post with 429 and `retry_after`: no post goes to the group before
    /// `wait` has passed, then they go at an even pace.
    pub async fn hold(&self, wait: std::time::Duration) {
        let wait_ms = wait.as_millis() as i64;
        if let Some((db, clock)) = &self.shared {
            let now = clock.now();
            let until = now + chrono::Duration::milliseconds(wait_ms);
            match pace::hold(db, &self.rate(), until, now).await {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "cannot hold the staff chat's pace"),
            }
        }
        let started = self.started.unwrap_or_else(tokio::time::Instant::now);
        let until = started.elapsed().as_millis() as i64 + wait_ms;
        *self.log.lock().await = pace::held_log(until, POSTS_PER_MINUTE, 60_000);
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

    /// On tokio's paused clock: a burst of twenty posts goes at once, the twenty-first a
    /// minute after the first (never more than twenty in any minute).
    #[tokio::test(start_paused = true)]
    async fn twenty_go_at_once_and_never_more_than_twenty_in_a_minute() {
        let chat = StaffChat::new(Some(-100));
        let start = tokio::time::Instant::now();
        for _ in 0..20 {
            chat.pace().await;
        }
        assert_eq!(start.elapsed().as_secs(), 0);
        chat.pace().await;
        assert_eq!(start.elapsed().as_secs(), 60);
        // A quiet minute allows a new burst.
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        let quiet = tokio::time::Instant::now();
        for _ in 0..19 {
            chat.pace().await;
        }
        assert_eq!(quiet.elapsed().as_secs(), 0);
    }

    /// Telegram said "retry after 35 s": the next post waits exactly that, then one every
    /// three seconds.
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
