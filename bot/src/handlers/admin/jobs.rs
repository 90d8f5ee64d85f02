//! `/jobs` (also in the `/admin` menu): each recurring job's last run, next run and last error,
//! and the one-off jobs waiting — so an owner sees at a glance that reminders, renewals, the
//! usage sync and the rest are running, and what went wrong if one is not. Read from
//! `job_board`, the same source as `vpnshop jobs`.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::job_board;
use vpnshop_core::staff::Permission;

use super::{Admin, back, button};
use crate::callback::AdminAction;
use crate::cli::jobs::cadence;
use crate::errors::HandlerResult;
use crate::text::{escape, tr, tr_with};

fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%m-%d %H:%M").to_string()
}

pub async fn show(a: &Admin) -> HandlerResult {
    a.require(Permission::Settings, "jobs").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let now = ctx.clock.now();
    let recurring = job_board::recurring(&ctx.db).await?;
    let mut text = tr(lang, "admin.jobs.title");
    if recurring.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "admin.jobs.none"));
    }
    for r in &recurring {
        let last = match r.last_run {
            Some((at, true)) => format!("✅ {}", time(at)),
            Some((at, false)) => format!("❌ {}", time(at)),
            None => tr(lang, "admin.jobs.never"),
        };
        let next = match (r.running, r.next_run) {
            (true, _) => tr(lang, "admin.jobs.running"),
            (false, Some(at)) if r.overdue(now) => format!("⚠️ {}", time(at)),
            (false, Some(at)) => time(at),
            (false, None) => tr(lang, "admin.jobs.not_queued"),
        };
        text.push_str("\n\n");
        text.push_str(&tr_with(
            lang,
            "admin.jobs.line",
            &[
                ("job", &escape(&r.kind)),
                ("every", &r.every.map(cadence).unwrap_or_else(|| "?".into())),
                ("last", &last),
                ("next", &next),
            ],
        ));
        if let Some((at, why)) = &r.last_error {
            let why: String = why.lines().next().unwrap_or("").chars().take(200).collect();
            text.push('\n');
            text.push_str(&tr_with(
                lang,
                "admin.jobs.error",
                &[("at", &time(*at)), ("why", &escape(&why))],
            ));
        }
    }
    let backlog = job_board::backlog(&ctx.db, &recurring, now).await?;
    if !backlog.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "admin.jobs.backlog"));
        for b in backlog {
            text.push('\n');
            text.push_str(&tr_with(
                lang,
                "admin.jobs.backlog_line",
                &[
                    ("job", &escape(&b.kind)),
                    ("waiting", &b.waiting.to_string()),
                    ("due", &b.due.to_string()),
                    ("failed", &b.failed_today.to_string()),
                ],
            ));
        }
    }
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(tr(lang, "admin.jobs.refresh"), AdminAction::Jobs)],
        vec![back(lang)],
    ]);
    a.v.show(text, keyboard).await
}
