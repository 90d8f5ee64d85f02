//! Tickets in the staff chat: each customer message is posted with who they are (their balance
//! and subscriptions); support staff answer by replying to the post.
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, InputFile};
use vpnshop_core::customers::{self, Language};
use vpnshop_core::ids::{StaffPost, TelegramId, TicketId};
use vpnshop_core::staff::Permission;
use vpnshop_core::tickets::{self, Taken, Writing};
use vpnshop_core::{ledger, provisioning, subscriptions};

use crate::callback::StaffAction;
use crate::refusals::for_staff_ticket;
use crate::staff_chat::{InTopic, PhotoInTopic, Topic};

use super::Member;
use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};
use crate::handlers::readers;
use crate::text::{self, escape, tr, tr_with};

/// A message in the staff chat. A reply to a ticket post, from staff, becomes the answer;
/// everything else there is the staff's own conversation and is left alone.
pub async fn staff_reply(m: &Member, msg: &Message) -> HandlerResult {
    let (bot, ctx) = (&m.bot, &m.ctx);
    let Some(reply_to) = msg.reply_to_message() else {
        return Ok(());
    };
    if !reply_to.from.as_ref().is_some_and(|u| u.is_bot) {
        return Ok(());
    }
    let lang = m.lang();
    let post = StaffPost {
        chat: msg.chat.id.0,
        message: i64::from(reply_to.id.0),
    };
    if !m.may(Permission::Tickets) {
        // Authority comes from the staff table, never from being in the chat.
        let is_ticket = tickets::is_staff_post(&ctx.db, post).await?;
        if is_ticket {
            bot.send_message(msg.chat.id, tr(lang, "support.staff_only"))
                .reply_parameters(teloxide::types::ReplyParameters::new(msg.id))
                .await?;
        }
        return Ok(());
    }
    let writing = Writing {
        body: msg.text().or(msg.caption()).map(str::to_string),
        photo_file_id: msg
            .photo()
            .and_then(|s| s.last())
            .map(|p| p.file.id.0.clone()),
    };
    let Some(access) = m.access.as_ref() else {
        return Ok(());
    };
    let mut answer =
        tickets::staff_answers(&ctx.db, post, access, writing.clone(), ctx.clock.now()).await;
    // A post is recorded as the ticket's right after Telegram accepted it: a reply quicker than
    // that record (a busy database) waits for it instead of being taken for chat.
    if matches!(answer, Ok(None)) && shows_a_ticket(reply_to) {
        for _ in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            answer =
                tickets::staff_answers(&ctx.db, post, access, writing.clone(), ctx.clock.now())
                    .await;
            if !matches!(answer, Ok(None)) {
                break;
            }
        }
    }
    let key = match answer {
        Ok(None) => return Ok(()),
        Ok(Some(_)) => "support.staff_sent",
        Err(e) => match for_staff_ticket(e)? {
            Some(key) => key,
            None => return Ok(()),
        },
    };
    bot.send_message(msg.chat.id, tr(lang, key))
        .reply_parameters(teloxide::types::ReplyParameters::new(msg.id))
        .await?;
    Ok(())
}

/// Whether a message of the bot's carries a ticket's buttons (so it is a ticket's post, even if
/// its record is not written yet). Which ticket is still read from the record, never from here.
fn shows_a_ticket(post: &Message) -> bool {
    post.reply_markup().is_some_and(|k| {
        k.inline_keyboard.iter().flatten().any(|b| match &b.kind {
            teloxide::types::InlineKeyboardButtonKind::CallbackData(data) => {
                matches!(StaffAction::decode(data), Some(StaffAction::TicketTake(_)))
            }
            _ => false,
        })
    })
}

/// "Take" under a ticket's post: the ticket becomes the presser's, and the post's first button
/// says so for everyone in the chat.
pub async fn take(m: &Member, q: &CallbackQuery, id: TicketId) -> Result<String, BotError> {
    let (ctx, lang) = (&m.ctx, m.lang());
    let Some(access) = m.access.as_ref() else {
        return Ok(tr(lang, "support.staff_only"));
    };
    let taken = match tickets::take(&ctx.db, id, access, ctx.clock.now()).await {
        Ok(t) => t,
        Err(e) => {
            return Ok(tr(
                lang,
                for_staff_ticket(e)?.unwrap_or("errors.stale_button"),
            ));
        }
    };
    let holder = match taken {
        Taken::Now | Taken::AlreadyYours => m.name.clone(),
        Taken::By(other) => staff_name(ctx, other).await?,
    };
    if let Some(msg) = q.regular_message() {
        let keyboard = post_keyboard(lang, id, Some(&holder));
        if let Err(e) = m
            .bot
            .edit_message_reply_markup(msg.chat.id, msg.id)
            .reply_markup(keyboard)
            .await
        {
            tracing::debug!(error = %e, "cannot mark a ticket post as taken");
        }
    }
    Ok(match taken {
        Taken::Now => tr_with(lang, "support.taken_now", &[("id", &id.to_string())]),
        Taken::AlreadyYours => tr_with(lang, "support.taken_yours", &[("id", &id.to_string())]),
        Taken::By(_) => tr_with(
            lang,
            "support.taken_by",
            &[("id", &id.to_string()), ("name", &holder)],
        ),
    })
}

/// "Close" under a ticket's post: closed for good, the customer told and asked to rate.
pub async fn close(m: &Member, q: &CallbackQuery, id: TicketId) -> Result<String, BotError> {
    let (ctx, lang) = (&m.ctx, m.lang());
    let Some(access) = m.access.as_ref() else {
        return Ok(tr(lang, "support.staff_only"));
    };
    match tickets::staff_close(&ctx.db, id, access, ctx.clock.now()).await {
        Ok(_) => {
            if let Some(msg) = q.regular_message() {
                let keyboard = InlineKeyboardMarkup::new(Vec::<Vec<_>>::new());
                if let Err(e) = m
                    .bot
                    .edit_message_reply_markup(msg.chat.id, msg.id)
                    .reply_markup(keyboard)
                    .await
                {
                    tracing::debug!(error = %e, "cannot clear a closed ticket's buttons");
                }
            }
            Ok(tr_with(
                lang,
                "support.staff_closed_done",
                &[("id", &id.to_string())],
            ))
        }
        Err(e) => Ok(tr(
            lang,
            for_staff_ticket(e)?.unwrap_or("errors.stale_button"),
        )),
    }
}

/// How staff see a colleague: @username or first name when they have used the bot, else id.
pub async fn staff_name(ctx: &Ctx, who: TelegramId) -> Result<String, BotError> {
    Ok(match customers::by_telegram_id(&ctx.db, who).await? {
        Some(c) => match c.username {
            Some(u) => format!("@{}", escape(&u)),
            None => escape(&c.first_name).into_owned(),
        },
        None => who.to_string(),
    })
}

/// The buttons under a ticket's post in the staff chat: Take (or who took it) and Close.
pub fn post_keyboard(lang: Language, id: TicketId, taken_by: Option<&str>) -> InlineKeyboardMarkup {
    let take = match taken_by {
        Some(name) => tr_with(lang, "support.taken_label", &[("name", name)]),
        None => tr(lang, "support.take"),
    };
    // A button label is plain text: no HTML entities.
    let take = take
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    InlineKeyboardMarkup::new(vec![vec![
        InlineKeyboardButton::callback(take, StaffAction::TicketTake(id).encode()),
        InlineKeyboardButton::callback(
            tr(lang, "support.staff_close"),
            StaffAction::TicketClose(id).encode(),
        ),
    ]])
}

/// A notice: a ticket has waited past `support.reminder_minutes` for an answer.
pub async fn notify_waiting(bot: &TgBot, ctx: &Ctx, id: TicketId, since: i64) -> HandlerResult {
    let Some(staff) = ctx.staff_chat else {
        return Err(BotError::Undeliverable(
            "no staff chat configured (shop.staff_chat_id)".into(),
        ));
    };
    let Some(t) = tickets::get(&ctx.db, id).await? else {
        return Ok(());
    };
    // Answered or closed since the reminder was queued: nothing to remind.
    let still = t.status == tickets::TicketStatus::Open
        && t.awaiting_since.map(|s| s.timestamp()) == Some(since);
    if !still {
        return Ok(());
    }
    let l = ctx.default_language;
    let customer = readers::customer(ctx, t.customer_id).await?;
    let waited = (ctx.clock.now().timestamp() - since).max(0) / 60;
    let holder = match t.taken_by {
        Some(who) => Some(staff_name(ctx, who).await?),
        None => None,
    };
    let body = tr_with(
        l,
        "support.waiting",
        &[
            ("id", &id.to_string()),
            ("name", &escape(&customer.first_name)),
            ("waited", &text::count(l, waited, "minutes")),
            (
                "holder",
                &holder.clone().unwrap_or_else(|| tr(l, "support.nobody")),
            ),
        ],
    );
    ctx.staff.pace().await;
    bot.send_message(ChatId(staff), body)
        .in_topic(ctx.staff.topic(Topic::Tickets))
        .reply_markup(post_keyboard(l, id, holder.as_deref()))
        .await?;
    Ok(())
}

/// A notice: a customer's ticket message, posted in the staff chat with who they are.
pub async fn notify_staff(bot: &TgBot, ctx: &Ctx, message_id: i64) -> HandlerResult {
    let Some(staff) = ctx.staff_chat else {
        return Err(BotError::Undeliverable(
            "no staff chat configured (shop.staff_chat_id)".into(),
        ));
    };
    let Some((m, t)) = tickets::message(&ctx.db, message_id).await? else {
        return Ok(());
    };
    if m.staff_chat_message_id.is_some() {
        return Ok(());
    }
    let customer = readers::customer(ctx, t.customer_id).await?;
    let l = ctx.default_language;
    let now = ctx.clock.now();
    let balance = ledger::wallet_balance(&ctx.db, customer.customer_id(), ctx.currency).await?;
    let mut subs = String::new();
    let all = provisioning::of_customer(&ctx.db, customer.customer_id()).await?;
    // A heavy buyer's every subscription would push the post past Telegram's limits.
    const SHOWN: usize = 3;
    let more = all.len().saturating_sub(SHOWN);
    for sub in all.into_iter().take(SHOWN) {
        let location = subscriptions::location_of(&ctx.db, &sub)
            .await?
            .map(|l| l.name)
            .unwrap_or_default();
        subs.push_str("\n\n");
        subs.push_str(&crate::handlers::subscription_summary(
            l, &sub, &location, now,
        ));
    }
    if subs.is_empty() {
        subs = format!("\n{}", tr(l, "subs.none_short"));
    }
    if more > 0 {
        subs.push_str("\n\n");
        subs.push_str(&tr_with(
            l,
            "staff.subs_more",
            &[("count", &more.to_string())],
        ));
    }
    let username = customer
        .username
        .as_deref()
        .map(|u| format!("@{}", escape(u)))
        .unwrap_or_default();
    let header = tr_with(
        l,
        "staff.ticket",
        &[
            ("id", &t.id.to_string()),
            ("name", &escape(&customer.first_name)),
            ("username", &username),
            ("telegram", &customer.telegram_id.to_string()),
            ("lang", customer.language.as_deref().unwrap_or("?")),
            ("balance", &text::money(l, balance)),
            ("subs", &subs),
        ],
    );
    // Cut as plain text, then escaped: a cut never splits a tag or an `&amp;`. A caption holds
    // 1,024 characters, a message 4,096.
    let room = |limit: usize| limit.saturating_sub(text::visible_len(&header) + 4);
    let body_of = |limit: usize| {
        let plain = m.body.as_deref().unwrap_or_default();
        escape(&text::cut(plain, room(limit))).into_owned()
    };
    let holder = match t.taken_by {
        Some(who) => Some(staff_name(ctx, who).await?),
        None => None,
    };
    let keyboard = post_keyboard(l, t.ticket_id(), holder.as_deref());
    ctx.staff.pace().await;
    let posted = match &m.photo_file_id {
        Some(file) => {
            let caption = format!("{header}\n\n{}", body_of(1_000));
            bot.send_photo(
                ChatId(staff),
                InputFile::file_id(teloxide::types::FileId(file.clone())),
            )
            .photo_in_topic(ctx.staff.topic(Topic::Tickets))
            .caption(caption)
            .reply_markup(keyboard)
            .await?
        }
        None => {
            bot.send_message(
                ChatId(staff),
                format!(
                    "{header}\n\n{}\n\n{}",
                    body_of(3_900),
                    tr(l, "staff.reply_hint")
                ),
            )
            .in_topic(ctx.staff.topic(Topic::Tickets))
            .reply_markup(keyboard)
            .await?
        }
    };
    let post = StaffPost {
        chat: posted.chat.id.0,
        message: i64::from(posted.id.0),
    };
    tickets::posted_to_staff(&ctx.db, m.id, post).await?;
    Ok(())
}
