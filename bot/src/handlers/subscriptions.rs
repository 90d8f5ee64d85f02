//! "My subscriptions": the list, one subscription's usage, link, QR code and guides, and
//! renewing or adding traffic with a preview of the result before paying.
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, InputFile};
use vpnshop_core::customers::Language;
use vpnshop_core::ids::SubscriptionId;
use vpnshop_core::orders::OrderKind;
use vpnshop_core::orders::Quote;
use vpnshop_core::provisioning;
use vpnshop_core::subscriptions::reminders::{self, Reminder};
use vpnshop_core::subscriptions::{self, Preview, SubscriptionError, auto_renew, switch};
use vpnshop_core::subscriptions::{Subscription, SubscriptionStatus};

use super::readers;
use super::{TgBot, Visit, guide_keyboard};
use crate::callback::Action;
use crate::ctx::Ctx;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards::{self, button};
use crate::text::{self, escape, tr, tr_with};
use vpnshop_core::ids::OrderId;
use vpnshop_core::orders;

fn status_key(sub: &Subscription, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    match sub.state() {
        SubscriptionStatus::Active => {}
        SubscriptionStatus::Provisioning => return "subs.status.provisioning",
        SubscriptionStatus::Disabled => return "subs.status.disabled",
        SubscriptionStatus::Failed | SubscriptionStatus::Deleted | SubscriptionStatus::Moved => {
            return "subs.status.ended";
        }
    }
    if sub.expires_at.is_some_and(|at| at <= now) {
        return "subs.status.expired";
    }
    if sub.traffic_limit_bytes.is_some_and(|l| sub.used_bytes >= l) {
        return "subs.status.used_up";
    }
    "subs.status.active"
}

/// How many subscriptions one page of the list shows: a message stays far under Telegram's
/// 4,096 characters however many a customer has.
const PER_PAGE: usize = 5;

pub async fn list(v: &Visit, page: u32) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);
    let all = provisioning::of_customer(&ctx.db, customer.customer_id()).await?;
    let pages = all.len().div_ceil(PER_PAGE).max(1);
    let page = (page as usize).min(pages - 1);
    let subs: Vec<_> = all
        .iter()
        .skip(page * PER_PAGE)
        .take(PER_PAGE)
        .cloned()
        .collect();
    if subs.is_empty() {
        let keyboard = InlineKeyboardMarkup::new(vec![
            vec![button(tr(lang, "menu.buy"), Action::Buy)],
            vec![keyboards::back(lang)],
        ]);
        return v.show(tr(lang, "subs.none"), keyboard).await;
    }
    let now = ctx.clock.now();
    let mut body = tr(lang, "subs.title");
    if pages > 1 {
        body.push_str(&tr_with(
            lang,
            "subs.page",
            &[
                ("page", &(page + 1).to_string()),
                ("pages", &pages.to_string()),
            ],
        ));
    }
    let mut items = Vec::new();
    for sub in subs {
        // Stale figures are read again by a job, never here: the list shows their age.
        subscriptions::request_refresh(&ctx.db, &sub, ctx.sales.usage_max_age, now).await?;
        let location = subscriptions::location_of(&ctx.db, &sub)
            .await?
            .map(|l| l.name)
            .unwrap_or_default();
        body.push_str("\n\n");
        body.push_str(&summary(lang, &sub, &location, now));
        items.push((
            tr_with(
                lang,
                "subs.open",
                &[("id", &sub.id.to_string()), ("location", &location)],
            ),
            Action::Subscription(sub.subscription_id()),
        ));
    }
    let mut rows: Vec<Vec<teloxide::types::InlineKeyboardButton>> = items
        .into_iter()
        .map(|(label, action)| vec![button(label, action)])
        .collect();
    let mut paging = Vec::new();
    if page > 0 {
        paging.push(button(
            tr(lang, "wallet.newer"),
            Action::SubscriptionsPage(page as u32 - 1),
        ));
    }
    if page + 1 < pages {
        paging.push(button(
            tr(lang, "wallet.older"),
            Action::SubscriptionsPage(page as u32 + 1),
        ));
    }
    if !paging.is_empty() {
        rows.push(paging);
    }
    rows.push(vec![keyboards::back(lang)]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

/// `#12 · Germany · active` / usage bar / days left: also used in the staff chat's ticket header.
pub fn summary(
    lang: Language,
    sub: &Subscription,
    location: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let until = match sub.expires_at {
        Some(at) => tr_with(
            lang,
            "subs.days_left",
            &[
                ("days", &text::count(lang, text::days_left(at, now), "days")),
                ("date", &text::date(at)),
            ],
        ),
        None => tr(lang, "units.forever"),
    };
    let mut text = tr_with(
        lang,
        "subs.summary",
        &[
            ("id", &sub.id.to_string()),
            ("location", &escape(location)),
            ("status", &tr(lang, status_key(sub, now))),
            (
                "bar",
                &text::usage_bar(sub.used_bytes, sub.traffic_limit_bytes),
            ),
            ("used", &text::traffic(lang, Some(sub.used_bytes))),
            ("total", &text::traffic(lang, sub.traffic_limit_bytes)),
            ("until", &until),
        ],
    );
    // Figures are only as fresh as the last read from the panel: say when that was.
    if let Some(at) = sub.usage_synced_at {
        text.push('\n');
        text.push_str(&as_of(lang, at, now));
    }
    text
}

/// How old the figures are: "as of 12 minutes ago".
pub fn as_of(
    lang: Language,
    at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let minutes = (now - at).num_minutes();
    if minutes < 1 {
        tr(lang, "subs.as_of_now")
    } else {
        tr_with(
            lang,
            "subs.as_of",
            &[("ago", &text::count(lang, minutes, "minutes"))],
        )
    }
}

/// The subscription if the presser owns it; otherwise they are told the button is stale.
async fn owned(v: &Visit, id: SubscriptionId) -> Result<Option<Subscription>, BotError> {
    let (ctx, customer) = (&v.ctx, &v.customer);

    match subscriptions::owned(&ctx.db, id, customer.customer_id()).await {
        Ok(s) => Ok(Some(s)),
        Err(SubscriptionError::NotFound) => {
            v.stale().await?;
            Ok(None)
        }
        Err(e) => Err(BotError::Service(e.to_string())),
    }
}

pub async fn detail(v: &Visit, id: SubscriptionId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let Some(sub) = owned(v, id).await? else {
        return Ok(());
    };
    let now = ctx.clock.now();
    // The figures the database has, said with their age; fresher ones are read by a job, so
    // a slow or dead panel never holds up this chat (or, through teloxide's queues, others).
    let refreshing =
        subscriptions::request_refresh(&ctx.db, &sub, ctx.sales.usage_max_age, now).await?;
    let location = subscriptions::location_of(&ctx.db, &sub)
        .await?
        .map(|l| l.name)
        .unwrap_or_default();
    let mut body = summary(lang, &sub, &location, now);
    if refreshing {
        body.push('\n');
        body.push_str(&tr(lang, "subs.refreshing"));
    }
    if let Some(link) = &sub.subscription_url {
        body.push_str("\n\n");
        body.push_str(&tr_with(lang, "subs.link", &[("link", &escape(link))]));
    }
    if let Some(line) = auto_renew_line(ctx, lang, &sub).await? {
        body.push_str("\n\n");
        body.push_str(&line);
    }
    let mut rows = Vec::new();
    if sub.state() == SubscriptionStatus::Active {
        rows.push(vec![
            button(
                tr(lang, "subs.qr"),
                Action::SubscriptionQr(sub.subscription_id()),
            ),
            button(tr(lang, "subs.guides"), Action::Guides),
        ]);
    }
    if sub.state().renewable() {
        let mut change = vec![button(
            tr(lang, "subs.renew"),
            Action::Renew(sub.subscription_id()),
        )];
        if sub.state() == SubscriptionStatus::Active
            && sub.traffic_limit_bytes.is_some()
            && !ctx.sales.traffic_packs_gb.is_empty()
            && ctx.sales.traffic_price_per_gb.is_some()
        {
            change.push(button(
                tr(lang, "subs.add_traffic"),
                Action::Traffic(sub.subscription_id()),
            ));
        }
        rows.push(change);
        let now = ctx.clock.now();
        let customer = v.customer.customer_id();
        if switch::movable(&ctx.db, sub.id, customer, &ctx.life, now)
            .await
            .is_ok()
        {
            rows.push(vec![button(
                tr(lang, "moves.button"),
                Action::Move(sub.subscription_id()),
            )]);
        }
        let (label, on) = if sub.auto_renew {
            ("subs.auto_renew_disable", false)
        } else {
            ("subs.auto_renew_enable", true)
        };
        rows.push(vec![button(
            tr(lang, label),
            Action::AutoRenew(sub.subscription_id(), on),
        )]);
    }
    rows.push(vec![
        button(tr(lang, "menu.subscriptions"), Action::Subscriptions),
        keyboards::back(lang),
    ]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

/// "Auto-renew is on: 150,000 toman from your wallet on 12 Mar" — what the next automatic
/// charge is and when, or nothing when it is off.
async fn auto_renew_line(
    ctx: &Ctx,
    lang: Language,
    sub: &Subscription,
) -> Result<Option<String>, BotError> {
    let Some(at) = auto_renew::next_charge(sub, &ctx.life) else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    let line = match subscriptions::quote_renewal(&ctx.db, sub, ctx.currency, now).await {
        Ok((quote, _)) => tr_with(
            lang,
            "subs.auto_renew_on",
            &[
                ("amount", &text::money(lang, quote.total)),
                ("date", &text::date(at.max(now))),
            ],
        ),
        Err(SubscriptionError::Db(e)) => return Err(e.into()),
        Err(_) => tr(lang, "subs.auto_renew_impossible"),
    };
    Ok(Some(line))
}

/// The customer turns automatic renewal on or off, then sees the subscription again.
pub async fn set_auto_renew(v: &Visit, id: SubscriptionId, on: bool) -> HandlerResult {
    let ctx = &v.ctx;
    let now = ctx.clock.now();
    match auto_renew::set(&ctx.db, id, v.customer.customer_id(), on, now).await {
        Ok(_) => detail(v, id).await,
        Err(SubscriptionError::NotFound) => v.stale().await,
        Err(e) => Err(e.into()),
    }
}

/// A reminder, if it still says something true: buttons to act on it right there.
pub async fn notify_reminder(
    bot: &TgBot,
    ctx: &Ctx,
    job: &vpnshop_core::jobs::Job,
    id: SubscriptionId,
    reminder: Reminder,
    period: &str,
) -> HandlerResult {
    let Some(sub) = subscriptions::find(&ctx.db, id).await? else {
        return Ok(());
    };
    if !reminders::still_true(&sub, &reminder, period) {
        return Ok(());
    }
    let customer = readers::customer(ctx, sub.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let now = ctx.clock.now();
    let sid = sub.id.to_string();
    let date = sub
        .expires_at
        .map(text::date)
        .unwrap_or_else(|| tr(lang, "units.forever"));
    let renew = || button(tr(lang, "subs.renew"), Action::Renew(sub.subscription_id()));
    let more = || {
        (sub.traffic_limit_bytes.is_some()
            && !ctx.sales.traffic_packs_gb.is_empty()
            && ctx.sales.traffic_price_per_gb.is_some())
        .then(|| {
            button(
                tr(lang, "subs.add_traffic"),
                Action::Traffic(sub.subscription_id()),
            )
        })
    };
    let open = || {
        button(
            tr_with(lang, "remind.open", &[("id", &sid)]),
            Action::Subscription(sub.subscription_id()),
        )
    };
    let (body, keyboard) = match reminder {
        Reminder::Traffic { percent } => {
            let key = if percent >= 100 {
                "remind.traffic_all"
            } else {
                "remind.traffic"
            };
            let body = tr_with(
                lang,
                key,
                &[
                    ("id", &sid),
                    ("percent", &percent.to_string()),
                    ("used", &text::traffic(lang, Some(sub.used_bytes))),
                    ("total", &text::traffic(lang, sub.traffic_limit_bytes)),
                ],
            );
            let first: Vec<_> = more().into_iter().chain([renew()]).collect();
            (body, vec![first, vec![open()]])
        }
        Reminder::DaysLeft { .. } => {
            let left = sub
                .expires_at
                .map(|at| text::count(lang, text::days_left(at, now), "days"))
                .unwrap_or_default();
            let mut body = tr_with(
                lang,
                "remind.days_left",
                &[("id", &sid), ("days", &left), ("date", &date)],
            );
            if let Some(line) = auto_renew_line(ctx, lang, &sub).await? {
                body.push('\n');
                body.push_str(&line);
            }
            (body, vec![vec![renew()], vec![open()]])
        }
        Reminder::Expired => (
            tr_with(lang, "remind.expired", &[("id", &sid)]),
            vec![vec![renew()], vec![open()]],
        ),
        Reminder::NotConnected => {
            let mut rows = guide_keyboard(lang).inline_keyboard;
            rows.pop();
            rows.push(vec![button(tr(lang, "menu.support"), Action::Support)]);
            (tr_with(lang, "remind.not_connected", &[("id", &sid)]), rows)
        }
        Reminder::TopUp { missing_minor } => {
            let missing = vpnshop_core::money::Money::new(missing_minor, ctx.currency)
                .unwrap_or_else(|_| vpnshop_core::money::Money::zero(ctx.currency));
            let charge_at = auto_renew::next_charge(&sub, &ctx.life)
                .map(|at| text::date(at.max(now)))
                .unwrap_or_else(|| date.clone());
            (
                tr_with(
                    lang,
                    "remind.top_up",
                    &[
                        ("id", &sid),
                        ("missing", &text::money(lang, missing)),
                        ("date", &date),
                        ("charge", &charge_at),
                    ],
                ),
                vec![
                    vec![button(tr(lang, "wallet.top_up"), Action::TopUp)],
                    vec![open()],
                ],
            )
        }
    };
    // At most once: marked right before the one call that cannot be taken back.
    vpnshop_core::jobs::mark_in_flight(&ctx.db, job).await?;
    bot.send_message(readers::chat(&customer), body)
        .reply_markup(InlineKeyboardMarkup::new(keyboard))
        .await?;
    Ok(())
}

/// Sends the link as a QR code (PNG), with the link itself as the caption.
/// Sends the subscription link as a QR code, with the guides under it.
pub async fn send_qr(bot: &TgBot, chat: ChatId, lang: Language, link: &str) -> HandlerResult {
    let png = crate::qr::png(link).map_err(|e| BotError::Service(e.to_string()))?;
    bot.send_photo(chat, InputFile::memory(png).file_name("subscription.png"))
        .caption(tr_with(lang, "subs.qr_caption", &[("link", &escape(link))]))
        .reply_markup(guide_keyboard(lang))
        .await?;
    Ok(())
}

pub async fn qr(v: &Visit, id: SubscriptionId) -> HandlerResult {
    let lang = v.lang;

    let Some(sub) = owned(v, id).await? else {
        return Ok(());
    };
    match &sub.subscription_url {
        Some(link) => send_qr(&v.bot, v.chat, v.lang, link).await,
        None => {
            v.say(tr(lang, "subs.no_link"), keyboards::back_to_menu(lang))
                .await
        }
    }
}

pub async fn renew(v: &Visit, id: SubscriptionId) -> HandlerResult {
    let ctx = &v.ctx;
    let Some(sub) = owned(v, id).await? else {
        return Ok(());
    };
    let quoted = subscriptions::quote_renewal(&ctx.db, &sub, ctx.currency, ctx.clock.now()).await;
    checkout(v, &sub, OrderKind::Renewal, quoted).await
}

/// Places the renewal or traffic order that was just quoted and shows its preview.
async fn checkout(
    v: &Visit,
    sub: &Subscription,
    kind: OrderKind,
    quoted: Result<(Quote, Preview), SubscriptionError>,
) -> HandlerResult {
    let ctx = &v.ctx;
    let (quote, after) = match quoted {
        Ok(q) => q,
        Err(e) => return Err(e.into()),
    };
    let placed = subscriptions::place(
        &ctx.db,
        sub,
        kind,
        &quote,
        ctx.sales.quote_ttl,
        ctx.clock.now(),
    )
    .await;
    match placed {
        Ok(order) => super::preview::show(v, &order, Some(&after)).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn packs(v: &Visit, id: SubscriptionId) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let Some(sub) = owned(v, id).await? else {
        return Ok(());
    };
    let Some(per_gb) = ctx.sales.traffic_price_per_gb else {
        return v.stale().await;
    };
    let items = ctx
        .sales
        .traffic_packs_gb
        .iter()
        .map(|&gb| {
            let price = vpnshop_core::money::Money::new(gb * per_gb.minor(), per_gb.currency())
                .unwrap_or(per_gb);
            let label = format!(
                "{} · {}",
                text::traffic(lang, Some(gb * subscriptions::GB)),
                text::money(lang, price)
            );
            (label, Action::TrafficPack(sub.subscription_id(), gb))
        })
        .collect();
    v.show(tr(lang, "subs.pick_pack"), keyboards::list(lang, items))
        .await
}

pub async fn add_traffic(v: &Visit, id: SubscriptionId, gb: i64) -> HandlerResult {
    let ctx = &v.ctx;
    let Some(sub) = owned(v, id).await? else {
        return Ok(());
    };
    let Some(per_gb) = ctx.sales.traffic_price_per_gb else {
        return v.stale().await;
    };
    let quoted =
        subscriptions::quote_traffic(&ctx.db, &sub, gb, &ctx.sales.traffic_packs_gb, per_gb).await;
    checkout(v, &sub, OrderKind::AddTraffic, quoted).await
}

/// A notice: the order's account is ready (or renewed, or has more traffic): the link, and for a new account its QR code and the guides.
pub async fn notify_ready(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> HandlerResult {
    let Some(order) = orders::get(&ctx.db, order_id).await? else {
        return Ok(());
    };
    let customer = readers::customer(ctx, order.customer_id).await?;
    let lang = readers::lang(ctx, &customer);
    let Some(sub_id) = order.subscription_id else {
        return Ok(());
    };
    let sub = subscriptions::owned(&ctx.db, sub_id, customer.customer_id())
        .await
        .map_err(|e| BotError::Service(e.to_string()))?;
    let left = sub.traffic_limit_bytes.map(|l| (l - sub.used_bytes).max(0));
    let until = sub
        .expires_at
        .map(text::date)
        .unwrap_or_else(|| tr(lang, "units.forever"));
    let state = tr_with(
        lang,
        "checkout.after",
        &[("traffic", &text::traffic(lang, left)), ("date", &until)],
    );
    let key = match order.kind {
        OrderKind::Renewal => "notice.renewed",
        OrderKind::AddTraffic => "notice.traffic_added",
        OrderKind::Trial => "notice.trial_ready",
        OrderKind::Move => "notice.moved",
        OrderKind::Purchase => "notice.ready",
    };
    let mut body = tr_with(lang, key, &[("id", &sub.id.to_string()), ("state", &state)]);
    let link = sub.subscription_url.clone();
    if let Some(link) = &link {
        body.push_str("\n\n");
        body.push_str(&tr_with(lang, "subs.link", &[("link", &escape(link))]));
    }
    let chat = readers::chat(&customer);
    bot.send_message(chat, body)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    // A new account also gets its QR code and the guides; a renewal keeps the same link.
    if let (Some(link), true) = (&link, order.kind.makes_account()) {
        if let Err(e) = send_qr(bot, chat, lang, link).await {
            tracing::warn!(error = %e, "QR code not sent");
        }
    } else if link.is_none() {
        bot.send_message(chat, tr(lang, "guides.pick"))
            .reply_markup(guide_keyboard(lang))
            .await?;
    }
    Ok(())
}
