//! Buying: location → plan → optional promo code and points → a preview of exactly what will be
//! bought and charged → pay from the wallet, with Telegram Stars, or both. The preview is a
//! pending order; every button names the order and is checked again when pressed.
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, LabeledPrice};
use vpnshop_core::catalog;
use vpnshop_core::customers::Language;
use vpnshop_core::ids::{LocationId, OrderId, PlanId};
use vpnshop_core::ledger::LedgerError;

use vpnshop_core::orders::{self, Order, OrderError, OrderKind, OrderStatus, QuoteRequest};
use vpnshop_core::panels;
use vpnshop_core::payments::stars::{self, StarsError};
use vpnshop_core::points;
use vpnshop_core::promo::{self, PromoError};

use super::preview;
use super::readers;
use super::{State, Visit};
use crate::callback::Action;
use crate::ctx::Ctx;
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::staff_chat::{InTopic, Topic};
use crate::text::{self, escape, tr, tr_with};

pub async fn locations(v: &Visit) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let locations = panels::sellable_locations(&ctx.db).await?;
    if locations.is_empty() {
        return v
            .show(tr(lang, "buy.no_locations"), keyboards::back_to_menu(lang))
            .await;
    }
    let items = locations
        .into_iter()
        .map(|l| (l.name.clone(), Action::BuyLocation(l.location_id())))
        .collect();
    v.show(tr(lang, "buy.pick_location"), keyboards::list(lang, items))
        .await
}

/// One line about a plan: `30 days · 50 GB`.
pub fn plan_terms(lang: Language, days: i32, traffic: Option<i64>) -> String {
    tr_with(
        lang,
        "buy.terms",
        &[
            ("days", &text::count(lang, i64::from(days), "days")),
            ("traffic", &text::traffic(lang, traffic)),
        ],
    )
}

pub async fn plans(v: &Visit, location: LocationId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let sellable = panels::sellable_locations(&ctx.db).await?;
    let Some(loc) = sellable.into_iter().find(|l| l.location_id() == location) else {
        return v
            .show(tr(lang, "buy.location_gone"), keyboards::back_to_menu(lang))
            .await;
    };
    let offers = catalog::offers(&ctx.db, location, ctx.currency).await?;
    if offers.is_empty() {
        return v
            .show(tr(lang, "buy.no_plans"), keyboards::back_to_menu(lang))
            .await;
    }
    let items = offers
        .iter()
        .map(|o| {
            let label = format!(
                "{} · {} · {}",
                o.plan.name,
                plan_terms(lang, o.plan.duration_days, o.plan.traffic_bytes),
                text::money(lang, o.price)
            );
            (label, Action::BuyPlan(location, o.plan.plan_id()))
        })
        .collect();
    let body = tr_with(lang, "buy.pick_plan", &[("location", &escape(&loc.name))]);
    v.show(body, keyboards::list(lang, items)).await
}

/// Quotes the plan and places the pending order that the preview shows.
pub async fn choose(v: &Visit, location: LocationId, plan: PlanId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let sellable = panels::sellable_locations(&ctx.db).await?;
    if !sellable.iter().any(|l| l.location_id() == location) {
        return v
            .show(tr(lang, "buy.location_gone"), keyboards::back_to_menu(lang))
            .await;
    }
    let offered = catalog::offers(&ctx.db, location, ctx.currency)
        .await?
        .iter()
        .any(|o| o.plan.plan_id() == plan);
    if !offered {
        return v
            .show(tr(lang, "buy.plan_gone"), keyboards::back_to_menu(lang))
            .await;
    }
    let req = QuoteRequest {
        customer: customer.customer_id(),
        plan,
        currency: ctx.currency,
        promo_code: None,
        points: 0,
        location: Some(location),
    };
    place_and_preview(v, &req, location).await
}

async fn place_and_preview(v: &Visit, req: &QuoteRequest, location: LocationId) -> HandlerResult {
    let ctx = &v.ctx;

    let now = ctx.clock.now();
    let mut quote = match orders::quote(&ctx.db, req, &ctx.sales.points, now).await {
        Ok(q) => q,
        Err(e) => return Err(e.into()),
    };
    quote.location = Some(location);
    let order = orders::place(
        &ctx.db,
        req.customer,
        OrderKind::Purchase,
        &quote,
        None,
        ctx.sales.quote_ttl,
        now,
    )
    .await?;
    preview::show(v, &order, None).await
}

/// The presser's pending order, or `None` (after telling them) when the button is stale: not
/// theirs, not pending, or out of date.
async fn pending_order(v: &Visit, id: OrderId) -> Result<Option<Order>, crate::errors::BotError> {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let order = orders::get(&ctx.db, id)
        .await?
        .filter(|o| o.customer_id == customer.id);
    let key = match &order {
        None => "errors.stale_button",
        Some(o) => match o.state() {
            OrderStatus::PendingPayment if o.expires_at > ctx.clock.now() => {
                return Ok(order);
            }
            OrderStatus::PendingPayment | OrderStatus::Expired | OrderStatus::Cancelled => {
                "checkout.expired"
            }
            _ => "checkout.already_paid",
        },
    };
    v.say(tr(lang, key), keyboards::back_to_menu(lang)).await?;
    Ok(None)
}

pub async fn pay_wallet(v: &Visit, id: OrderId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let Some(_) = pending_order(v, id).await? else {
        return Ok(());
    };
    match orders::pay_with_wallet(&ctx.db, id, customer.customer_id(), ctx.clock.now()).await {
        Ok(_) => {
            v.show(tr(lang, "checkout.paid"), keyboards::back_to_menu(lang))
                .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Sends the Stars invoice for what the wallet does not cover.
pub async fn pay_stars(v: &Visit, id: OrderId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let Some(rate) = ctx.sales.stars else {
        return v.stale().await;
    };
    let Some(order) = pending_order(v, id).await? else {
        return Ok(());
    };
    let invoice = match stars::invoice_for_order(
        &ctx.db,
        order.order_id(),
        customer.customer_id(),
        rate,
        ctx.clock.now(),
    )
    .await
    {
        Ok(i) => i,
        Err(StarsError::WalletCovers) => {
            return preview::show(v, &order, None).await;
        }
        Err(StarsError::Ledger(LedgerError::Db(e)) | StarsError::Db(e)) => return Err(e.into()),
        Err(_) => {
            return v
                .say(tr(lang, "checkout.expired"), keyboards::back_to_menu(lang))
                .await;
        }
    };
    let title = tr_with(lang, "stars.order_title", &[("order", &id.to_string())]);
    let description = tr_with(
        lang,
        "stars.order_description",
        &[
            ("order", &id.to_string()),
            ("amount", &text::money(lang, invoice.credit)),
        ],
    );
    send_invoice(v, title, description, &invoice).await
}

pub async fn send_invoice(
    v: &Visit,
    title: String,
    description: String,
    invoice: &stars::Invoice,
) -> HandlerResult {
    let price = LabeledPrice::new(title.clone(), invoice.stars as u32);
    v.bot
        .send_invoice(
            v.chat,
            text::cut(&title, 32),
            text::cut(&description, 255),
            invoice.payload.clone(),
            "XTR",
            vec![price],
        )
        .await?;
    Ok(())
}

pub async fn ask_promo(v: &Visit, id: OrderId) -> HandlerResult {
    let lang = v.lang;
    let Some(_) = pending_order(v, id).await? else {
        return Ok(());
    };
    v.dialogue
        .update(State::EnteringPromo { order: id })
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(lang, "checkout.cancel"),
        Action::CancelOrder(id),
    )]]);
    v.show(tr(lang, "promo.ask"), keyboard).await
}

/// The customer typed a promo code for `order`: re-quote with it, or say why not and stay.
pub async fn promo_entered(v: &Visit, id: OrderId, code: Option<&str>) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let Some(code) = code
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.chars().count() <= 32 && !c.contains(char::is_whitespace))
    else {
        return v
            .say(tr(lang, "promo.hint"), keyboards::back_to_menu(lang))
            .await;
    };
    let Some(order) = pending_order(v, id).await? else {
        v.dialogue.update(State::Idle).await?;
        return Ok(());
    };
    // Codes cannot be found by trying many: a few wrong ones an hour, then a pause.
    let now = ctx.clock.now();
    let tries = promo::misses_since(
        &ctx.db,
        customer.telegram(),
        now - chrono::Duration::hours(1),
    )
    .await?;
    if tries >= ctx.limits.promo_tries_per_hour {
        return v
            .say(
                tr(lang, "promo.too_many_tries"),
                keyboards::back_to_menu(lang),
            )
            .await;
    }
    let asked = Asked {
        promo: Some(code.to_string()),
        points: order.points_used,
        in_promo_step: true,
    };
    requote(v, &order, asked).await
}

pub async fn use_points(v: &Visit, id: OrderId) -> HandlerResult {
    let (ctx, customer) = (&v.ctx, &v.customer);
    let Some(order) = pending_order(v, id).await? else {
        return Ok(());
    };
    let promo = match order.promo_code_id {
        Some(pid) => vpnshop_core::promo::by_id(&ctx.db, pid)
            .await?
            .map(|p| p.code),
        None => None,
    };
    let have = points::balance(&ctx.db, customer.customer_id(), ctx.clock.now()).await?;
    // The new preview comes as a new message, under the old one that is now out of date.
    let v = Visit {
        edit: None,
        ..v.clone()
    };
    let asked = Asked {
        promo,
        points: have,
        in_promo_step: false,
    };
    requote(&v, &order, asked).await
}

/// What the customer asked for on a pending order: a promo code and points to spend.
struct Asked {
    promo: Option<String>,
    points: i64,
    /// They typed a promo code, and a wrong one keeps them at that step.
    in_promo_step: bool,
}

/// Places a new order for the same plan and location with the new promo code or points, and
/// cancels the old one (whose buttons then answer "out of date").
async fn requote(v: &Visit, order: &Order, asked: Asked) -> HandlerResult {
    let Asked {
        promo,
        points,
        in_promo_step,
    } = asked;
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let (Some(plan), Some(location)) = (order.plan_id, order.location_id) else {
        return v.stale().await;
    };
    let req = QuoteRequest {
        customer: customer.customer_id(),
        plan,
        currency: ctx.currency,
        promo_code: promo,
        points,
        location: Some(location),
    };
    let now = ctx.clock.now();
    let mut quote = match orders::quote(&ctx.db, &req, &ctx.sales.points, now).await {
        Ok(q) => q,
        Err(OrderError::Promo(p)) if in_promo_step => {
            if p == PromoError::Unknown
                && let Some(code) = &req.promo_code
            {
                promo::record_miss(&ctx.db, customer.telegram(), code, now).await?;
            }
            // The step stays where it was: the customer can try another code.
            let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
                tr(lang, "checkout.cancel"),
                Action::CancelOrder(order.order_id()),
            )]]);
            let why = crate::refusals::of(p).map(|r| r.render(lang));
            return v.say(why.unwrap_or_default(), keyboard).await;
        }
        Err(e) => return Err(e.into()),
    };
    quote.location = Some(location);
    if !orders::cancel(&ctx.db, order.order_id(), customer.customer_id(), now)
        .await
        .unwrap_or(false)
    {
        return v
            .say(
                tr(lang, "checkout.already_paid"),
                keyboards::back_to_menu(lang),
            )
            .await;
    }
    if in_promo_step {
        v.dialogue.update(State::Idle).await?;
    }
    let new = orders::place(
        &ctx.db,
        customer.customer_id(),
        OrderKind::Purchase,
        &quote,
        None,
        ctx.sales.quote_ttl,
        now,
    )
    .await?;
    preview::show(v, &new, None).await
}

pub async fn cancel(v: &Visit, id: OrderId) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    v.set_state(State::Idle).await?;
    match orders::cancel(&ctx.db, id, customer.customer_id(), ctx.clock.now()).await {
        Ok(true) => {
            v.show(tr(lang, "checkout.cancelled"), keyboards::main_menu(lang))
                .await
        }
        Ok(false) => {
            v.say(tr(lang, "checkout.closed"), keyboards::back_to_menu(lang))
                .await
        }
        Err(OrderError::NotFound | OrderError::NotYours) => v.stale().await,
        Err(e) => Err(crate::errors::BotError::Service(e.to_string())),
    }
}

/// A notice: staff refunded a fulfilled order; the customer hears the money is in the wallet.
pub async fn notify_refunded_by_staff(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> HandlerResult {
    let Some(order) = orders::get(&ctx.db, order_id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, order.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    bot.send_message(
        readers::chat(&customer),
        tr_with(
            lang,
            "notice.refunded_by_staff",
            &[
                ("order", &order.id.to_string()),
                ("amount", &text::money(lang, order.total())),
            ],
        ),
    )
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    Ok(())
}

/// A notice: an order was fulfilled; staff see the sale (free trials are not sales).
pub async fn notify_sale(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> HandlerResult {
    let (Some(staff), Some(order)) = (ctx.staff_chat, orders::get(&ctx.db, order_id).await?) else {
        return Ok(());
    };
    if order.total_minor == 0 && order.wallet_paid_minor == 0 {
        return Ok(());
    }
    let customer = readers::customer(ctx, order.customer_id).await?;
    let l = ctx.default_language;
    let plan = match order.plan_id {
        Some(p) => vpnshop_core::catalog::plan(&ctx.db, p)
            .await?
            .map(|p| p.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let body = tr_with(
        l,
        "staff.sale",
        &[
            ("order", &order.id.to_string()),
            ("kind", order.kind.as_str()),
            ("plan", &escape(&plan)),
            ("customer", &escape(&customer.first_name)),
            ("telegram", &customer.telegram_id.to_string()),
            ("amount", &text::money(l, order.total())),
        ],
    );
    ctx.staff.pace().await;
    bot.send_message(ChatId(staff), body)
        .in_topic(ctx.staff.topic(Topic::Sales))
        .await?;
    Ok(())
}

/// A notice: provisioning gave up; the customer hears the money is back in the wallet, staff why.
pub async fn notify_refunded(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> HandlerResult {
    let Some(order) = orders::get(&ctx.db, order_id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, order.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let amount = order.total();
    let key = if order.kind == OrderKind::Move {
        "moves.failed"
    } else if order.total_minor > 0 {
        "notice.refunded"
    } else {
        "notice.failed_free"
    };
    bot.send_message(
        readers::chat(&customer),
        tr_with(lang, key, &[("amount", &text::money(lang, amount))]),
    )
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    if let Some(staff) = ctx.staff_chat {
        let l = ctx.default_language;
        let body = tr_with(
            l,
            "staff.provision_failed",
            &[
                ("order", &order.id.to_string()),
                ("customer", &escape(&customer.first_name)),
                ("telegram", &customer.telegram_id.to_string()),
                ("amount", &text::money(l, amount)),
                ("reason", &escape(order.failure.as_deref().unwrap_or("?"))),
            ],
        );
        ctx.staff.pace().await;
        bot.send_message(ChatId(staff), body)
            .in_topic(ctx.staff.topic(Topic::Alerts))
            .await?;
    }
    Ok(())
}
