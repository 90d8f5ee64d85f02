//! Moving a subscription to another location: the locations on sale, what the move keeps (the
//! same end date, the traffic left) and what it changes (a new link; the old one stops once the
//! new one is ready), then Confirm. Core checks everything again when it runs.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::ids::{LocationId, SubscriptionId};
use vpnshop_core::subscriptions::switch;

use super::Visit;
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::text::{self, escape, tr, tr_with};

pub async fn destinations(v: &Visit, id: SubscriptionId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);
    let now = ctx.clock.now();
    let sub = switch::movable(&ctx.db, id, v.customer.customer_id(), &ctx.life, now).await?;
    let places = switch::destinations(&ctx.db, &sub).await?;
    if places.is_empty() {
        return v
            .show(
                tr(lang, "moves.nowhere"),
                InlineKeyboardMarkup::new(vec![vec![
                    button(
                        tr_with(lang, "remind.open", &[("id", &id.to_string())]),
                        Action::Subscription(id),
                    ),
                    keyboards::back(lang),
                ]]),
            )
            .await;
    }
    let items = places
        .into_iter()
        .map(|l| {
            (
                format!("{} {}", l.flag, l.name),
                Action::MoveTo(id, l.location_id()),
            )
        })
        .collect();
    v.show(
        tr_with(lang, "moves.pick", &[("id", &id.to_string())]),
        keyboards::list(lang, items),
    )
    .await
}

pub async fn confirm(v: &Visit, id: SubscriptionId, to: LocationId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);
    let now = ctx.clock.now();
    let sub = switch::movable(&ctx.db, id, v.customer.customer_id(), &ctx.life, now).await?;
    let Some(place) = switch::location_of(&ctx.db, to).await? else {
        return v.stale().await;
    };
    let left = sub
        .traffic_limit_bytes
        .map(|limit| (limit - sub.used_bytes).max(0));
    let until = sub
        .expires_at
        .map(text::date)
        .unwrap_or_else(|| tr(lang, "units.forever"));
    let again = ctx
        .life
        .switch_every
        .map(|every| text::count(lang, every.num_days(), "days"))
        .unwrap_or_default();
    let body = tr_with(
        lang,
        "moves.confirm",
        &[
            ("id", &id.to_string()),
            ("place", &escape(&format!("{} {}", place.flag, place.name))),
            ("date", &until),
            ("traffic", &text::traffic(lang, left)),
            ("again", &again),
        ],
    );
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(tr(lang, "moves.go"), Action::MoveConfirm(id, to))],
        vec![button(
            tr_with(lang, "remind.open", &[("id", &id.to_string())]),
            Action::Subscription(id),
        )],
    ]);
    v.show(body, keyboard).await
}

pub async fn request(v: &Visit, id: SubscriptionId, to: LocationId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);
    let now = ctx.clock.now();
    switch::request(
        &ctx.db,
        id,
        v.customer.customer_id(),
        to,
        &ctx.life,
        ctx.currency,
        now,
    )
    .await?;
    v.show(tr(lang, "moves.started"), keyboards::back_to_menu(lang))
        .await
}
