//! Paying by card-to-card or an online gateway, for an order's rest or a wallet top-up: the
//! customer picks a method, gets the card and exact amount (then sends the receipt photo) or a
//! link to the gateway (then comes back, or presses "I have paid"). Money always lands in the
//! wallet first; an order is paid from it in the same step.
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnshop_core::customers::Language;
use vpnshop_core::ids::{OrderId, PaymentId};
use vpnshop_core::money::{Money, MoneyError};
use vpnshop_core::payments::card::{self};
use vpnshop_core::payments::gateways::{self};
use vpnshop_core::payments::{self, PaymentStatus, Provider};

use super::readers;
use super::{Ctx, State, Visit};
use crate::callback::Action;
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::text::{self, escape, tr, tr_with};
use vpnshop_core::ledger;
use vpnshop_core::payments::rates;

/// The label of a method's button.
fn method_name(lang: Language, provider: Provider) -> String {
    tr(lang, &format!("pay.method.{provider}"))
}

/// The card-to-card and gateway methods this shop offers now, in its currency.
pub async fn offered(ctx: &Ctx) -> Result<Vec<Provider>, vpnshop_core::sea_orm::DbErr> {
    let mut methods = Vec::new();
    // Receipts go to the staff chat: without one that takes the bot's posts, nobody would
    // ever see them.
    if ctx.staff.is_reachable() && card::has_card(&ctx.db).await? {
        methods.push(Provider::Card);
    }
    if ctx.payments.urls.is_some() {
        for g in ctx.payments.online(ctx.currency) {
            // One that charges another currency is offered once the seller set its rate.
            if let Some(foreign) = g.charge_currency().filter(|c| *c != ctx.currency)
                && rates::get(&ctx.db, foreign, ctx.currency).await?.is_none()
            {
                continue;
            }
            methods.push(g.provider());
        }
    }
    Ok(methods)
}

/// One button per method, for the preview of `order`.
pub async fn order_buttons(
    ctx: &Ctx,
    lang: Language,
    order: OrderId,
) -> Result<Vec<Vec<InlineKeyboardButton>>, vpnshop_core::sea_orm::DbErr> {
    Ok(offered(ctx)
        .await?
        .into_iter()
        .map(|p| vec![button(method_name(lang, p), Action::PayVia(order, p))])
        .collect())
}

/// One button per method, for the wallet's top-up menu.
pub async fn top_up_buttons(
    ctx: &Ctx,
    lang: Language,
) -> Result<Vec<(String, Action)>, vpnshop_core::sea_orm::DbErr> {
    Ok(offered(ctx)
        .await?
        .into_iter()
        .map(|p| (method_name(lang, p), Action::TopUpVia(p)))
        .collect())
}

/// "Pay by …" pressed on an order's preview.
pub async fn pay_order(v: &Visit, order: OrderId, provider: Provider) -> HandlerResult {
    let (ctx, customer) = (&v.ctx, &v.customer);
    if !offered(ctx).await?.contains(&provider) {
        return v.stale().await;
    }
    let due = payments::amount_due(&ctx.db, order, customer.customer_id(), ctx.clock.now()).await;
    let due = due?;
    start(v, Some(order), due, provider).await
}

/// "Top up by …" pressed: ask how much.
pub async fn ask_top_up(v: &Visit, provider: Provider) -> HandlerResult {
    let (dialogue, ctx, lang) = (&v.dialogue, &v.ctx, v.lang);

    if !offered(ctx).await?.contains(&provider) {
        return v.stale().await;
    }
    dialogue
        .update(State::EnteringTopUp {
            method: provider.as_str().to_string(),
        })
        .await?;
    let body = tr_with(
        lang,
        "pay.ask_amount",
        &[
            ("method", &method_name(lang, provider)),
            ("example", &text::money(lang, example_amount(ctx))),
        ],
    );
    v.show(body, keyboards::back_to_menu(lang)).await
}

fn example_amount(ctx: &Ctx) -> Money {
    let minor = match ctx.currency.exponent() {
        0 => 100_000,
        _ => 50_000,
    };
    Money::new(minor, ctx.currency).unwrap_or(Money::zero(ctx.currency))
}

/// The top-up amount arrives as text.
pub async fn top_up_entered(v: &Visit, method: &str, input: Option<&str>) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);
    let Some(provider) = Provider::parse(method) else {
        v.dialogue.update(State::Idle).await?;
        return v.stale().await;
    };
    let amount = match input.map(|t| Money::parse(t, ctx.currency)) {
        Some(Ok(m)) if m.minor() > 0 => m,
        refused => {
            let example = text::money(lang, example_amount(ctx));
            let refusal = match refused {
                Some(Err(MoneyError::TooLarge { max })) => {
                    tr_with(lang, "pay.too_large", &[("max", &text::money(lang, max))])
                }
                Some(Err(MoneyError::Ambiguous(typed))) => tr_with(
                    lang,
                    "pay.ambiguous_amount",
                    &[("typed", &escape(&typed)), ("example", &example)],
                ),
                _ => tr_with(lang, "pay.bad_amount", &[("example", &example)]),
            };
            return v.say(refusal, keyboards::back_to_menu(lang)).await;
        }
    };
    v.dialogue.update(State::Idle).await?;
    start(v, None, amount, provider).await
}

/// Opens the payment and tells the customer how to pay it.
/// Opens the payment of `amount` for `order` (none: a wallet top-up) and tells the customer how
/// to pay it.
async fn start(
    v: &Visit,
    order: Option<OrderId>,
    amount: Money,
    provider: Provider,
) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let what = match order {
        Some(o) => tr_with(lang, "pay.for_order", &[("order", &o.to_string())]),
        None => tr(lang, "pay.for_top_up"),
    };
    let now = ctx.clock.now();
    if provider == Provider::Card {
        let transfer = card::open(
            &ctx.db,
            customer.customer_id(),
            order,
            amount,
            &ctx.payments.card,
            now,
        )
        .await;
        let transfer = transfer?;
        v.dialogue
            .update(State::AwaitingReceipt {
                payment: transfer.checkout.payment,
            })
            .await?;
        let number = transfer
            .card
            .number
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        let body = tr_with(
            lang,
            "pay.card_instructions",
            &[
                ("what", &what),
                ("amount", &text::money(lang, transfer.checkout.charge)),
                ("card", &number),
                ("holder", &escape(&transfer.card.holder)),
                ("bank", &escape(&transfer.card.bank)),
            ],
        );
        return v.say(body, keyboards::back_to_menu(lang)).await;
    }
    let (Some(gateway), Some(urls)) = (ctx.payments.gateway(provider), ctx.payments.urls.as_ref())
    else {
        return v.stale().await;
    };
    let description = format!("{} — {}", ctx.shop_name, what);
    match gateways::checkout(
        &ctx.db,
        gateway,
        urls,
        gateways::Purchase {
            customer: customer.customer_id(),
            order,
            credit: amount,
            description,
        },
        ctx.limits.open_payments,
        now,
    )
    .await
    {
        Ok((checkout, url)) => {
            let mut body = tr_with(
                lang,
                "pay.gateway_instructions",
                &[
                    ("what", &what),
                    ("amount", &text::money(lang, checkout.charge)),
                    ("method", &method_name(lang, provider)),
                ],
            );
            // Priced in another currency: say at what rate, and what the wallet gets.
            if checkout.charge.currency() != amount.currency()
                && let Some(rate) =
                    rates::get(&ctx.db, checkout.charge.currency(), amount.currency()).await?
            {
                body.push('\n');
                body.push_str(&tr_with(
                    lang,
                    "pay.rate_note",
                    &[
                        ("rate", &text::money(lang, rate.per_unit)),
                        ("unit", checkout.charge.currency().code()),
                        ("credit", &text::money(lang, amount)),
                    ],
                ));
            }
            let keyboard = InlineKeyboardMarkup::new(vec![
                vec![InlineKeyboardButton::url(
                    tr(lang, "pay.open_gateway"),
                    url.parse().map_err(|_| {
                        crate::errors::BotError::Service(format!("{provider} gave a bad URL"))
                    })?,
                )],
                vec![button(
                    tr(lang, "pay.check"),
                    Action::CheckPayment(checkout.payment),
                )],
                vec![keyboards::back(lang)],
            ]);
            v.say(body, keyboard).await
        }
        Err(e) => Err(e.into()),
    }
}

/// "I have paid": ask the gateway now instead of waiting for its callback.
pub async fn check(v: &Visit, payment: PaymentId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let row = payments::get(&ctx.db, payment)
        .await?
        .filter(|p| p.customer_id == customer.id);
    let Some(row) = row else {
        return v.stale().await;
    };
    // Only a payment still open can change by asking the gateway; the answer then comes from
    // the payment's own state, never from what the check returned.
    let open = [PaymentStatus::Pending, PaymentStatus::Failed];
    let key = if open.contains(&row.status) {
        let gateway = ctx.payments.gateway(row.provider);
        let Some(gateway) = gateway else {
            return v.stale().await;
        };
        // The customer waits for this answer (and their chat with them): a few seconds at
        // most; a slow gateway is left to reconciliation, which settles it later anyway.
        let asked = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            gateways::check_one(&ctx.db, gateway, &row, ctx.clock.now()),
        )
        .await;
        match asked {
            Ok(Ok(_)) => None,
            // Nothing is known: it may well be paid, so never "nothing was charged".
            Ok(Err(gateways::CallbackError::Gateway(_))) | Err(_) => Some("pay.check_unreachable"),
            Ok(Err(gateways::CallbackError::Db(e))) => return Err(e.into()),
        }
    } else {
        None
    };
    let key = match key {
        Some(key) => key,
        None => {
            let now = payments::get(&ctx.db, payment).await?.map(|p| p.status);
            match now {
                Some(PaymentStatus::Paid) => "pay.confirmed",
                Some(PaymentStatus::Review) => "pay.in_review",
                Some(PaymentStatus::Failed) => "pay.failed",
                Some(
                    PaymentStatus::Declined | PaymentStatus::RefundDue | PaymentStatus::Refunded,
                ) => "pay.declined",
                _ => "pay.not_yet",
            }
        }
    };
    v.say(tr(lang, key), keyboards::back_to_menu(lang)).await
}

/// A photo from a customer: the receipt of their pending card transfer.
pub async fn receipt(v: &Visit, msg: &Message, payment: Option<PaymentId>) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let Some(photo) = msg.photo().and_then(|sizes| sizes.last()) else {
        return v
            .say(tr(lang, "pay.send_photo"), keyboards::back_to_menu(lang))
            .await;
    };
    let payment = match payment {
        Some(p) => Some(p),
        None => card::awaiting_receipt(
            &ctx.db,
            customer.customer_id(),
            &ctx.payments.card,
            ctx.clock.now(),
        )
        .await?
        .map(|p| p.id),
    };
    let Some(payment) = payment else {
        return v
            .say(tr(lang, "hint.unknown"), keyboards::main_menu(lang))
            .await;
    };
    let submitted = card::submit(
        &ctx.db,
        payment,
        customer.customer_id(),
        &photo.file.id.0,
        &photo.file.unique_id.0,
        ctx.clock.now(),
    )
    .await;
    v.dialogue.update(State::Idle).await?;
    submitted?;
    v.say(
        tr(lang, "pay.receipt_received"),
        keyboards::back_to_menu(lang),
    )
    .await
}

/// An amount stored as minor units and a currency code (the shop's currency if unreadable).
pub async fn notify_received(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> HandlerResult {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, row.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let credit = payments::credit_of(&row).unwrap_or_else(|| row.amount());
    let balance =
        ledger::wallet_balance(&ctx.db, customer.customer_id(), credit.currency()).await?;
    let key = match (row.order_id, payments::paid_its_order(&row)) {
        (None, _) => "payment.received_wallet",
        (Some(_), true) => "payment.received_order",
        (Some(_), false) => "payment.received_order_closed",
    };
    let body = tr_with(
        lang,
        key,
        &[
            ("amount", &text::money(lang, credit)),
            ("balance", &text::money(lang, balance)),
            (
                "order",
                &row.order_id.map(|o| o.to_string()).unwrap_or_default(),
            ),
        ],
    );
    bot.send_message(readers::chat(&customer), body)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

/// A notice: staff declined a payment in review.
pub async fn notify_declined(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> HandlerResult {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, row.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    bot.send_message(
        readers::chat(&customer),
        tr_with(
            lang,
            "payment.declined_customer",
            &[("id", &row.id.to_string())],
        ),
    )
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    Ok(())
}
