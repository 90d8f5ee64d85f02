//! Tickets in the staff chat: each customer message is posted with who they are (their balance
//! and subscriptions); support staff answer by replying to the post.
use teloxide::prelude::*;
use teloxide::types::InputFile;
use vpnshop_core::ids::StaffPost;
use vpnshop_core::staff::Permission;
use vpnshop_core::tickets::{self, TicketError, Writing};
use vpnshop_core::{ledger, provisioning, subscriptions};

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
    let staff_id = m.who;
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
    ctx.staff.pace().await;
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
