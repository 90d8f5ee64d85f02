//! Support tickets, both sides: the customer opens, reads, answers and closes tickets; staff
//! answer by replying, in the staff chat, to the post that shows the customer's message.
use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::ids::{StaffPost, TelegramId};
use vpnshop_core::staff::{self, Role};
use vpnshop_core::tickets::{self, TicketError, Writing};

use super::readers;
use super::{Ctx, State, Visit};
use crate::callback::Action;
use crate::ctx::TgBot;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards::{self, button};
use crate::text::{self, escape, tr, tr_with};
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::types::InputFile;
use vpnshop_core::ledger;
use vpnshop_core::provisioning;
use vpnshop_core::subscriptions;

pub async fn menu(v: &Visit) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    if !ctx.staff.is_reachable() {
        // Questions go to the staff chat: without one nobody would read them.
        return v
            .show(
                tr(lang, "support.unavailable"),
                keyboards::back_to_menu(lang),
            )
            .await;
    }
    let open = tickets::open_of(&ctx.db, customer.customer_id()).await?;
    let body = if open.is_empty() {
        tr(lang, "support.none_open")
    } else {
        tr_with(
            lang,
            "support.open_count",
            &[("count", &open.len().to_string())],
        )
    };
    let mut rows = vec![vec![button(tr(lang, "support.new"), Action::NewTicket)]];
    for t in open {
        let subject = t.subject.clone().unwrap_or_else(|| "📷".into());
        rows.push(vec![button(
            format!("#{} · {}", t.id, text::cut(&subject, 30)),
            Action::Ticket(t.id),
        )]);
    }
    rows.push(vec![keyboards::back(lang)]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

/// Asks for a message: a new ticket (`None`) or another message in an open one.
pub async fn ask(v: &Visit, ticket: Option<i64>) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    if !ctx.staff.is_reachable() {
        return v
            .say(
                tr(lang, "support.unavailable"),
                keyboards::back_to_menu(lang),
            )
            .await;
    }
    if let Some(id) = ticket {
        match tickets::owned(&ctx.db, id, customer.customer_id()).await {
            Ok(t) if t.status == tickets::OPEN => {}
            Ok(_) => {
                return v
                    .say(tr(lang, "support.closed"), keyboards::back_to_menu(lang))
                    .await;
            }
            Err(_) => {
                return v.stale().await;
            }
        }
    }
    v.dialogue.update(State::WritingTicket { ticket }).await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(lang, "support.cancel"),
        Action::Support,
    )]]);
    v.show(tr(lang, "support.ask"), keyboard).await
}

/// What the customer sent while writing: text, or a photo with an optional caption.
pub async fn written(v: &Visit, msg: &Message, ticket: Option<i64>) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let writing = Writing {
        body: msg.text().or(msg.caption()).map(str::to_string),
        photo_file_id: msg
            .photo()
            .and_then(|sizes| sizes.last())
            .map(|p| p.file.id.0.clone()),
    };
    let now = ctx.clock.now();
    let result = match ticket {
        None => {
            tickets::open(
                &ctx.db,
                customer.customer_id(),
                customer.telegram(),
                writing,
                ctx.sales.limits.open_tickets,
                now,
            )
            .await
        }
        Some(id) => {
            tickets::customer_writes(
                &ctx.db,
                id,
                customer.customer_id(),
                customer.telegram(),
                writing,
                now,
            )
            .await
        }
    };
    let key = match result {
        Ok(t) => {
            v.dialogue.update(State::Idle).await?;
            let body = tr_with(lang, "support.sent", &[("id", &t.id.to_string())]);
            return v.say(body, keyboards::back_to_menu(lang)).await;
        }
        // The step stays where it was.
        Err(TicketError::Empty) => "support.hint_empty",
        Err(TicketError::TooLong) => "support.hint_long",
        Err(TicketError::Closed | TicketError::NotFound) => {
            v.dialogue.update(State::Idle).await?;
            "support.closed"
        }
        Err(TicketError::TooMany(max)) => {
            v.dialogue.update(State::Idle).await?;
            let body = tr_with(lang, "support.too_many", &[("max", &max.to_string())]);
            return v.say(body, keyboards::back_to_menu(lang)).await;
        }
        Err(TicketError::Db(e)) => return Err(e.into()),
    };
    v.say(tr(lang, key), keyboards::back_to_menu(lang)).await
}

pub async fn show_ticket(v: &Visit, id: i64) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let Ok(t) = tickets::owned(&ctx.db, id, customer.customer_id()).await else {
        return v.stale().await;
    };
    let mut body = tr_with(lang, "support.ticket_title", &[("id", &t.id.to_string())]);
    for m in tickets::messages(&ctx.db, t.id, 10).await? {
        let who = if m.author == "staff" {
            tr(lang, "support.from_staff")
        } else {
            tr(lang, "support.from_you")
        };
        let what = m
            .body
            .as_deref()
            .map(|b| escape(&text::cut(b, 300)).into_owned())
            .unwrap_or_else(|| "📷".into());
        body.push_str(&format!(
            "\n\n<b>{who}</b> · {}\n{what}",
            text::date(m.created_at)
        ));
    }
    let mut rows = Vec::new();
    if t.status == tickets::OPEN {
        rows.push(vec![
            button(tr(lang, "support.write"), Action::TicketWrite(t.id)),
            button(tr(lang, "support.close"), Action::TicketClose(t.id)),
        ]);
    }
    rows.push(vec![
        button(tr(lang, "menu.support"), Action::Support),
        keyboards::back(lang),
    ]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

pub async fn close(v: &Visit, id: i64) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    v.dialogue.update(State::Idle).await?;
    match tickets::close(&ctx.db, id, customer.customer_id(), ctx.clock.now()).await {
        Ok(t) => {
            let body = tr_with(lang, "support.closed_done", &[("id", &t.id.to_string())]);
            v.show(body, keyboards::back_to_menu(lang)).await
        }
        Err(TicketError::Db(e)) => Err(e.into()),
        Err(_) => v.stale().await,
    }
}

/// A message in the staff chat. A reply to a ticket post, from staff, becomes the answer;
/// everything else there is the staff's own conversation and is left alone.
pub async fn on_staff_chat(bot: TgBot, msg: Message, ctx: Arc<Ctx>) -> HandlerResult {
    if super::receipts::reason_reply(&bot, &msg, &ctx).await? {
        return Ok(());
    }
    let (Some(reply_to), Some(from)) = (msg.reply_to_message(), msg.from.as_ref()) else {
        return Ok(());
    };
    if !reply_to.from.as_ref().is_some_and(|u| u.is_bot) {
        return Ok(());
    }
    let staff_id = TelegramId::new(from.id.0 as i64);
    let lang = ctx.default_language;
    let post = StaffPost {
        chat: msg.chat.id.0,
        message: i64::from(reply_to.id.0),
    };
    let allowed = staff::role_of(&ctx.db, staff_id)
        .await?
        .is_some_and(|r| r.allows(Role::Support));
    if !allowed {
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
    let answer = tickets::staff_answers(&ctx.db, post, staff_id, writing, ctx.clock.now()).await;
    let key = match answer {
        Ok(None) => return Ok(()),
        Ok(Some(_)) => "support.staff_sent",
        Err(TicketError::Closed) => "support.staff_closed",
        Err(TicketError::Empty | TicketError::TooLong | TicketError::TooMany(_)) => {
            "support.staff_bad"
        }
        Err(TicketError::NotFound) => return Ok(()),
        Err(TicketError::Db(e)) => return Err(BotError::Db(e)),
    };
    bot.send_message(msg.chat.id, tr(lang, key))
        .reply_parameters(teloxide::types::ReplyParameters::new(msg.id))
        .await?;
    Ok(())
}

/// A notice: a customer's ticket message, posted in the staff chat with who they are.
pub async fn notify_staff(bot: &TgBot, ctx: &Ctx, message_id: i64) -> HandlerResult {
    let Some(staff) = ctx.sales.staff_chat else {
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
    let posted = match &m.photo_file_id {
        Some(file) => {
            let caption = format!("{header}\n\n{}", body_of(1_000));
            bot.send_photo(
                ChatId(staff),
                InputFile::file_id(teloxide::types::FileId(file.clone())),
            )
            .caption(caption)
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

/// A notice: a staff answer, delivered to the customer.
pub async fn notify_customer(bot: &TgBot, ctx: &Ctx, message_id: i64) -> HandlerResult {
    let Some((m, t)) = tickets::message(&ctx.db, message_id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, t.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    // Cut as plain text, before escaping: within a caption's 1,024 characters either way.
    let answer = text::cut(m.body.as_deref().unwrap_or("📷"), 900);
    let body = tr_with(
        lang,
        "support.answer",
        &[("id", &t.id.to_string()), ("text", &escape(&answer))],
    );
    let keyboard = teloxide::types::InlineKeyboardMarkup::new(vec![vec![
        keyboards::button(
            tr(lang, "support.write"),
            crate::callback::Action::TicketWrite(t.id),
        ),
        keyboards::button(
            tr(lang, "support.close"),
            crate::callback::Action::TicketClose(t.id),
        ),
    ]]);
    let chat = readers::chat(&customer);
    let sent = match &m.photo_file_id {
        Some(file) => bot
            .send_photo(
                chat,
                InputFile::file_id(teloxide::types::FileId(file.clone())),
            )
            .caption(body.clone())
            .reply_markup(keyboard)
            .await
            .map(|_| ()),
        None => bot
            .send_message(chat, body)
            .reply_markup(keyboard)
            .await
            .map(|_| ()),
    };
    match sent {
        Ok(()) => Ok(()),
        // Staff were told the answer was queued: they hear it will never arrive.
        Err(RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        )) => {
            if let Some(staff) = ctx.sales.staff_chat {
                bot.send_message(
                    ChatId(staff),
                    tr_with(
                        ctx.default_language,
                        "staff.undelivered",
                        &[("id", &t.id.to_string())],
                    ),
                )
                .await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
