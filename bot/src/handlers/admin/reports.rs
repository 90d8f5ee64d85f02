//! `/report` (finance and above): charts of the last 30 or 90 days as photos — revenue and new
//! customers per day, revenue by plan and by payment method — with the figures, trial → paid
//! conversion and the top referrers in the caption, in the reader's language; and CSV exports
//! of orders, payments and customers for a date range, as documents.
use chrono::{DateTime, Duration, NaiveDate, Utc};
use plotters::style::RGBColor;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, InputFile, ParseMode};
use vpnshop_core::customers::Language;
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::reports::{self, Report};
use vpnshop_core::staff::Permission;

use super::{Admin, back, button};
use crate::callback::{AdminAction, Export};
use crate::charts;
use crate::errors::{BotError, HandlerResult};
use crate::text::{escape, money, tr, tr_with};

const WHAT: &str = "report";

/// The reports screen.
pub async fn screen(a: &Admin) -> HandlerResult {
    a.require(Permission::Reports, WHAT).await?;
    let lang = a.lang();
    let rows = vec![
        vec![
            button(tr(lang, "report.days_30"), AdminAction::Report(30)),
            button(tr(lang, "report.days_90"), AdminAction::Report(90)),
        ],
        vec![
            button(
                tr(lang, "report.export_orders"),
                AdminAction::Export(Export::Orders),
            ),
            button(
                tr(lang, "report.export_payments"),
                AdminAction::Export(Export::Payments),
            ),
            button(
                tr(lang, "report.export_customers"),
                AdminAction::Export(Export::Customers),
            ),
        ],
        vec![back(lang)],
    ];
    a.v.show(tr(lang, "report.title"), InlineKeyboardMarkup::new(rows))
        .await
}

/// `/report`, `/report 90`, `/report orders 2026-11-01 2026-11-30`.
pub async fn from_command(a: &Admin, rest: &str) -> HandlerResult {
    a.require(Permission::Reports, WHAT).await?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let export = |w: &str| match w.to_ascii_lowercase().as_str() {
        "orders" => Some(Export::Orders),
        "payments" => Some(Export::Payments),
        "customers" => Some(Export::Customers),
        _ => None,
    };
    match words.as_slice() {
        [] => screen(a).await,
        [what, rest @ ..] if export(what).is_some() => {
            let kind = export(what).unwrap_or(Export::Orders);
            let now = a.v.ctx.clock.now();
            let range = match rest {
                [] => Some(last_days(30, now)),
                [from, to] => range(from, to),
                _ => None,
            };
            match range {
                Some((from, to)) => export_csv(a, kind, from, to).await,
                None => usage(a).await,
            }
        }
        [days] => match crate::text::parse_number(days) {
            Some(d @ 1..=366) => send(a, d as u32).await,
            _ => usage(a).await,
        },
        _ => usage(a).await,
    }
}

async fn usage(a: &Admin) -> HandlerResult {
    let lang = a.lang();
    a.v.say(
        tr(lang, "report.usage"),
        InlineKeyboardMarkup::new(vec![vec![button(
            tr(lang, "admin.menu.reports"),
            AdminAction::Reports,
        )]]),
    )
    .await
}

/// `[first day, last day]` typed as dates, as a half-open time range.
fn range(from: &str, to: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let day = |s: &str| NaiveDate::parse_from_str(&crate::text::latin_digits(s), "%Y-%m-%d").ok();
    let (from, to) = (day(from)?, day(to)?);
    if to < from || (to - from).num_days() > 3_660 {
        return None;
    }
    let start = from.and_hms_opt(0, 0, 0)?.and_utc();
    let end = (to + Duration::days(1)).and_hms_opt(0, 0, 0)?.and_utc();
    Some((start, end))
}

fn last_days(days: u32, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (reports::start_of(days, now), now + Duration::seconds(1))
}

/// A value in the currency's major unit, for an axis (display only: figures in the caption
/// are exact).
fn major(minor: i64, currency: Currency) -> f64 {
    minor as f64 / 10f64.powi(currency.exponent() as i32)
}

fn cash(lang: Language, minor: i64, currency: Currency) -> String {
    money(
        lang,
        Money::new(minor, currency).unwrap_or(Money::zero(currency)),
    )
}

fn method_name(lang: Language, code: &str) -> String {
    let key = format!("report.method.{code}");
    let t = tr(lang, &key);
    if t == key || t.ends_with(&key) {
        code.to_string()
    } else {
        t
    }
}

/// The four charts of the last `days` days, each a photo with its caption.
pub async fn send(a: &Admin, days: u32) -> HandlerResult {
    a.require(Permission::Reports, WHAT).await?;
    a.require(Permission::Revenue, WHAT).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let r = reports::report(&ctx.db, ctx.currency, days, ctx.clock.now()).await?;
    for (png, caption) in render(lang, &r, days)? {
        a.v.bot
            .send_photo(a.v.chat, InputFile::memory(png).file_name("report.png"))
            .caption(crate::text::fit_lines(&caption, 1024))
            .parse_mode(ParseMode::Html)
            .await?;
    }
    Ok(())
}

/// The charts and their captions.
pub fn render(lang: Language, r: &Report, days: u32) -> Result<Vec<(Vec<u8>, String)>, BotError> {
    let c = r.currency;
    let n = days.to_string();
    let chart = |e: charts::ChartError| BotError::Service(e.to_string());
    let mut out = Vec::new();

    let revenue: Vec<(String, f64)> = r
        .days
        .iter()
        .map(|d| (d.date.format("%m-%d").to_string(), major(d.revenue, c)))
        .collect();
    let title = format!("Revenue per day, last {days} days ({})", c.code());
    let best = r
        .days
        .iter()
        .max_by_key(|d| d.revenue)
        .filter(|d| d.revenue > 0);
    let mut caption = tr_with(
        lang,
        "report.revenue",
        &[
            ("days", &n),
            ("total", &cash(lang, r.revenue(), c)),
            ("orders", &r.orders().to_string()),
        ],
    );
    if let Some(best) = best {
        caption.push('\n');
        caption.push_str(&tr_with(
            lang,
            "report.best_day",
            &[
                ("date", &best.date.format("%Y-%m-%d").to_string()),
                ("amount", &cash(lang, best.revenue, c)),
            ],
        ));
    }
    out.push((
        charts::daily_bars(&title, &revenue, RGBColor(46, 125, 50)).map_err(chart)?,
        caption,
    ));

    let joined: Vec<(String, f64)> = r
        .days
        .iter()
        .map(|d| (d.date.format("%m-%d").to_string(), d.new_customers as f64))
        .collect();
    let pct = (r.trials_converted * 100)
        .checked_div(r.trials)
        .unwrap_or(0)
        .to_string();
    let caption = tr_with(
        lang,
        "report.customers",
        &[
            ("days", &n),
            ("n", &r.new_customers().to_string()),
            ("trials", &r.trials.to_string()),
            ("converted", &r.trials_converted.to_string()),
            ("percent", &pct),
        ],
    );
    out.push((
        charts::daily_bars(
            &format!("New customers per day, last {days} days"),
            &joined,
            RGBColor(21, 101, 192),
        )
        .map_err(chart)?,
        caption,
    ));

    // Plan names may be Persian: the image numbers them, the caption names them.
    let plans: Vec<(String, f64)> = r
        .by_plan
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, (_, sum, _))| (format!("#{}", i + 1), major(*sum, c)))
        .collect();
    let mut caption = tr_with(lang, "report.by_plan", &[("days", &n)]);
    for (i, (name, sum, orders)) in r.by_plan.iter().take(10).enumerate() {
        caption.push('\n');
        caption.push_str(&tr_with(
            lang,
            "report.plan_line",
            &[
                ("n", &(i + 1).to_string()),
                ("name", &escape(name)),
                ("amount", &cash(lang, *sum, c)),
                ("orders", &orders.to_string()),
            ],
        ));
    }
    if r.by_plan.is_empty() {
        caption.push('\n');
        caption.push_str(&tr(lang, "admin.stats.no_sales"));
    }
    out.push((
        charts::breakdown(
            &format!("Revenue by plan ({})", c.code()),
            &plans,
            RGBColor(106, 27, 154),
        )
        .map_err(chart)?,
        caption,
    ));

    let methods: Vec<(String, f64)> = r
        .by_method
        .iter()
        .map(|(m, sum)| (m.replace("telegram_", ""), major(*sum, c)))
        .collect();
    let mut caption = tr_with(lang, "report.by_method", &[("days", &n)]);
    for (m, sum) in &r.by_method {
        caption.push('\n');
        caption.push_str(&format!(
            "{}: {}",
            method_name(lang, m),
            cash(lang, *sum, c)
        ));
    }
    caption.push_str("\n\n");
    caption.push_str(&tr(lang, "report.referrers"));
    if r.referrers.is_empty() {
        caption.push('\n');
        caption.push_str(&tr(lang, "report.no_referrers"));
    }
    for (name, id, invited, bought) in r.referrers.iter().take(5) {
        caption.push('\n');
        caption.push_str(&tr_with(
            lang,
            "report.referrer_line",
            &[
                ("name", &escape(name)),
                ("id", &id.to_string()),
                ("invited", &invited.to_string()),
                ("bought", &bought.to_string()),
            ],
        ));
    }
    out.push((
        charts::breakdown(
            &format!("Revenue by payment method ({})", c.code()),
            &methods,
            RGBColor(239, 108, 0),
        )
        .map_err(chart)?,
        caption,
    ));
    Ok(out)
}

/// The day's report figures for the staff chat's daily summary: revenue by plan and by payment
/// method, and who invited customers today.
pub fn summary(lang: Language, r: &Report) -> String {
    let c = r.currency;
    let mut text = tr(lang, "report.summary_plans");
    if r.by_plan.is_empty() {
        text.push('\n');
        text.push_str(&tr(lang, "admin.stats.no_sales"));
    }
    for (name, sum, orders) in r.by_plan.iter().take(5) {
        text.push_str(&format!(
            "\n{}: {} ({orders})",
            escape(name),
            cash(lang, *sum, c)
        ));
    }
    if !r.by_method.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "report.summary_methods"));
        for (m, sum) in &r.by_method {
            text.push_str(&format!(
                "\n{}: {}",
                method_name(lang, m),
                cash(lang, *sum, c)
            ));
        }
    }
    if let Some((name, id, invited, bought)) = r.referrers.first() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "report.referrers"));
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "report.referrer_line",
            &[
                ("name", &escape(name)),
                ("id", &id.to_string()),
                ("invited", &invited.to_string()),
                ("bought", &bought.to_string()),
            ],
        ));
    }
    text
}

/// An export button: the last 30 days.
pub async fn export(a: &Admin, kind: Export) -> HandlerResult {
    a.require(Permission::Reports, WHAT).await?;
    let (from, to) = last_days(30, a.v.ctx.clock.now());
    export_csv(a, kind, from, to).await
}

/// UTF-8 with a byte-order mark, so spreadsheet programs show Persian and Russian correctly.
const BOM: &[u8] = b"\xEF\xBB\xBF";

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A cell a spreadsheet will not run: customers choose their names, and a name starting with
/// `=` (or `+`, `-`, `@`) would be a formula in the finance team's spreadsheet.
fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// An amount as a plain decimal in the currency's major unit (`150000`, `4.99`).
fn plain(minor: i64, currency: Currency) -> String {
    let exp = currency.exponent();
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        m / scale as u64,
        m % scale as u64,
        width = exp as usize
    )
}

/// The rows of one export, as CSV bytes (with the BOM) and how many rows.
pub async fn csv_of(
    db: &vpnshop_core::sea_orm::DatabaseConnection,
    kind: Export,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<u8>, usize), BotError> {
    let mut w = csv::Writer::from_writer(BOM.to_vec());
    let io = |e: csv::Error| BotError::Service(e.to_string());
    let rows = match kind {
        Export::Orders => {
            w.write_record([
                "id",
                "created_at",
                "paid_at",
                "status",
                "kind",
                "customer_id",
                "plan_id",
                "days",
                "currency",
                "list_price",
                "discount",
                "points_value",
                "total",
                "wallet_paid",
                "promo_code_id",
                "subscription_id",
            ])
            .map_err(io)?;
            let rows = reports::orders_between(db, from, to).await?;
            for o in &rows {
                let c = o.currency;
                w.write_record([
                    o.id.to_string(),
                    when(Some(o.created_at)),
                    when(o.paid_at),
                    o.status.as_str().to_string(),
                    o.kind.as_str().to_string(),
                    o.customer_id.to_string(),
                    o.plan_id.map(|p| p.to_string()).unwrap_or_default(),
                    o.duration_days.to_string(),
                    c.code().to_string(),
                    plain(o.list_price_minor, c),
                    plain(o.discount_minor, c),
                    plain(o.points_value_minor, c),
                    plain(o.total_minor, c),
                    plain(o.wallet_paid_minor, c),
                    o.promo_code_id.map(|p| p.to_string()).unwrap_or_default(),
                    o.subscription_id.map(|s| s.to_string()).unwrap_or_default(),
                ])
                .map_err(io)?;
            }
            rows.len()
        }
        Export::Payments => {
            w.write_record([
                "id",
                "created_at",
                "customer_id",
                "order_id",
                "provider",
                "status",
                "currency",
                "amount",
                "provider_payment_id",
            ])
            .map_err(io)?;
            let rows = reports::payments_between(db, from, to).await?;
            for p in &rows {
                w.write_record([
                    p.id.to_string(),
                    when(Some(p.created_at)),
                    p.customer_id.to_string(),
                    p.order_id.map(|o| o.to_string()).unwrap_or_default(),
                    p.provider.as_str().to_string(),
                    p.status.as_str().to_string(),
                    p.currency.code().to_string(),
                    plain(p.amount_minor, p.currency),
                    cell(p.provider_payment_id.as_deref().unwrap_or_default()),
                ])
                .map_err(io)?;
            }
            rows.len()
        }
        Export::Customers => {
            w.write_record([
                "id",
                "telegram_id",
                "username",
                "first_name",
                "language",
                "joined",
                "last_seen",
                "trial_used",
                "banned",
                "blocked_bot",
                "referred_by",
                "orders",
                "spent_minor",
            ])
            .map_err(io)?;
            let rows = reports::customers_between(db, from, to).await?;
            for (c, spent, orders) in &rows {
                w.write_record([
                    c.id.to_string(),
                    c.telegram_id.to_string(),
                    cell(c.username.as_deref().unwrap_or_default()),
                    cell(&c.first_name),
                    c.language.clone().unwrap_or_default(),
                    when(Some(c.created_at)),
                    when(Some(c.last_seen_at)),
                    c.trial_used.to_string(),
                    c.banned.to_string(),
                    c.blocked_bot.to_string(),
                    c.referred_by.map(|r| r.to_string()).unwrap_or_default(),
                    orders.to_string(),
                    spent.to_string(),
                ])
                .map_err(io)?;
            }
            rows.len()
        }
    };
    let bytes = w
        .into_inner()
        .map_err(|e| BotError::Service(e.to_string()))?;
    Ok((bytes, rows))
}

async fn export_csv(
    a: &Admin,
    kind: Export,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> HandlerResult {
    a.require(Permission::Reports, WHAT).await?;
    // Customers' details, and money, each need their own permission too.
    match kind {
        Export::Customers => a.require(Permission::Customers, WHAT).await?,
        Export::Orders | Export::Payments => a.require(Permission::Revenue, WHAT).await?,
    }
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let (bytes, rows) = csv_of(&ctx.db, kind, from, to).await?;
    let name = match kind {
        Export::Orders => "orders",
        Export::Payments => "payments",
        Export::Customers => "customers",
    };
    let last = to - Duration::seconds(1);
    let (f, l) = (
        from.format("%Y-%m-%d").to_string(),
        last.format("%Y-%m-%d").to_string(),
    );
    let caption = tr_with(
        lang,
        &format!("report.export_{name}_caption"),
        &[("from", &f), ("to", &l), ("n", &rows.to_string())],
    );
    a.v.bot
        .send_document(
            a.v.chat,
            InputFile::memory(bytes).file_name(format!("{name}-{f}-{l}.csv")),
        )
        .caption(caption)
        .parse_mode(ParseMode::Html)
        .await?;
    Ok(())
}
