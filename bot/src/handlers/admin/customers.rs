//! Customers, as staff look them up (`/find …` or the menu): the card (wallet, points,
//! referrals, subscriptions with usage, last orders and payments, open tickets), and what the
//! presser's role allows on it — correcting the wallet (through a preview the admin confirms;
//! the amount lives in the dialogue state on the server, never in the button), banning.
use teloxide::prelude::*;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::adjustments::{self, Adjustment};
use vpnshop_core::audit::Entry;
use vpnshop_core::customers::Customer;
use vpnshop_core::ids::{CustomerId, OrderId, SubscriptionId};
use vpnshop_core::ledger;
use vpnshop_core::money::Money;
use vpnshop_core::profiles::{self, Profile};
use vpnshop_core::sea_orm::EntityTrait;
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, back, button};
use crate::callback::{AdminAction, AuditFilter};
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{date, escape, money, tr, tr_with, traffic};

/// "@ali (#12)" or "Ali (#12)".
pub(super) fn who(c: &Customer) -> String {
    let name = match &c.username {
        Some(u) => format!("@{}", escape(u)),
        None => escape(&c.first_name).into_owned(),
    };
    format!("{name} (#{})", c.id)
}

/// Asks who to find.
pub async fn ask(a: &Admin) -> HandlerResult {
    a.require(Permission::Customers, "customers.find").await?;
    a.v.set_state(State::Admin(AdminStep::FindCustomer)).await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]);
    a.v.say(tr(a.lang(), "admin.customers.ask"), keyboard).await
}

/// `/find <query>` or the answer to "who?".
pub async fn find(a: &Admin, query: &str) -> HandlerResult {
    a.require(Permission::Customers, "customers.find").await?;
    let query = query.trim();
    if query.is_empty() {
        return ask(a).await;
    }
    match profiles::find(&a.v.ctx.db, query).await? {
        Some(c) => {
            a.v.set_state(State::Idle).await?;
            card(a, c, None).await
        }
        None => {
            let keyboard = InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]);
            let text = tr_with(
                a.lang(),
                "admin.customers.not_found",
                &[("query", &escape(query))],
            );
            a.v.say(text, keyboard).await
        }
    }
}

/// The card of customer `id` (a button), with `note` on top.
pub async fn show(a: &Admin, id: CustomerId, note: Option<String>) -> HandlerResult {
    a.require(Permission::Customers, "customers.view").await?;
    a.v.set_state(State::Idle).await?;
    match vpnshop_core::customers::by_id(&a.v.ctx.db, id).await? {
        Some(c) => card(a, c, note).await,
        None => a.v.stale().await,
    }
}

async fn card(a: &Admin, c: Customer, note: Option<String>) -> HandlerResult {
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let id = c.id;
    let banned = c.banned;
    let p = profiles::profile(&ctx.db, c, ctx.currency, ctx.clock.now()).await?;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&body(a, &p));
    let mut rows = Vec::new();
    if a.access.may(Permission::Balances) {
        rows.push(vec![
            button(
                tr(lang, "admin.customers.adjust"),
                AdminAction::AdjustWallet(id),
            ),
            button(
                tr(lang, "admin.points.adjust"),
                AdminAction::AdjustPoints(id),
            ),
        ]);
    }
    if a.access.may(Permission::Messages) {
        rows.push(vec![button(
            tr(lang, "admin.messages.button"),
            AdminAction::Message(id),
        )]);
    }
    if a.access.may(Permission::Subscriptions) {
        for s in p
            .subscriptions
            .iter()
            .filter(|s| s.status == vpnshop_core::subscriptions::SubscriptionStatus::Active)
            .take(5)
        {
            rows.push(vec![button(
                tr_with(lang, "admin.gifts.button", &[("account", &s.panel_account)]),
                AdminAction::Gift(s.id),
            )]);
        }
    }
    if a.access.may(Permission::Links) {
        for s in p
            .subscriptions
            .iter()
            .filter(|s| s.subscription_url.is_some())
            .take(5)
        {
            rows.push(vec![button(
                tr_with(
                    lang,
                    "admin.customers.resend",
                    &[("account", &s.panel_account)],
                ),
                AdminAction::ResendLink(s.id),
            )]);
        }
    }
    if a.access.may(Permission::Refunds) {
        for o in p.orders.iter().filter(|o| {
            o.status == vpnshop_core::orders::OrderStatus::Fulfilled
                && o.kind == vpnshop_core::orders::OrderKind::Purchase
        }) {
            rows.push(vec![button(
                tr_with(
                    lang,
                    "admin.customers.refund",
                    &[("order", &o.id.to_string())],
                ),
                AdminAction::Refund(o.id),
            )]);
        }
    }
    if a.access.may(Permission::Bans) {
        let key = if banned {
            "admin.customers.unban"
        } else {
            "admin.customers.ban"
        };
        rows.push(vec![button(tr(lang, key), AdminAction::Ban(id, !banned))]);
    }
    if a.access.may(Permission::Audit) {
        rows.push(vec![button(
            tr(lang, "admin.customers.history"),
            AdminAction::Audit(0, AuditFilter::Customer(id)),
        )]);
    }
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

fn body(a: &Admin, p: &Profile) -> String {
    let lang = a.lang();
    let c = &p.customer;
    let mut text = tr_with(
        lang,
        "admin.customers.card",
        &[
            ("who", &who(c)),
            ("telegram", &c.telegram_id.to_string()),
            ("language", c.language.as_deref().unwrap_or("—")),
            ("joined", &date(c.created_at)),
            ("wallet", &money(lang, p.wallet)),
            ("points", &p.points.to_string()),
            (
                "referrer",
                &p.referrer.as_ref().map_or("—".to_string(), who),
            ),
            ("referrals", &p.referrals.to_string()),
            ("tickets", &p.open_tickets.to_string()),
        ],
    );
    if c.banned {
        text.push('\n');
        text.push_str(&tr(lang, "admin.customers.banned"));
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.customers.subscriptions"));
    if p.subscriptions.is_empty() {
        text.push_str(" —");
    }
    for s in &p.subscriptions {
        text.push_str(&format!(
            "\n• <code>{}</code> {} · {} / {} · {}",
            escape(&s.panel_account),
            s.status.as_str(),
            traffic(lang, Some(s.used_bytes)),
            traffic(lang, s.traffic_limit_bytes),
            s.expires_at.map_or("—".to_string(), date),
        ));
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.customers.orders"));
    if p.orders.is_empty() {
        text.push_str(" —");
    }
    for o in &p.orders {
        text.push_str(&format!(
            "\n• o{} {} · {} · {} · {}",
            o.id,
            o.kind.as_str(),
            o.status,
            money(lang, o.total()),
            date(o.created_at),
        ));
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.customers.payments"));
    if p.payments.is_empty() {
        text.push_str(" —");
    }
    for pay in &p.payments {
        text.push_str(&format!(
            "\n• p{} {} · {} · {} · {}",
            pay.id,
            pay.provider,
            pay.status,
            money(lang, pay.amount()),
            date(pay.created_at),
        ));
    }
    text
}

/// "Adjust wallet": asks the amount, signed, and the reason.
pub async fn ask_adjustment(a: &Admin, customer: CustomerId) -> HandlerResult {
    a.require(Permission::Balances, "wallet.adjust").await?;
    a.v.set_state(State::Admin(AdminStep::WalletAmount { customer }))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.customers.cancel"),
        AdminAction::Customer(customer),
    )]]);
    let text = tr_with(
        a.lang(),
        "admin.customers.ask_amount",
        &[(
            "currency",
            &tr(a.lang(), &format!("currency.{}", a.v.ctx.currency.code())),
        )],
    );
    a.v.say(text, keyboard).await
}

/// The answer: `+50,000 reason` or `-20000 reason`. Shows exactly what will happen and waits for
/// Confirm; nothing moves yet.
pub async fn preview(a: &Admin, customer: CustomerId, typed: &str) -> HandlerResult {
    a.require(Permission::Balances, "wallet.adjust").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let typed = typed.trim();
    let (amount, reason) = typed.split_once(char::is_whitespace).unwrap_or((typed, ""));
    let sign = match amount.chars().next() {
        Some('+') => 1,
        Some('-') | Some('−') => -1,
        _ => 0,
    };
    let parsed = Money::parse(amount.trim_start_matches(['+', '-', '−']), ctx.currency)
        .ok()
        .filter(|m| m.minor() > 0);
    let reason = reason.trim();
    let cancel = InlineKeyboardMarkup::new(vec![vec![button(
        tr(lang, "admin.customers.cancel"),
        AdminAction::Customer(customer),
    )]]);
    let (Some(m), true, false) = (parsed, sign != 0, reason.is_empty()) else {
        // The step stays: they type it again.
        return a
            .v
            .say(tr(lang, "admin.customers.bad_amount"), cancel)
            .await;
    };
    let Some(c) = vpnshop_core::customers::by_id(&ctx.db, customer).await? else {
        return a.v.stale().await;
    };
    let before = ledger::wallet_balance(&ctx.db, customer, ctx.currency).await?;
    let after_minor = before.minor() + sign * m.minor();
    if after_minor < 0 {
        let text = tr_with(
            lang,
            "admin.customers.would_go_negative",
            &[("balance", &money(lang, before))],
        );
        return a.v.say(text, cancel).await;
    }
    let after = Money::new(after_minor, ctx.currency).unwrap_or(before);
    let adjustment = Adjustment::new(customer, ctx.currency, sign * m.minor(), reason);
    let key = if sign > 0 {
        "admin.customers.preview_credit"
    } else {
        "admin.customers.preview_debit"
    };
    let text = tr_with(
        lang,
        key,
        &[
            ("amount", &money(lang, m)),
            ("who", &who(&c)),
            ("before", &money(lang, before)),
            ("after", &money(lang, after)),
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

/// Confirm: applies the correction previewed in this chat for this customer, once.
pub async fn confirm(a: &Admin, customer: CustomerId) -> HandlerResult {
    a.require(Permission::Balances, "wallet.adjust").await?;
    let state = a.v.dialogue.get().await?.unwrap_or_default();
    let State::Admin(AdminStep::ConfirmAdjust(adjustment)) = state else {
        return a.v.stale().await;
    };
    if adjustment.customer != customer {
        return a.v.stale().await;
    }
    if adjustment.balance == adjustments::Balance::Points {
        return super::points::confirm(a, &adjustment).await;
    }
    let ctx = &a.v.ctx;
    let note = match adjustments::adjust_wallet(&ctx.db, &a.access, &adjustment, ctx.clock.now())
        .await
    {
        Ok(done) => tr_with(
            a.lang(),
            "admin.customers.adjusted",
            &[
                ("before", &money(a.lang(), done.before)),
                ("after", &money(a.lang(), done.after)),
            ],
        ),
        Err(adjustments::AdjustError::AlreadyMade) => tr(a.lang(), "admin.customers.already_made"),
        Err(e) => return Err(e.into()),
    };
    show(a, customer, Some(note)).await
}

/// Sends the customer their subscription's link and QR code again (lost phone, new app).
pub async fn resend_link(a: &Admin, id: SubscriptionId) -> HandlerResult {
    a.require(Permission::Links, "subscription.resend").await?;
    let ctx = &a.v.ctx;
    let Some(sub) = vpnshop_core::entities::subscriptions::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
    else {
        return a.v.stale().await;
    };
    let (Some(link), Some(c)) = (
        sub.subscription_url.clone(),
        vpnshop_core::customers::by_id(&ctx.db, sub.customer_id).await?,
    ) else {
        return a.v.stale().await;
    };
    let lang = c.lang().unwrap_or(ctx.default_language);
    crate::handlers::send_qr(&a.v.bot, ChatId(c.telegram_id.get()), lang, &link).await?;
    Entry::new(Some(a.access.who), "subscription.resend")
        .target(format!("subscription:{id}"))
        .customer(c.id)
        .record(&ctx.db, ctx.clock.now())
        .await?;
    let note = tr_with(
        a.lang(),
        "admin.customers.resent",
        &[("account", &escape(&sub.panel_account))],
    );
    show(a, c.id, Some(note)).await
}

/// What refunding `order` will do, and Confirm. The amount is the order's own, read here.
pub async fn refund_preview(a: &Admin, order: OrderId) -> HandlerResult {
    a.require(Permission::Refunds, "order.refund").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let Some(o) = vpnshop_core::orders::get(&ctx.db, order).await? else {
        return a.v.stale().await;
    };
    let Some(c) = vpnshop_core::customers::by_id(&ctx.db, o.customer_id).await? else {
        return a.v.stale().await;
    };
    let before = ledger::wallet_balance(&ctx.db, c.id, o.currency).await?;
    let after = before.checked_add(o.total()).unwrap_or(before);
    let text = tr_with(
        lang,
        "admin.customers.refund_preview",
        &[
            ("amount", &money(lang, o.total())),
            ("order", &o.id.to_string()),
            ("who", &who(&c)),
            ("before", &money(lang, before)),
            ("after", &money(lang, after)),
        ],
    );
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(
            tr(lang, "admin.customers.confirm"),
            AdminAction::ConfirmRefund(order),
        )],
        vec![button(
            tr(lang, "admin.customers.cancel"),
            AdminAction::Customer(c.id),
        )],
    ]);
    a.v.show(text, keyboard).await
}

pub async fn refund(a: &Admin, order: OrderId) -> HandlerResult {
    a.require(Permission::Refunds, "order.refund").await?;
    let ctx = &a.v.ctx;
    let Some(o) = vpnshop_core::orders::get(&ctx.db, order).await? else {
        return a.v.stale().await;
    };
    let done = adjustments::refund_order(&ctx.db, &a.access, order, ctx.clock.now()).await?;
    let note = tr_with(
        a.lang(),
        "admin.customers.refunded",
        &[
            ("order", &order.to_string()),
            ("before", &money(a.lang(), done.before)),
            ("after", &money(a.lang(), done.after)),
        ],
    );
    show(a, o.customer_id, Some(note)).await
}

pub async fn ban(a: &Admin, customer: CustomerId, banned: bool) -> HandlerResult {
    a.require(Permission::Bans, "customer.ban").await?;
    let ctx = &a.v.ctx;
    profiles::set_banned(&ctx.db, &a.access, customer, banned, ctx.clock.now()).await?;
    let key = if banned {
        "admin.customers.banned_now"
    } else {
        "admin.customers.unbanned_now"
    };
    show(a, customer, Some(tr(a.lang(), key))).await
}
