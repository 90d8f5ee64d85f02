//! The preview of a pending order, shared by buying, renewing and adding traffic: what is
//! bought, every discount, the total, what the subscription will be after it, and the ways to
//! pay. Every button names the order and is checked again when pressed.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::catalog;
use vpnshop_core::customers::Language;
use vpnshop_core::ledger;
use vpnshop_core::money::Money;
use vpnshop_core::orders::{Order, OrderKind};
use vpnshop_core::points;
use vpnshop_core::subscriptions::Preview;

use super::Visit;
use super::buy::plan_terms;
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards::button;
use crate::text::{self, escape, tr, tr_with};

/// The preview of a pending order: what is bought, every discount, the total, what the
/// subscription will be after it (renewals, traffic), and the ways to pay.
pub async fn show(v: &Visit, order: &Order, after: Option<&Preview>) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let currency = order.currency;
    let m = |minor: i64| {
        text::money(
            lang,
            Money::new(minor, currency).unwrap_or(Money::zero(currency)),
        )
    };
    let plan = match order.plan_id {
        Some(id) => catalog::plan(&ctx.db, id).await?,
        None => None,
    };
    let plan_name = plan.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let location = match order.location_id {
        Some(id) => catalog::location(&ctx.db, id).await?,
        None => None,
    };
    let what = match order.kind {
        OrderKind::AddTraffic => tr_with(
            lang,
            "checkout.what_traffic",
            &[("traffic", &text::traffic(lang, order.traffic_bytes))],
        ),
        kind => tr_with(
            lang,
            if kind == OrderKind::Renewal {
                "checkout.what_renewal"
            } else {
                "checkout.what_plan"
            },
            &[
                ("plan", &escape(&plan_name)),
                (
                    "terms",
                    &plan_terms(lang, order.duration_days, order.traffic_bytes),
                ),
            ],
        ),
    };
    let mut body = tr(lang, "checkout.title");
    body.push_str("\n\n");
    body.push_str(&what);
    if let Some(l) = &location {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "checkout.location",
            &[("location", &escape(&l.name))],
        ));
    }
    body.push('\n');
    body.push_str(&tr_with(
        lang,
        "checkout.price",
        &[("amount", &text::money(lang, order.list_price()))],
    ));
    if order.discount_minor > 0 {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "checkout.promo",
            &[("amount", &text::money(lang, order.discount()))],
        ));
    }
    // A bonus code: what it added is in the terms above; say it was the code.
    if let Some(promo) = match order.promo_code_id {
        Some(id) => vpnshop_core::promo::by_id(&v.ctx.db, id).await?,
        None => None,
    } {
        let bonus = match (promo.extra_days, promo.extra_bytes) {
            (Some(d), _) => Some(tr_with(
                lang,
                "promo.bonus_days",
                &[("days", &d.to_string())],
            )),
            (None, Some(b)) if order.traffic_bytes.is_some() => Some(tr_with(
                lang,
                "promo.bonus_gb",
                &[("gb", &(b >> 30).to_string())],
            )),
            _ => None,
        };
        if let Some(bonus) = bonus {
            body.push('\n');
            body.push_str(&bonus);
        }
    }
    if order.points_used > 0 {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "checkout.points",
            &[
                ("amount", &text::money(lang, order.points_value())),
                ("points", &order.points_used.to_string()),
            ],
        ));
    }
    body.push('\n');
    body.push_str(&tr_with(
        lang,
        "checkout.total",
        &[("amount", &text::money(lang, order.total()))],
    ));
    if let Some(after) = after {
        body.push_str("\n\n");
        body.push_str(&after_text(lang, after));
    }
    let balance = ledger::wallet_balance(&ctx.db, order.customer_id, currency).await?;
    body.push_str("\n\n");
    body.push_str(&tr_with(
        lang,
        "checkout.balance",
        &[("amount", &text::money(lang, balance))],
    ));
    body.push('\n');
    body.push_str(&tr_with(
        lang,
        "checkout.valid_until",
        &[("time", &order.expires_at.format("%H:%M UTC").to_string())],
    ));

    let id = order.order_id();
    let mut rows = Vec::new();
    if balance.minor() >= order.total_minor {
        rows.push(vec![button(
            tr_with(
                lang,
                "checkout.pay_wallet",
                &[("amount", &text::money(lang, order.total()))],
            ),
            Action::PayWallet(id),
        )]);
    } else {
        if let Some(rate) = ctx.sales.stars {
            let rest = order.total_minor - balance.minor();
            let stars = rate.stars_for(rest).to_string();
            let label = if balance.minor() > 0 {
                tr_with(
                    lang,
                    "checkout.pay_mixed",
                    &[("wallet", &text::money(lang, balance)), ("stars", &stars)],
                )
            } else {
                tr_with(lang, "checkout.pay_stars", &[("stars", &stars)])
            };
            rows.push(vec![button(label, Action::PayStars(id))]);
        }
        // Card-to-card and gateways charge what the wallet does not cover.
        rows.extend(super::checkout::order_buttons(ctx, lang, id).await?);
        if rows.is_empty() {
            body.push('\n');
            body.push_str(&tr(lang, "checkout.top_up_first"));
        } else if balance.minor() > 0 {
            body.push('\n');
            body.push_str(&tr_with(
                lang,
                "checkout.rest_due",
                &[("amount", &m(order.total_minor - balance.minor()))],
            ));
        }
    }
    if order.kind == OrderKind::Purchase {
        let mut extras = Vec::new();
        if order.promo_code_id.is_none() {
            extras.push(button(tr(lang, "checkout.add_promo"), Action::Promo(id)));
        }
        let customer = order.customer_id;
        if order.points_used == 0
            && ctx.sales.points.value_of_point(currency).is_some()
            && points::balance(&ctx.db, customer, ctx.clock.now()).await? > 0
        {
            extras.push(button(
                tr(lang, "checkout.use_points"),
                Action::UsePoints(id),
            ));
        }
        if !extras.is_empty() {
            rows.push(extras);
        }
    }
    rows.push(vec![button(
        tr(lang, "checkout.cancel"),
        Action::CancelOrder(id),
    )]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

/// "You will have 73 GB until 2026-12-01".
fn after_text(lang: Language, p: &Preview) -> String {
    let until = p
        .expires_at
        .map(text::date)
        .unwrap_or_else(|| tr(lang, "units.forever"));
    tr_with(
        lang,
        "checkout.after",
        &[
            ("traffic", &text::traffic(lang, p.traffic_left_bytes)),
            ("date", &until),
        ],
    )
}
