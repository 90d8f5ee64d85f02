//! `/audit`: the latest audit rows, newest first, ten a page, filtered by kind (buttons), or by
//! staff member or customer (`/audit admin <telegram id>`, `/audit customer <customer id>`,
//! `/audit <kind>`).
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::ids::{CustomerId, TelegramId};
use vpnshop_core::staff::Permission;

use super::{Admin, back, button};
use crate::callback::{AdminAction, AuditFilter, AuditKind};
use crate::errors::HandlerResult;
use crate::text::{escape, tr, tr_with};

const PER_PAGE: u64 = 10;

pub async fn from_command(a: &Admin, rest: &str) -> HandlerResult {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let number = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    let filter = match words.as_slice() {
        [] => AuditFilter::All,
        ["admin" | "staff", id] if number(id).is_some() => {
            AuditFilter::Actor(TelegramId::new(number(id).unwrap_or_default()))
        }
        ["customer", id] if number(id).is_some() => {
            AuditFilter::Customer(CustomerId::new(number(id).unwrap_or_default()))
        }
        [kind] if AuditKind::parse(kind).is_some() => {
            AuditFilter::Kind(AuditKind::parse(kind).unwrap_or(AuditKind::Staff))
        }
        _ => {
            let keyboard = InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]);
            return a.v.say(tr(a.lang(), "admin.audit.usage"), keyboard).await;
        }
    };
    show(a, 0, filter).await
}

pub async fn show(a: &Admin, page: u32, filter: AuditFilter) -> HandlerResult {
    a.require(Permission::Audit, "audit.read").await?;
    let lang = a.lang();
    let query = match filter {
        AuditFilter::All => Filter::default(),
        AuditFilter::Kind(k) => Filter {
            kind: Some(k.as_str().to_string()),
            ..Filter::default()
        },
        AuditFilter::Actor(who) => Filter {
            actor: Some(who),
            ..Filter::default()
        },
        AuditFilter::Customer(c) => Filter {
            customer: Some(c),
            ..Filter::default()
        },
    };
    let (rows, more) = audit::latest(&a.v.ctx.db, &query, u64::from(page), PER_PAGE).await?;
    let shown = match filter {
        AuditFilter::All => tr(lang, "admin.audit.all"),
        AuditFilter::Kind(k) => k.as_str().to_string(),
        AuditFilter::Actor(who) => tr_with(lang, "admin.audit.by", &[("id", &who.to_string())]),
        AuditFilter::Customer(c) => tr_with(lang, "admin.audit.about", &[("id", &c.to_string())]),
    };
    let mut text = tr_with(
        lang,
        "admin.audit.title",
        &[("filter", &shown), ("page", &(page + 1).to_string())],
    );
    if rows.is_empty() {
        text.push('\n');
        text.push_str(&tr(lang, "admin.audit.empty"));
    }
    for r in rows {
        let who = r
            .actor_telegram_id
            .map_or_else(|| tr(lang, "admin.audit.server"), |a| a.to_string());
        let change = match (&r.before, &r.after) {
            (Some(b), Some(after)) => format!(" · {} → {}", escape(b), escape(after)),
            _ if !r.details.is_empty() => format!(" · {}", escape(&r.details)),
            _ => String::new(),
        };
        text.push('\n');
        text.push_str(&format!(
            "<code>{}</code> {} · <b>{}</b> {}{change}",
            r.created_at.format("%m-%d %H:%M"),
            who,
            escape(&r.action),
            escape(r.target.as_deref().unwrap_or_default()),
        ));
    }
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(button(
            tr(lang, "admin.audit.newer"),
            AdminAction::Audit(page - 1, filter),
        ));
    }
    if more {
        nav.push(button(
            tr(lang, "admin.audit.older"),
            AdminAction::Audit(page.saturating_add(1), filter),
        ));
    }
    let mut kinds = vec![button(
        tr(lang, "admin.audit.all"),
        AdminAction::Audit(0, AuditFilter::All),
    )];
    for k in AuditKind::ALL {
        kinds.push(button(
            k.as_str().to_string(),
            AdminAction::Audit(0, AuditFilter::Kind(k)),
        ));
    }
    let mut rows = Vec::new();
    if !nav.is_empty() {
        rows.push(nav);
    }
    rows.push(kinds);
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}
