//! The payments screen: the cards customers transfer to — in the order they are offered (the
//! least shown first), how often each was shown and paid to, a button each to stop or restart
//! it — and the card-to-card receipts waiting for staff, oldest first, each a link to its post in
//! the staff chat, where its Approve and Reject buttons are.
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnshop_core::ids::CardId;
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::payments::{card, rates};
use vpnshop_core::staff::Permission;

use super::catalog::{Family, execute};
use super::{Admin, back, button};
use crate::callback::AdminAction;
use crate::errors::HandlerResult;
use crate::text::{self, escape, money, tr, tr_with};

/// Receipts listed on the screen; the rest are counted.
const SHOWN: u64 = 10;

pub async fn show(a: &Admin, note: Option<String>) -> HandlerResult {
    // Finance sees it for the receipts waiting; changing cards needs the cards permission.
    if !a.access.may(Permission::Receipts) {
        a.require(Permission::Cards, "payments.view").await?;
    }
    let may_change = a.access.may(Permission::Cards);
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let now = ctx.clock.now();
    let mut cards = card::cards(&ctx.db).await?;
    // The order they are offered in: the least shown first.
    cards.sort_by_key(|c| (!c.enabled, c.times_shown, c.id));
    let paid = card::paid_per_card(&ctx.db).await?;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr(lang, "admin.payments.title"));
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.payments.cards"));
    if cards.is_empty() {
        text.push_str(" —");
    }
    let mut rows = Vec::new();
    for c in &cards {
        let last4: String = c
            .number
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "admin.payments.card",
            &[
                ("mark", if c.enabled { "🟢" } else { "⏸" }),
                ("id", &c.id.to_string()),
                ("last4", &last4),
                ("holder", &escape(&c.holder)),
                ("bank", &escape(&c.bank)),
                ("shown", &c.times_shown.to_string()),
                ("paid", &paid.get(&c.id).copied().unwrap_or(0).to_string()),
            ],
        ));
        if !may_change {
            continue;
        }
        rows.push(vec![button(
            tr_with(
                lang,
                if c.enabled {
                    "admin.payments.stop_card"
                } else {
                    "admin.payments.restart_card"
                },
                &[("last4", &last4)],
            ),
            AdminAction::CardEnabled(c.id, !c.enabled),
        )]);
    }
    // Gateways priced in another currency: the rate the seller set, and how old it is.
    let foreign: Vec<_> = ctx
        .payments
        .all()
        .into_iter()
        .filter_map(|g| {
            let c = g.charge_currency().filter(|c| *c != ctx.currency)?;
            Some((g.provider(), c))
        })
        .collect();
    if !foreign.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "admin.rates.title"));
    }
    for (provider, c) in foreign {
        let method = tr(lang, &format!("pay.method.{provider}"));
        text.push('\n');
        match rates::get(&ctx.db, c, ctx.currency).await? {
            Some(rate) => {
                text.push_str(&tr_with(
                    lang,
                    "admin.rates.line",
                    &[
                        ("method", &method),
                        ("unit", c.code()),
                        ("rate", &money(lang, rate.per_unit)),
                        ("age", &text::elapsed(lang, now - rate.set_at)),
                    ],
                ));
                if now - rate.set_at > ctx.payments.rate_warn_after {
                    text.push(' ');
                    text.push_str(&tr_with(
                        lang,
                        "admin.rates.old",
                        &[(
                            "hours",
                            &ctx.payments.rate_warn_after.num_hours().to_string(),
                        )],
                    ));
                }
            }
            None => text.push_str(&tr_with(
                lang,
                "admin.rates.missing",
                &[("method", &method), ("unit", c.code())],
            )),
        }
    }
    let (waiting, total) = card::undecided(&ctx.db, SHOWN).await?;
    text.push_str("\n\n");
    text.push_str(&tr_with(
        lang,
        "admin.payments.receipts",
        &[("count", &total.to_string())],
    ));
    for (r, amount) in &waiting {
        let who = vpnshop_core::customers::by_id(&ctx.db, r.customer_id)
            .await?
            .map(|c| escape(&c.first_name).into_owned())
            .unwrap_or_default();
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "admin.payments.receipt",
            &[
                ("id", &r.id.to_string()),
                ("amount", &money(lang, *amount)),
                ("who", &who),
                ("waited", &text::elapsed(lang, now - r.created_at)),
                ("status", r.status.as_str()),
            ],
        ));
        if let Some(link) = post_link(r.staff_chat_id, r.staff_message_id) {
            rows.push(vec![InlineKeyboardButton::url(
                tr_with(lang, "admin.payments.open", &[("id", &r.id.to_string())]),
                link,
            )]);
        }
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.payments.how"));
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// `/rate USD 95,000`: what one unit of a currency a gateway charges in is worth in the
/// shop's; `/rate` alone shows the payments screen with the rates.
pub async fn set_rate(a: &Admin, rest: &str) -> HandlerResult {
    a.require(Permission::Cards, "payment.rate").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let mut words = rest.split_whitespace();
    let (Some(unit), Some(amount)) = (words.next(), words.next()) else {
        return show(a, Some(tr(lang, "admin.rates.usage"))).await;
    };
    let foreign = unit.to_ascii_uppercase().parse::<Currency>();
    let per_unit = Money::parse(amount, ctx.currency);
    let (Ok(foreign), Ok(per_unit)) = (foreign, per_unit) else {
        return show(a, Some(tr(lang, "admin.rates.usage"))).await;
    };
    rates::set(&ctx.db, &a.access, foreign, per_unit, ctx.clock.now()).await?;
    let note = tr_with(
        lang,
        "admin.rates.set",
        &[("unit", foreign.code()), ("rate", &money(lang, per_unit))],
    );
    show(a, Some(note)).await
}

/// The link to a post in a supergroup (`-100…` ids): where its buttons are.
fn post_link(chat: Option<i64>, message: Option<i64>) -> Option<url::Url> {
    let internal = chat?.to_string().strip_prefix("-100")?.to_string();
    url::Url::parse(&format!("https://t.me/c/{internal}/{}", message?)).ok()
}

/// A card's button: `card disable|enable <id>`, as typed (and audited the same).
pub async fn card_enabled(a: &Admin, id: CardId, on: bool) -> HandlerResult {
    a.require(Permission::Cards, "card.enable").await?;
    if card::card(&a.v.ctx.db, id).await?.is_none() {
        return a.v.stale().await;
    }
    let line = format!("{} {id}", if on { "enable" } else { "disable" });
    let note = match execute(a, Family::Card, &line).await? {
        Ok(out) | Err(out) => out,
    };
    show(a, Some(note)).await
}

#[cfg(test)]
mod tests {
    use super::post_link;

    #[test]
    fn a_post_in_a_supergroup_has_a_link_and_one_elsewhere_has_none() {
        assert_eq!(
            post_link(Some(-1_001_234_567_890), Some(42)).map(|u| u.to_string()),
            Some("https://t.me/c/1234567890/42".into())
        );
        assert_eq!(post_link(Some(-4_321), Some(42)), None);
        assert_eq!(post_link(None, Some(42)), None);
    }
}
