//! Support tickets, the customer's side: open one, read it, write again, close it, and hear the
//! staff's answers (`notify_customer`). Staff answer in the staff chat (`staff/tickets.rs`).

use teloxide::prelude::*;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::tickets::{self, Author, TicketError, TicketStatus, Writing};

use super::readers;
use super::{Ctx, State, Visit};
use crate::callback::Action;
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::staff_chat::{InTopic, Topic};
use crate::text::{self, escape, tr, tr_with};
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::types::InputFile;
use vpnshop_core::ids::TicketId;

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
            Action::Ticket(t.ticket_id()),
        )]);
    }
    rows.push(vec![keyboards::back(lang)]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

/// Asks for a message: a new ticket (`None`) or another message in an open one.
pub async fn ask(v: &Visit, ticket: Option<TicketId>) -> HandlerResult {
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
            Ok(t) if t.status == TicketStatus::Open => {}
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
pub async fn written(v: &Visit, msg: &Message, ticket: Option<TicketId>) -> HandlerResult {
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
                ctx.limits.open_tickets,
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
        Err(e) => return Err(e.into()),
    };
    v.say(tr(lang, key), keyboards::back_to_menu(lang)).await
}

pub async fn show_ticket(v: &Visit, id: TicketId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let Ok(t) = tickets::owned(&ctx.db, id, customer.customer_id()).await else {
        return v.stale().await;
    };
    let mut body = tr_with(lang, "support.ticket_title", &[("id", &t.id.to_string())]);
    for m in tickets::messages(&ctx.db, t.id, 10).await? {
        let who = if m.author == Author::Staff {
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
    if t.status == TicketStatus::Open {
        rows.push(vec![
            button(
                tr(lang, "support.write"),
                Action::TicketWrite(t.ticket_id()),
            ),
            button(
                tr(lang, "support.close"),
                Action::TicketClose(t.ticket_id()),
            ),
        ]);
    }
    rows.push(vec![
        button(tr(lang, "menu.support"), Action::Support),
        keyboards::back(lang),
    ]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

pub async fn close(v: &Visit, id: TicketId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    v.dialogue.update(State::Idle).await?;
    match tickets::close(&ctx.db, id, customer.customer_id(), ctx.clock.now()).await {
        Ok(t) => {
            let body = format!(
                "{}\n\n{}",
                tr_with(lang, "support.closed_done", &[("id", &t.id.to_string())]),
                tr(lang, "support.rate_ask")
            );
            v.show(body, rating_keyboard(lang, t.ticket_id())).await
        }
        Err(TicketError::Db(e)) => Err(e.into()),
        Err(_) => v.stale().await,
    }
}

/// One to five stars, and the way back to the menu.
fn rating_keyboard(lang: vpnshop_core::customers::Language, id: TicketId) -> InlineKeyboardMarkup {
    let stars = (1..=5u8)
        .map(|n| button("⭐".repeat(usize::from(n)), Action::TicketRate(id, n)))
        .collect::<Vec<_>>();
    // Five stars do not fit one row on a phone: 1–3 and 4–5.
    let (low, high) = stars.split_at(3);
    InlineKeyboardMarkup::new(vec![
        low.to_vec(),
        high.to_vec(),
        vec![keyboards::back(lang)],
    ])
}

/// The customer rates how their closed ticket was answered, once.
pub async fn rate(v: &Visit, id: TicketId, stars: u8) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let Some(rating) = tickets::Rating::new(stars) else {
        return v.stale().await;
    };
    match tickets::rate(&ctx.db, id, customer.customer_id(), rating).await {
        Ok(_) => {
            v.show(tr(lang, "support.rated"), keyboards::back_to_menu(lang))
                .await
        }
        Err(TicketError::AlreadyRated) => {
            v.show(
                tr(lang, "support.already_rated"),
                keyboards::back_to_menu(lang),
            )
            .await
        }
        Err(TicketError::Db(e)) => Err(e.into()),
        Err(_) => v.stale().await,
    }
}

/// A notice: staff closed the customer's ticket; they may rate the answer.
pub async fn notify_closed(bot: &TgBot, ctx: &Ctx, id: TicketId) -> HandlerResult {
    let Some(t) = tickets::get(&ctx.db, id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, t.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let body = format!(
        "{}\n\n{}",
        tr_with(lang, "support.closed_by_staff", &[("id", &id.to_string())]),
        tr(lang, "support.rate_ask")
    );
    match bot
        .send_message(readers::chat(&customer), body)
        .reply_markup(rating_keyboard(lang, id))
        .await
    {
        Ok(_) => Ok(()),
        Err(RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
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
            crate::callback::Action::TicketWrite(t.ticket_id()),
        ),
        keyboards::button(
            tr(lang, "support.close"),
            crate::callback::Action::TicketClose(t.ticket_id()),
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
            if let Some(staff) = ctx.staff_chat {
                ctx.staff.pace().await;
                bot.send_message(
                    ChatId(staff),
                    tr_with(
                        ctx.default_language,
                        "staff.undelivered",
                        &[("id", &t.id.to_string())],
                    ),
                )
                .in_topic(ctx.staff.topic(Topic::Alerts))
                .await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
