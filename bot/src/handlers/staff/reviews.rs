//! Payments in review in the staff chat: the message says what was asked and what arrived, with
//! buttons to credit what arrived, credit in full or decline. Core checks the presser's role and
//! lets the first decision win; the message then says who decided and loses its buttons.

use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, ParseMode};
use vpnshop_core::customers::{self, Customer, Language};
use vpnshop_core::ids::PaymentId;
use vpnshop_core::payments::review::{self, Decision, Settled};
use vpnshop_core::payments::{self, Payment};

use super::Member;
use crate::callback::StaffAction;
use crate::ctx::Ctx;
use crate::ctx::TgBot;
use crate::errors::{BotError, HandlerResult};
use crate::handlers::readers;
use crate::keyboards;
use crate::keyboards::staff_button;
use crate::staff_chat::{InTopic, Topic};
use crate::text::{self, escape, tr, tr_with};

/// What staff read about a payment in review.
pub fn staff_text(ctx: &Ctx, row: &Payment, customer: &Customer) -> String {
    let l = ctx.default_language;
    let details = payments::details_of(row);
    let reported = match (
        details["reported_minor"].as_i64(),
        details["reported_currency"].as_str(),
    ) {
        (Some(minor), Some(c)) => text::money(l, text::money_of(minor, c, ctx.currency)),
        _ => match details["reported_text"].as_str() {
            Some(arrived) => tr_with(
                l,
                "payment.review_unscaled",
                &[("arrived", &escape(arrived))],
            ),
            None => "?".into(),
        },
    };
    tr_with(
        l,
        "payment.review_staff",
        &[
            ("id", &row.id.to_string()),
            ("provider", row.provider.as_str()),
            (
                "customer",
                &format!(
                    "{} (<code>{}</code>)",
                    escape(&customer.first_name),
                    customer.telegram_id
                ),
            ),
            ("asked", &text::money(l, row.amount())),
            ("reported", &reported),
        ],
    )
}

/// The decisions open to staff; "credit what arrived" only when it arrived in the currency
/// asked (otherwise there is nothing to scale).
pub fn decisions(lang: Language, row: &Payment) -> InlineKeyboardMarkup {
    let mut buttons = Vec::new();
    if let Some(received) = review::received_credit(row) {
        buttons.push(staff_button(
            tr_with(
                lang,
                "payment.review_credit_received",
                &[("amount", &text::money(lang, received))],
            ),
            StaffAction::ReviewCreditReceived(row.id),
        ));
    }
    if let Some(full) = payments::credit_of(row) {
        buttons.push(staff_button(
            tr_with(
                lang,
                "payment.review_credit_full",
                &[("amount", &text::money(lang, full))],
            ),
            StaffAction::ReviewCreditFull(row.id),
        ));
    }
    buttons.push(staff_button(
        tr(lang, "payment.review_decline"),
        StaffAction::ReviewDecline(row.id),
    ));
    InlineKeyboardMarkup::new(buttons.into_iter().map(|b| vec![b]))
}

/// A decision pressed on a payment in review: finance staff credit what arrived, credit in
/// full, or decline. What the presser is told comes back.
pub async fn decide(
    m: &Member,
    q: &CallbackQuery,
    action: StaffAction,
) -> Result<String, BotError> {
    let (bot, ctx, lang) = (&m.bot, &m.ctx, m.lang());
    let (payment, decision) = match action {
        StaffAction::ReviewCreditReceived(p) => (p, Decision::CreditReceived),
        StaffAction::ReviewCreditFull(p) => (p, Decision::CreditFull),
        StaffAction::ReviewDecline(p) => (p, Decision::Decline),
        _ => return Ok(tr(lang, "errors.stale_button")),
    };
    // The service checks the presser's role itself, and audits a refusal.
    let decided = review::decide(
        &ctx.db,
        payment,
        m.who,
        decision,
        ctx.payments.card.second_approval_above,
        ctx.clock.now(),
    )
    .await;
    let name = m.name.clone();
    let (answer, note) = match decided {
        Ok(Settled::Credited(c)) => (
            "payment.review_answer_credited",
            Some(tr_with(
                lang,
                "payment.review_credited_by",
                &[("amount", &text::money(lang, c.credit)), ("who", &name)],
            )),
        ),
        Ok(Settled::Declined) => (
            "payment.review_answer_declined",
            Some(tr_with(
                lang,
                "payment.review_declined_by",
                &[("who", &name)],
            )),
        ),
        Ok(Settled::NeedsSecond) => ("payment.review_needs_second", None),
        Err(e) => return Ok(crate::refusals::for_staff_review(e)?.render(lang)),
    };
    if let (Some(note), Some(message)) = (note, q.regular_message()) {
        let row = payments::get(&ctx.db, payment).await?;
        let customer = match &row {
            Some(r) => customers::by_id(&ctx.db, r.customer_id).await?,
            None => None,
        };
        if let (Some(row), Some(customer)) = (row, customer) {
            let body = format!("{}\n\n{note}", staff_text(ctx, &row, &customer));
            let edited = bot
                .edit_message_text(message.chat.id, message.id, body)
                .parse_mode(ParseMode::Html)
                .reply_markup(InlineKeyboardMarkup::default())
                .await;
            if let Err(e) = edited {
                tracing::warn!(%payment, error = %e, "cannot update the review in the staff chat");
            }
        }
    }
    Ok(tr(lang, answer))
}

/// A notice: a payment came in for a different amount or currency; staff decide, the customer hears it is in review.
pub async fn notify_review(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> HandlerResult {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, row.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    if let Some(staff) = ctx.staff_chat {
        ctx.staff.pace().await;
        bot.send_message(ChatId(staff), staff_text(ctx, &row, &customer))
            .in_topic(ctx.staff.topic(Topic::Payments))
            .reply_markup(decisions(ctx.default_language, &row))
            .await?;
    }
    bot.send_message(
        readers::chat(&customer),
        tr(lang, "payment.review_customer"),
    )
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    Ok(())
}
