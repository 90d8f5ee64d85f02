//! "Extend" on a subscription of a customer's card: days and/or gigabytes and a reason
//! (`7d 10gb outage on the 3rd`), a preview of the new expiry and limit, then Confirm. Core turns
//! it into a zero-priced order the provisioning job applies to the panel (`gifts::give`); the
//! customer hears when it is done. The gift lives in the dialogue state, never in the button.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::gifts::{self, Gift, GiftError};
use vpnshop_core::ids::{CustomerId, SubscriptionId};
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, button, customers};
use crate::callback::AdminAction;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{date, escape, tr, tr_with, traffic};

const GB: i64 = 1 << 30;

/// Asks what to give.
pub async fn ask(a: &Admin, sub: SubscriptionId) -> HandlerResult {
    a.require(Permission::Subscriptions, "subscription.gift")
        .await?;
    let Some(customer) = owner_of(a, sub).await? else {
        return a.v.stale().await;
    };
    a.v.set_state(State::Admin(AdminStep::GiftAmount { subscription: sub }))
        .await?;
    a.v.say(tr(a.lang(), "admin.gifts.ask"), cancel(a, customer))
        .await
}

async fn owner_of(
    a: &Admin,
    sub: SubscriptionId,
) -> Result<Option<CustomerId>, crate::errors::BotError> {
    use vpnshop_core::sea_orm::EntityTrait;
    Ok(
        vpnshop_core::entities::subscriptions::Entity::find_by_id(sub)
            .one(&a.v.ctx.db)
            .await?
            .map(|s| s.customer_id),
    )
}

fn cancel(a: &Admin, customer: CustomerId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.customers.cancel"),
        AdminAction::Customer(customer),
    )]])
}

/// Reads `7d 10gb reason…` (either part may be left out, in any order before the reason).
fn parse(typed: &str) -> Option<(i32, i64, String)> {
    let mut days = 0i32;
    let mut gb = 0i64;
    let mut words = typed.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        let lower = w.to_lowercase();
        if let Some(n) = lower.strip_suffix('d').and_then(|n| n.parse::<i32>().ok()) {
            days = n;
        } else if let Some(n) = lower.strip_suffix("gb").and_then(|n| n.parse::<i64>().ok()) {
            gb = n;
        } else {
            break;
        }
        words.next();
    }
    let reason = words.collect::<Vec<_>>().join(" ");
    Some((days, gb, reason))
}

/// The preview: the new expiry and limit; nothing changes yet.
pub async fn preview(a: &Admin, sub: SubscriptionId, typed: &str) -> HandlerResult {
    a.require(Permission::Subscriptions, "subscription.gift")
        .await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let Some(customer) = owner_of(a, sub).await? else {
        return a.v.stale().await;
    };
    let Some((days, gb, reason)) = parse(typed) else {
        return a
            .v
            .say(tr(lang, "admin.gifts.bad"), cancel(a, customer))
            .await;
    };
    let gift = Gift::new(sub, days, gb, &reason);
    let s = match gifts::check(&ctx.db, &gift).await {
        Ok(s) => s,
        Err(
            e @ (GiftError::OutOfRange
            | GiftError::NoReason
            | GiftError::NotActive
            | GiftError::Unlimited),
        ) => {
            let key = match e {
                GiftError::NotActive => "admin.gifts.not_active",
                GiftError::Unlimited => "admin.gifts.unlimited",
                _ => "admin.gifts.bad",
            };
            return a.v.say(tr(lang, key), cancel(a, customer)).await;
        }
        Err(e) => return Err(e.into()),
    };
    let Some(c) = vpnshop_core::customers::by_id(&ctx.db, customer).await? else {
        return a.v.stale().await;
    };
    let now = ctx.clock.now();
    let from = s.expires_at.filter(|&at| at > now).unwrap_or(now);
    let new_expiry = from + chrono::Duration::days(i64::from(days));
    let new_limit = s.traffic_limit_bytes.map(|l| l + gb * GB);
    let text = tr_with(
        lang,
        "admin.gifts.preview",
        &[
            ("who", &customers::who(&c)),
            ("account", &escape(&s.panel_account)),
            ("days", &days.to_string()),
            ("gb", &gb.to_string()),
            ("expiry_before", &s.expires_at.map_or("—".to_string(), date)),
            ("expiry_after", &date(new_expiry)),
            ("limit_before", &traffic(lang, s.traffic_limit_bytes)),
            ("limit_after", &traffic(lang, new_limit)),
            ("reason", &escape(&gift.reason)),
        ],
    );
    a.v.set_state(State::Admin(AdminStep::ConfirmGift(gift)))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(
            tr(lang, "admin.customers.confirm"),
            AdminAction::ConfirmGift(sub),
        )],
        vec![button(
            tr(lang, "admin.customers.cancel"),
            AdminAction::Customer(customer),
        )],
    ]);
    a.v.say(text, keyboard).await
}

/// Confirm: the gift previewed in this chat for this subscription, given once (the state is
/// cleared first, and one chat's updates are handled one at a time).
pub async fn confirm(a: &Admin, sub: SubscriptionId) -> HandlerResult {
    a.require(Permission::Subscriptions, "subscription.gift")
        .await?;
    let state = a.v.dialogue.get().await?.unwrap_or_default();
    let State::Admin(AdminStep::ConfirmGift(gift)) = state else {
        return a.v.stale().await;
    };
    if gift.subscription != sub {
        return a.v.stale().await;
    }
    a.v.set_state(State::Idle).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let customer = owner_of(a, sub).await?;
    let note = match gifts::give(&ctx.db, &a.access, &gift, ctx.currency, ctx.clock.now()).await {
        Ok(order) => tr_with(lang, "admin.gifts.given", &[("order", &order.to_string())]),
        Err(GiftError::NotActive) => tr(lang, "admin.gifts.not_active"),
        Err(e) => return Err(e.into()),
    };
    match customer {
        Some(c) => customers::show(a, c, Some(note)).await,
        None => a.v.stale().await,
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn days_and_gigabytes_come_before_the_reason_in_any_order() {
        assert_eq!(parse("7d 10gb outage"), Some((7, 10, "outage".into())));
        assert_eq!(parse("10GB 3d sorry!"), Some((3, 10, "sorry!".into())));
        assert_eq!(parse("5gb"), Some((0, 5, String::new())));
        assert_eq!(parse("seven days"), Some((0, 0, "seven days".into())));
    }
}
