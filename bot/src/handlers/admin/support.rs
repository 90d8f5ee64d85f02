//! The support queue, for staff with the tickets permission (`/tickets` or the menu): open
//! tickets oldest first with who took each and how long the customer has waited; a ticket's
//! latest messages; Take, Reply (the typed answer goes to the customer like a reply in the staff
//! chat) and Close. Core does each action and audits it (`tickets::take / answer / staff_close`).
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::ids::TicketId;
use vpnshop_core::staff::Permission;
use vpnshop_core::tickets::{self, Author, Taken, Writing};

use super::{Admin, AdminStep, back, button};
use crate::callback::AdminAction;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::handlers::staff::tickets::staff_name;
use crate::refusals::for_staff_ticket;
use crate::text::{self, escape, tr, tr_with};

/// Tickets on one page of the queue.
const PER_PAGE: u64 = 8;

/// A page of the queue, with `note` on top.
pub async fn queue(a: &Admin, page: u32, note: Option<String>) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.queue").await?;
    a.v.set_state(State::Idle).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let now = ctx.clock.now();
    let (rows, total) = tickets::queue(&ctx.db, u64::from(page), PER_PAGE).await?;
    let mut body = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    body.push_str(&tr_with(
        lang,
        "admin.support.title",
        &[("count", &total.to_string())],
    ));
    if total == 0 {
        body.push('\n');
        body.push_str(&tr(lang, "admin.support.empty"));
    }
    let mut keyboard = Vec::new();
    for q in &rows {
        let t = &q.ticket;
        let waiting = match t.awaiting_since {
            Some(since) => tr_with(
                lang,
                "admin.support.waiting",
                &[("time", &text::elapsed(lang, now - since))],
            ),
            None => tr(lang, "admin.support.answered"),
        };
        let holder = match t.taken_by {
            Some(who) => staff_name(ctx, who).await?,
            None => tr(lang, "support.nobody"),
        };
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "admin.support.line",
            &[
                ("id", &t.id.to_string()),
                ("name", &escape(&q.customer.first_name)),
                ("waiting", &waiting),
                ("holder", &holder),
            ],
        ));
        let subject = t.subject.clone().unwrap_or_else(|| "📷".into());
        keyboard.push(vec![button(
            format!("#{} · {}", t.id, text::cut(&subject, 28)),
            AdminAction::Ticket(t.ticket_id()),
        )]);
    }
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(button(
            tr(lang, "admin.support.newer"),
            AdminAction::Tickets(page - 1),
        ));
    }
    if u64::from(page + 1) * PER_PAGE < total {
        nav.push(button(
            tr(lang, "admin.support.older"),
            AdminAction::Tickets(page + 1),
        ));
    }
    if !nav.is_empty() {
        keyboard.push(nav);
    }
    keyboard.push(vec![back(lang)]);
    a.v.show(body, InlineKeyboardMarkup::new(keyboard)).await
}

/// One ticket: who wrote it, who took it, its latest messages, and the buttons.
pub async fn show(a: &Admin, id: TicketId, note: Option<String>) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.view").await?;
    a.v.set_state(State::Idle).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let Some(t) = tickets::get(&ctx.db, id).await? else {
        return a.v.stale().await;
    };
    let Some(customer) = vpnshop_core::customers::by_id(&ctx.db, t.customer_id).await? else {
        return a.v.stale().await;
    };
    let holder = match t.taken_by {
        Some(who) => staff_name(ctx, who).await?,
        None => tr(lang, "support.nobody"),
    };
    let status = match t.status {
        tickets::TicketStatus::Open => tr(lang, "admin.support.open"),
        tickets::TicketStatus::Closed => tr(lang, "admin.support.closed"),
    };
    let username = customer
        .username
        .as_deref()
        .map(|u| format!("@{}", escape(u)))
        .unwrap_or_default();
    let mut body = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    body.push_str(&tr_with(
        lang,
        "admin.support.ticket",
        &[
            ("id", &t.id.to_string()),
            ("name", &escape(&customer.first_name)),
            ("username", &username),
            ("telegram", &customer.telegram_id.to_string()),
            ("opened", &text::date(t.created_at)),
            ("status", &status),
            ("holder", &holder),
        ],
    ));
    if let Some(r) = t.rating {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "admin.support.rating",
            &[("stars", &"⭐".repeat(usize::try_from(r).unwrap_or(0)))],
        ));
    }
    // The latest messages, each cut so the screen stays within Telegram's 4,096 characters.
    for m in tickets::messages(&ctx.db, t.ticket_id(), 6).await? {
        let who = match m.author {
            Author::Customer => "👤",
            Author::Staff => "🎧",
        };
        let said = match (&m.body, &m.photo_file_id) {
            (Some(b), _) => escape(&text::cut(b, 400)).into_owned(),
            (None, _) => "📷".to_string(),
        };
        body.push_str(&format!(
            "\n\n{who} <i>{}</i>\n{said}",
            text::date(m.created_at)
        ));
    }
    let mut rows = Vec::new();
    if t.status == tickets::TicketStatus::Open {
        let mut actions = Vec::new();
        if t.taken_by.is_none() {
            actions.push(button(
                tr(lang, "support.take"),
                AdminAction::TicketTake(t.ticket_id()),
            ));
        }
        actions.push(button(
            tr(lang, "admin.support.reply"),
            AdminAction::TicketReply(t.ticket_id()),
        ));
        actions.push(button(
            tr(lang, "support.staff_close"),
            AdminAction::TicketClose(t.ticket_id()),
        ));
        rows.push(actions);
    }
    if a.access.may(Permission::Customers) {
        rows.push(vec![button(
            tr(lang, "admin.support.customer"),
            AdminAction::Customer(customer.id),
        )]);
    }
    rows.push(vec![
        button(tr(lang, "admin.support.queue"), AdminAction::Tickets(0)),
        back(lang),
    ]);
    a.v.show(body, InlineKeyboardMarkup::new(rows)).await
}

pub async fn take(a: &Admin, id: TicketId) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.take").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let note = match tickets::take(&ctx.db, id, &a.access, ctx.clock.now()).await {
        Ok(Taken::Now) => tr_with(lang, "support.taken_now", &[("id", &id.to_string())]),
        Ok(Taken::AlreadyYours) => tr_with(lang, "support.taken_yours", &[("id", &id.to_string())]),
        Ok(Taken::By(other)) => tr_with(
            lang,
            "support.taken_by",
            &[
                ("id", &id.to_string()),
                ("name", &staff_name(ctx, other).await?),
            ],
        ),
        Err(e) => match for_staff_ticket(e)? {
            Some(key) => tr(lang, key),
            None => return a.v.stale().await,
        },
    };
    show(a, id, Some(note)).await
}

/// Asks for the answer.
pub async fn ask_reply(a: &Admin, id: TicketId) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.answer").await?;
    a.v.set_state(State::Admin(AdminStep::TicketReply { ticket: id }))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.support.cancel"),
        AdminAction::Ticket(id),
    )]]);
    let text = tr_with(
        a.lang(),
        "admin.support.ask_reply",
        &[("id", &id.to_string())],
    );
    a.v.say(text, keyboard).await
}

/// The typed answer: queued for the customer, as a reply in the staff chat would be.
pub async fn reply(a: &Admin, id: TicketId, msg: &teloxide::types::Message) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.answer").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let writing = Writing {
        body: msg.text().or(msg.caption()).map(str::to_string),
        photo_file_id: msg
            .photo()
            .and_then(|s| s.last())
            .map(|p| p.file.id.0.clone()),
    };
    let note = match tickets::answer(&ctx.db, id, &a.access, writing, ctx.clock.now()).await {
        Ok(_) => tr(lang, "support.staff_sent"),
        Err(tickets::TicketError::Empty | tickets::TicketError::TooLong) => {
            // Still waiting for a usable answer.
            return a
                .v
                .say(
                    tr(lang, "support.staff_bad"),
                    InlineKeyboardMarkup::new(vec![vec![button(
                        tr(lang, "admin.support.cancel"),
                        AdminAction::Ticket(id),
                    )]]),
                )
                .await;
        }
        Err(e) => match for_staff_ticket(e)? {
            Some(key) => tr(lang, key),
            None => return a.v.stale().await,
        },
    };
    a.v.set_state(State::Idle).await?;
    show(a, id, Some(note)).await
}

pub async fn close(a: &Admin, id: TicketId) -> HandlerResult {
    a.require(Permission::Tickets, "tickets.close").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let note = match tickets::staff_close(&ctx.db, id, &a.access, ctx.clock.now()).await {
        Ok(_) => tr_with(
            lang,
            "support.staff_closed_done",
            &[("id", &id.to_string())],
        ),
        Err(e) => match for_staff_ticket(e)? {
            Some(key) => tr(lang, key),
            None => return a.v.stale().await,
        },
    };
    queue(a, 0, Some(note)).await
}
