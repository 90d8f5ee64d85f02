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

/// Whether the configured staff chat takes the bot's posts: what start-up or the last sweep found.
#[derive(Debug, Default)]
pub struct StaffChat {
    pub id: Option<i64>,
    reachable: AtomicBool,
}

impl StaffChat {
    pub fn new(id: Option<i64>) -> Self {
        StaffChat {
            id,
            reachable: AtomicBool::new(false),
        }
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
