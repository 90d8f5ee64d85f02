//! The required channel: when an admin set one (`/settings`), a customer must be a member
//! before buying or taking the free trial. Membership is asked of Telegram (`getChatMember`) and
//! a "yes" is kept for a minute; a "no" is never kept, so "I have joined" works at once. When
//! Telegram cannot answer (the bot is not an admin of the channel, or the channel is gone), sales
//! go on and the error is logged: a wrong setting must not close the shop. Staff are never held.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardButton, InlineKeyboardButtonKind, InlineKeyboardMarkup, Recipient,
};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::overrides::Channel;
use vpnshop_core::staff;

use super::Visit;
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{escape, tr, tr_with};

/// How long a customer found in the channel is not asked about again.
const FRESH: Duration = Duration::from_secs(60);
/// Past this many remembered members the memory starts again (it is only a cache).
const MAX_REMEMBERED: usize = 50_000;

/// Customers this process found in the channel, and when.
#[derive(Default)]
pub struct Members(Mutex<HashMap<(String, TelegramId), Instant>>);

impl Members {
    fn knows(&self, channel: &Channel, who: TelegramId) -> bool {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(channel.handle(), who))
            .is_some_and(|at| at.elapsed() < FRESH)
    }

    fn remember(&self, channel: &Channel, who: TelegramId) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert((channel.handle(), who), Instant::now());
    }
}

/// The presses that need the channel: buying and the trial.
fn needs_channel(action: Action) -> bool {
    matches!(
        action,
        Action::Buy | Action::BuyLocation(_) | Action::BuyPlan(..) | Action::Trial
    )
}

/// Whether `v`'s customer must join first.
async fn must_join(v: &Visit) -> Option<Channel> {
    let ctx = &v.ctx;
    let channel = ctx.overrides.get(&ctx.db).await.required_channel.clone()?;
    let who = v.customer.telegram_id;
    if ctx.members.knows(&channel, who) {
        return None;
    }
    if matches!(staff::access_of(&ctx.db, who).await, Ok(Some(_))) {
        return None;
    }
    let asked = v
        .bot
        .get_chat_member(
            Recipient::ChannelUsername(channel.handle()),
            UserId(who.get() as u64),
        )
        .await;
    match asked {
        Ok(m) if m.is_present() => {
            ctx.members.remember(&channel, who);
            None
        }
        Ok(_) => Some(channel),
        Err(e) => {
            tracing::warn!(
                channel = %channel.handle(),
                error = %e,
                "cannot check the required channel (is the bot an admin there?); letting the customer through"
            );
            None
        }
    }
}

/// A press that needs the channel, from someone not in it.
pub async fn holds_action(v: Visit, action: Action) -> bool {
    needs_channel(action) && must_join(&v).await.is_some()
}

/// A typed `/buy` from someone not in the channel.
pub async fn holds_message(v: Visit, msg: Message) -> bool {
    let is_buy = msg
        .text()
        .and_then(|t| t.split_whitespace().next())
        .is_some_and(|w| w.split('@').next() == Some("/buy"));
    is_buy && must_join(&v).await.is_some()
}

/// "Join the channel first", with a button that opens it and one that checks again by pressing
/// what they pressed. Pressed on that very screen ("I have joined" while still out), a new
/// message says they are not in yet: editing the screen into itself would show nothing.
pub async fn notice(v: Visit, q: CallbackQuery, action: Action) -> HandlerResult {
    let on_join_screen = q.regular_message().is_some_and(|m| {
        m.reply_markup().is_some_and(|k| {
            k.inline_keyboard
                .iter()
                .flatten()
                .any(|b| matches!(b.kind, InlineKeyboardButtonKind::Url(_)))
        })
    });
    ask_to_join(&v, action, on_join_screen).await
}

pub async fn notice_for_message(v: Visit) -> HandlerResult {
    ask_to_join(&v, Action::Buy, false).await
}

async fn ask_to_join(v: &Visit, again: Action, not_yet: bool) -> HandlerResult {
    let Some(channel) = v
        .ctx
        .overrides
        .get(&v.ctx.db)
        .await
        .required_channel
        .clone()
    else {
        return Ok(());
    };
    let lang = v.lang;
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![InlineKeyboardButton::url(
            tr_with(lang, "channel.open", &[("channel", &channel.handle())]),
            channel
                .link()
                .parse()
                .expect("a t.me link made from a checked username"),
        )],
        vec![keyboards::button(tr(lang, "channel.joined"), again)],
        vec![keyboards::back(lang)],
    ]);
    let key = if not_yet {
        "channel.not_yet"
    } else {
        "channel.join_first"
    };
    let text = tr_with(lang, key, &[("channel", &escape(&channel.handle()))]);
    if not_yet {
        v.say(text, keyboard).await
    } else {
        v.show(text, keyboard).await
    }
}
