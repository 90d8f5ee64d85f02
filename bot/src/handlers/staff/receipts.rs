//! Card-to-card receipts in the staff chat: each is posted with the order's details and Approve
//! / Reject buttons; finance or admin staff decide (checked on the server at every press); a
//! rejection's reason is the staff member's reply to the receipt.

use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, InputFile, MessageId, ParseMode, ReplyParameters};
use vpnshop_core::customers::{self, Language};
use vpnshop_core::ids::StaffPost;

use vpnshop_core::payments;
use vpnshop_core::payments::card::{self, Approval, Receipt, ReceiptStatus};

use super::Member;
use crate::callback::StaffAction;
use crate::ctx::Ctx;
use crate::ctx::TgBot;
use crate::errors::{BotError, HandlerResult};
use crate::handlers::readers;
use crate::keyboards;
use crate::keyboards::staff_button;
use crate::refusals;
use crate::staff_chat::{InTopic, PhotoInTopic, Topic};
use crate::text::{self, escape, tr, tr_with};
use vpnshop_core::ids::ReceiptId;

fn decision_keyboard(lang: Language, receipt: ReceiptId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![
        staff_button(
            tr(lang, "receipt.approve"),
            StaffAction::ReceiptApprove(receipt),
        ),
        staff_button(
            tr(lang, "receipt.reject"),
            StaffAction::ReceiptReject(receipt),
        ),
    ]])
}

/// The caption staff see: who, how much, to which card, for what, and any warning.
pub async fn caption(ctx: &Ctx, r: &Receipt) -> Result<String, BotError> {
    let lang = ctx.default_language;
    let payment = payments::get(&ctx.db, r.payment_id)
        .await?
        .ok_or_else(|| BotError::Service(format!("receipt {} has no payment", r.id)))?;
    let customer = customers::by_id(&ctx.db, r.customer_id).await?;
    let who = customer
        .as_ref()
        .map(|c| {
            let handle = c
                .username
                .as_deref()
                .map(|u| format!(" @{}", escape(u)))
                .unwrap_or_default();
            format!(
                "{}{handle} (<code>{}</code>)",
                escape(&c.first_name),
                c.telegram_id
            )
        })
        .unwrap_or_default();
    let amount = text::money(lang, payment.amount());
    let card = match r.card_id {
        Some(id) => card::card(&ctx.db, id)
            .await?
            .map(|c| format!("{} — {}", c.number, escape(&c.holder)))
            .unwrap_or_default(),
        None => String::new(),
    };
    let what = match payment.order_id {
        Some(o) => tr_with(lang, "pay.for_order", &[("order", &o.to_string())]),
        None => tr(lang, "pay.for_top_up"),
    };
    let mut body = tr_with(
        lang,
        "receipt.caption",
        &[
            ("id", &r.id.to_string()),
            ("customer", &who),
            ("amount", &amount),
            ("card", &card),
            ("what", &what),
        ],
    );
    if let Some(first) = r.duplicate_of {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "receipt.duplicate",
            &[("first", &first.to_string())],
        ));
    }
    if ctx
        .payments
        .card
        .second_approval_above
        .is_some_and(|limit| payment.amount_minor > limit.minor())
    {
        body.push('\n');
        body.push_str(&tr(lang, "receipt.needs_two"));
    }
    Ok(body)
}

/// Posts a receipt to the staff chat (once: a retried job finds it posted).
pub async fn post(
    bot: &TgBot,
    ctx: &Ctx,
    staff: ChatId,
    receipt: ReceiptId,
) -> Result<(), BotError> {
    let Some(r) = card::receipt(&ctx.db, receipt).await? else {
        return Ok(());
    };
    if r.staff_message_id.is_some() {
        return Ok(());
    }
    repost(bot, ctx, staff, &r).await
}

/// Posts the receipt (photo, caption, Approve / Reject) in the staff chat and remembers the new
/// post: for a receipt whose post never arrived, or is in a staff chat no longer used.
pub async fn repost(bot: &TgBot, ctx: &Ctx, staff: ChatId, r: &Receipt) -> Result<(), BotError> {
    let body = caption(ctx, r).await?;
    ctx.staff.pace().await;
    let sent = bot
        .send_photo(staff, InputFile::file_id(r.file_id.clone().into()))
        .photo_in_topic(ctx.staff.topic(Topic::Receipts))
        .caption(body)
        .parse_mode(ParseMode::Html)
        .reply_markup(decision_keyboard(ctx.default_language, r.id))
        .await?;
    let post = StaffPost {
        chat: sent.chat.id.0,
        message: i64::from(sent.id.0),
    };
    card::set_staff_message(&ctx.db, r.id, post).await?;
    Ok(())
}

/// Rewrites a receipt's caption after a decision (buttons kept while it is still open).
async fn refresh(m: &Member, r: &Receipt, note: String) -> HandlerResult {
    let (bot, ctx, chat) = (&m.bot, &m.ctx, m.chat);
    let Some(message) = r.staff_message_id else {
        return Ok(());
    };
    let mut body = caption(ctx, r).await?;
    body.push_str("\n\n");
    body.push_str(&note);
    let open = matches!(
        r.status,
        ReceiptStatus::Submitted | ReceiptStatus::HalfApproved
    );
    let edit = bot
        .edit_message_caption(chat, MessageId(message as i32))
        .caption(body)
        .parse_mode(ParseMode::Html);
    let edit = if open {
        edit.reply_markup(decision_keyboard(ctx.default_language, r.id))
    } else {
        edit.reply_markup(InlineKeyboardMarkup::default())
    };
    if let Err(e) = edit.await {
        tracing::warn!(receipt = %r.id, error = %e, "cannot update the receipt in the staff chat");
    }
    Ok(())
}

/// Approve pressed: finance staff approve (a large one needs a second person). What the
/// presser is told comes back.
pub async fn approve(m: &Member, id: ReceiptId) -> Result<String, BotError> {
    let (ctx, lang) = (&m.ctx, m.lang());
    // The service checks the presser's role itself, and audits a refusal.
    let now = ctx.clock.now();
    let approved = card::approve(&ctx.db, id, m.who, &ctx.payments.card, now).await;
    let outcome = match approved {
        Ok(outcome) => outcome,
        Err(e) => return Ok(refusals::for_staff_receipt(e)?.render(lang)),
    };
    let note = match outcome {
        Approval::NeedsSecond => tr_with(lang, "receipt.first_approval", &[("who", &m.name)]),
        Approval::Approved(_) => tr_with(lang, "receipt.approved_by", &[("who", &m.name)]),
    };
    if let Some(r) = card::receipt(&ctx.db, id).await? {
        refresh(m, &r, note).await?;
    }
    Ok(tr(
        lang,
        match outcome {
            Approval::NeedsSecond => "receipt.answer_first",
            Approval::Approved(_) => "receipt.answer_approved",
        },
    ))
}

/// Reject pressed: the presser is asked for the reason, as a reply to the receipt.
pub async fn reject(m: &Member, id: ReceiptId) -> Result<String, BotError> {
    let (ctx, lang) = (&m.ctx, m.lang());
    // The service checks the presser's role itself, and audits a refusal.
    let now = ctx.clock.now();
    let r = match card::begin_reject(&ctx.db, id, m.who, &ctx.payments.card, now).await {
        Ok(r) => r,
        Err(e) => return Ok(refusals::for_staff_receipt(e)?.render(lang)),
    };
    if let Some(message) = r.staff_message_id {
        m.bot
            .send_message(
                m.chat,
                tr_with(lang, "receipt.ask_reason", &[("who", &m.name)]),
            )
            .reply_parameters(ReplyParameters::new(MessageId(message as i32)))
            .await?;
    }
    refresh(
        m,
        &r,
        tr_with(lang, "receipt.rejecting", &[("who", &m.name)]),
    )
    .await?;
    Ok(tr(lang, "receipt.answer_reason"))
}

/// A staff reply to a receipt that they are rejecting: the reason. Returns whether the message
/// was about a receipt (else it is left to the other staff-chat features).
pub async fn reason_reply(m: &Member, msg: &Message) -> Result<bool, BotError> {
    let (bot, ctx) = (&m.bot, &m.ctx);
    let Some(reply_to) = msg.reply_to_message() else {
        return Ok(false);
    };
    let post = StaffPost {
        chat: msg.chat.id.0,
        message: i64::from(reply_to.id.0),
    };
    let Some(r) = card::by_staff_message(&ctx.db, post).await? else {
        return Ok(false);
    };
    let lang = m.lang();
    let who = m.who;
    let reason = msg.text().unwrap_or_default().trim();
    let key = if r.status != ReceiptStatus::Rejecting || r.claimed_by != Some(who.get()) {
        "receipt.not_rejecting"
    } else if reason.is_empty() || reason.chars().count() > 500 {
        "receipt.reason_bad"
    } else {
        match card::finish_reject(&ctx.db, r.id, who, reason, ctx.clock.now()).await {
            Ok(done) => {
                let note = tr_with(
                    lang,
                    "receipt.rejected_by",
                    &[("who", &m.name), ("reason", &escape(reason))],
                );
                refresh(m, &done, note).await?;
                "receipt.reject_done"
            }
            Err(e) => {
                let text = refusals::for_staff_receipt(e)?.render(lang);
                bot.send_message(msg.chat.id, text)
                    .reply_parameters(ReplyParameters::new(msg.id))
                    .await?;
                return Ok(true);
            }
        }
    };
    bot.send_message(msg.chat.id, tr(lang, key))
        .reply_parameters(ReplyParameters::new(msg.id))
        .await?;
    Ok(true)
}

/// A notice: a receipt to put before staff, with Approve / Reject.
pub async fn to_staff(bot: &TgBot, ctx: &Ctx, receipt: ReceiptId) -> HandlerResult {
    let Some(staff) = ctx.staff_chat else {
        return Err(BotError::Undeliverable(
            "no staff chat configured (shop.staff_chat_id)".into(),
        ));
    };
    post(bot, ctx, ChatId(staff), receipt).await
}

/// A notice: staff rejected a receipt; the customer hears why.
pub async fn notify_rejected(bot: &TgBot, ctx: &Ctx, receipt: ReceiptId) -> HandlerResult {
    let Some(r) = card::receipt(&ctx.db, receipt).await? else {
        return Ok(());
    };
    let Some(row) = payments::get(&ctx.db, r.payment_id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, r.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let body = tr_with(
        lang,
        "receipt.rejected_customer",
        &[
            ("amount", &text::money(lang, row.amount())),
            ("reason", &escape(r.reason.as_deref().unwrap_or(""))),
        ],
    );
    bot.send_message(readers::chat(&customer), body)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

/// Reminds staff of receipts nobody decided yet (from the payments sweep).
pub async fn remind(bot: &TgBot, ctx: &Ctx) -> HandlerResult {
    let Some(staff) = ctx.staff_chat else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let due = card::due_reminders(&ctx.db, &ctx.payments.card, now).await?;
    let lang = ctx.default_language;
    for r in due {
        // No post staff can act on (it never arrived, or is in a chat no longer used): the
        // reminder is the receipt itself again, with its buttons.
        if r.staff_message_id.is_none() || r.staff_chat_id != Some(staff) {
            if let Err(e) = repost(bot, ctx, ChatId(staff), &r).await {
                tracing::warn!(receipt = %r.id, error = %e, "cannot post a receipt for staff");
            }
            continue;
        }
        let minutes = text::count(lang, (now - r.created_at).num_minutes(), "minutes");
        ctx.staff.pace().await;
        let mut send = bot
            .send_message(
                ChatId(staff),
                tr_with(
                    lang,
                    "receipt.reminder",
                    &[("id", &r.id.to_string()), ("minutes", &minutes)],
                ),
            )
            .in_topic(ctx.staff.topic(Topic::Receipts));
        if let Some(m) = r.staff_message_id {
            send = send.reply_parameters(
                teloxide::types::ReplyParameters::new(teloxide::types::MessageId(m as i32))
                    .allow_sending_without_reply(),
            );
        }
        if let Err(e) = send.await {
            tracing::warn!(receipt = %r.id, error = %e, "cannot remind staff of a receipt");
        }
    }
    Ok(())
}
