//! "Adjust points" on a customer's card: the signed number and a reason, a preview that says
//! exactly what will happen, then Confirm — a ledger transaction on the points account (earned
//! points expire as bought ones do), once, audited. The count lives in the dialogue state on the
//! server, never in the button.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::adjustments::{self, AdjustError, Adjustment};
use vpnshop_core::ids::CustomerId;
use vpnshop_core::points;
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, button, customers};
use crate::callback::AdminAction;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{escape, tr, tr_with};

/// Asks for the signed number of points and the reason.
pub async fn ask(a: &Admin, customer: CustomerId) -> HandlerResult {
    a.require(Permission::Balances, "points.adjust").await?;
    a.v.set_state(State::Admin(AdminStep::PointsAmount { customer }))
        .await?;
    let keyboard = cancel(a, customer);
    a.v.say(tr(a.lang(), "admin.points.ask"), keyboard).await
}

fn cancel(a: &Admin, customer: CustomerId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.customers.cancel"),
        AdminAction::Customer(customer),
    )]])
}

/// `+500 birthday` or `-200 bought by mistake`: the preview; nothing moves yet.
pub async fn preview(a: &Admin, customer: CustomerId, typed: &str) -> HandlerResult {
    a.require(Permission::Balances, "points.adjust").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let typed = typed.trim();
    let (number, reason) = typed.split_once(char::is_whitespace).unwrap_or((typed, ""));
    let sign = match number.chars().next() {
        Some('+') => 1,
        Some('-') | Some('−') => -1,
        _ => 0,
    };
    let count = number
        .trim_start_matches(['+', '-', '−'])
        .replace([',', '٬'], "")
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=10_000_000).contains(n));
    let reason = reason.trim();
    let (Some(n), true, false) = (count, sign != 0, reason.is_empty()) else {
        return a
            .v
            .say(tr(lang, "admin.points.bad"), cancel(a, customer))
            .await;
    };
    let Some(c) = vpnshop_core::customers::by_id(&ctx.db, customer).await? else {
        return a.v.stale().await;
    };
    let before = points::balance(&ctx.db, customer, ctx.clock.now()).await?;
    let after = before + sign * n;
    if after < 0 {
        let text = tr_with(
            lang,
            "admin.points.not_enough",
            &[("points", &before.to_string())],
        );
        return a.v.say(text, cancel(a, customer)).await;
    }
    let adjustment = Adjustment::points(customer, ctx.currency, sign * n, reason);
    let key = if sign > 0 {
        "admin.points.preview_credit"
    } else {
        "admin.points.preview_debit"
    };
    let text = tr_with(
        lang,
        key,
        &[
            ("points", &n.to_string()),
            ("who", &customers::who(&c)),
            ("before", &before.to_string()),
            ("after", &after.to_string()),
            ("reason", &escape(&adjustment.reason)),
        ],
    );
    a.v.set_state(State::Admin(AdminStep::ConfirmAdjust(adjustment)))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(
            tr(lang, "admin.customers.confirm"),
            AdminAction::ConfirmAdjust(customer),
        )],
        vec![button(
            tr(lang, "admin.customers.cancel"),
            AdminAction::Customer(customer),
        )],
    ]);
    a.v.say(text, keyboard).await
}

/// Confirm on a points preview: applied once; the card again with what changed on top.
pub async fn confirm(a: &Admin, adjustment: &Adjustment) -> HandlerResult {
    a.require(Permission::Balances, "points.adjust").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let expire = ctx.sales.rewards.points_expire_after;
    let note =
        match adjustments::adjust_points(&ctx.db, &a.access, adjustment, expire, ctx.clock.now())
            .await
        {
            Ok((before, after)) => tr_with(
                lang,
                "admin.points.adjusted",
                &[
                    ("before", &before.to_string()),
                    ("after", &after.to_string()),
                ],
            ),
            Err(AdjustError::AlreadyMade) => tr(lang, "admin.customers.already_made"),
            Err(AdjustError::NotEnoughPoints(have)) => tr_with(
                lang,
                "admin.points.not_enough",
                &[("points", &have.to_string())],
            ),
            Err(e) => return Err(e.into()),
        };
    customers::show(a, adjustment.customer, Some(note)).await
}
