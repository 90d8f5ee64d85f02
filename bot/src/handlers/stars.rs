//! Telegram Stars at the moment of paying: the pre-checkout question (answered well within
//! Telegram's 10 s) and the `successful_payment` message, recorded once by its charge id.
use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::PreCheckoutQuery;
use vpnshop_core::customers;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::payments::stars::{self, Refusal, Settled};

use super::Ctx;
use super::readers;
use super::visit::{apologize, guess_language, language_of};
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{self, tr, tr_with};
use teloxide::ApiError;
use teloxide::RequestError;
use vpnshop_core::ids::PaymentId;

pub async fn on_pre_checkout(bot: TgBot, q: PreCheckoutQuery, ctx: Arc<Ctx>) -> HandlerResult {
    let payer = TelegramId::new(q.from.id.0 as i64);
    let lang = match customers::by_telegram_id(&ctx.db, payer).await {
        Ok(Some(c)) => language_of(&ctx, &c, &q.from),
        _ => guess_language(&ctx, &q.from),
    };
    let verdict = stars::pre_checkout(
        &ctx.db,
        &q.invoice_payload,
        payer,
        &q.currency,
        i64::from(q.total_amount),
        ctx.clock.now(),
    )
    .await;
    let refusal = match verdict {
        Ok(Ok(())) => None,
        Ok(Err(r)) => Some(r),
        Err(e) => {
            // Refuse rather than take Stars we could not check.
            tracing::error!(error = %e, "pre-checkout could not be checked");
            Some(Refusal::Unknown)
        }
    };
    match refusal {
        None => bot.answer_pre_checkout_query(q.id, true).await?,
        Some(r) => {
            let key = match r {
                Refusal::Unknown => "stars.refuse_unknown",
                Refusal::AlreadyPaid => "stars.refuse_paid",
                Refusal::OrderClosed => "stars.refuse_closed",
                Refusal::PriceChanged => "stars.refuse_price",
            };
            bot.answer_pre_checkout_query(q.id, false)
                .error_message(tr(lang, key))
                .await?
        }
    };
    Ok(())
}

pub async fn on_successful_payment(bot: TgBot, msg: Message, ctx: Arc<Ctx>) -> HandlerResult {
    let (Some(paid), Some(user)) = (msg.successful_payment(), msg.from.as_ref()) else {
        return Ok(());
    };
    let payer = TelegramId::new(user.id.0 as i64);
    let customer = customers::by_telegram_id(&ctx.db, payer).await?;
    let lang = customer
        .as_ref()
        .map(|c| language_of(&ctx, c, user))
        .unwrap_or_else(|| guess_language(&ctx, user));
    let settled = stars::record_payment(
        &ctx.db,
        &paid.invoice_payload,
        payer,
        &paid.currency,
        i64::from(paid.total_amount),
        &paid.telegram_payment_charge_id.0,
        stars::Seen::InUpdate,
        ctx.clock.now(),
    )
    .await;
    let chat = msg.chat.id;
    let text = match settled {
        Ok(Settled::Credited {
            order: Some(_),
            order_paid: true,
            ..
        }) => tr(lang, "checkout.paid"),
        Ok(Settled::Credited {
            order: Some(_),
            credit,
            ..
        }) => tr_with(
            lang,
            "stars.kept_in_wallet",
            &[("amount", &text::money(lang, credit))],
        ),
        Ok(Settled::Credited {
            order: None,
            credit,
            ..
        }) => tr_with(
            lang,
            "stars.topped_up",
            &[("amount", &text::money(lang, credit))],
        ),
        Ok(Settled::RefundDue { .. }) => tr(lang, "stars.refunding"),
        Ok(Settled::AlreadyRecorded | Settled::Skipped) => return Ok(()),
        Err(e) => {
            // Telegram will not send this update again, but the payment is in the bot's Star
            // transactions: the payments sweep records it from there and tells the customer.
            tracing::error!(charge = %paid.telegram_payment_charge_id.0, error = %e, "a Stars payment could not be recorded");
            apologize(
                &bot,
                chat,
                lang,
                &crate::errors::BotError::Service(e.to_string()),
            )
            .await;
            return Ok(());
        }
    };
    bot.send_message(chat, text)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

/// A notice: a Stars payment that must go back (the same invoice paid twice).
pub async fn refund(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> HandlerResult {
    let Some((user, charge, stars)) = stars::refund_target(&ctx.db, payment).await? else {
        return Ok(());
    };
    let refund = bot
        .refund_star_payment(
            UserId(user.get() as u64),
            teloxide::types::TelegramTransactionId(charge),
        )
        .await;
    match refund {
        Ok(_) => {}
        // A repeat after a lost answer: Telegram already gave the Stars back.
        Err(RequestError::Api(ApiError::Unknown(ref d)))
            if d.contains("CHARGE_ALREADY_REFUNDED") => {}
        Err(e) => return Err(e.into()),
    }
    stars::mark_refunded(&ctx.db, payment, ctx.clock.now()).await?;
    if let Some(customer) = customers::by_telegram_id(&ctx.db, user).await? {
        let lang = readers::lang(ctx, &customer);
        bot.send_message(
            readers::chat(&customer),
            tr_with(lang, "stars.refunded", &[("stars", &stars.to_string())]),
        )
        .await?;
    }
    Ok(())
}
