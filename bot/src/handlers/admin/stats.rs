//! `/stats`: how the shop is doing, on one screen. Revenue only for roles that may see it.
use teloxide::prelude::*;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::customers::Language;
use vpnshop_core::staff::Permission;
use vpnshop_core::stats;

use super::{Admin, back, button};
use crate::callback::AdminAction;
use crate::ctx::{Ctx, TgBot};
use crate::errors::HandlerResult;
use crate::staff_chat::{InTopic, Topic};
use crate::text::{money, tr, tr_with};

pub async fn show(a: &Admin) -> HandlerResult {
    let lang = a.lang();
    let s = stats::shop_stats(&a.v.ctx.db, a.v.ctx.clock.now()).await?;
    let text = render(lang, &s, a.access.may(Permission::Revenue));
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![button(tr(lang, "admin.refresh"), AdminAction::Stats)],
        vec![back(lang)],
    ]);
    a.v.show(text, keyboard).await
}

/// A notice: the day's summary, in the staff chat (in the shop's language).
pub async fn notify_summary(bot: &TgBot, ctx: &Ctx, day: &str) -> HandlerResult {
    let Some(staff) = ctx.staff_chat else {
        return Ok(());
    };
    let lang = ctx.default_language;
    let s = stats::shop_stats(&ctx.db, ctx.clock.now()).await?;
    let today = vpnshop_core::reports::report(&ctx.db, ctx.currency, 1, ctx.clock.now()).await?;
    let text = format!(
        "{}\n\n{}\n\n{}",
        tr_with(lang, "admin.stats.summary_title", &[("day", day)]),
        render(lang, &s, true),
        super::reports::summary(lang, &today)
    );
    let text = crate::text::fit_lines(&text, 4000);
    ctx.staff.pace().await;
    bot.send_message(ChatId(staff), text)
        .in_topic(ctx.staff.topic(Topic::Summary))
        .await?;
    Ok(())
}

fn render(lang: Language, s: &stats::ShopStats, revenue: bool) -> String {
    let n = |x: u64| x.to_string();
    let mut text = tr_with(
        lang,
        "admin.stats.body",
        &[
            ("customers", &n(s.customers)),
            ("today", &n(s.new_customers.today)),
            ("week", &n(s.new_customers.week)),
            ("month", &n(s.new_customers.month)),
            ("active", &n(s.active_subscriptions)),
            ("trials", &n(s.trials)),
            ("converted", &n(s.trials_converted)),
            ("tickets", &n(s.open_tickets)),
            ("receipts", &n(s.pending_receipts)),
            ("reviews", &n(s.payments_in_review)),
            ("panels_down", &n(s.panels_down)),
        ],
    );
    if revenue {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "admin.stats.revenue"));
        if s.revenue.is_empty() {
            text.push('\n');
            text.push_str(&tr(lang, "admin.stats.no_sales"));
        }
        for r in &s.revenue {
            text.push('\n');
            text.push_str(&tr_with(
                lang,
                "admin.stats.revenue_line",
                &[
                    ("today", &money(lang, r.today)),
                    ("week", &money(lang, r.week)),
                    ("month", &money(lang, r.month)),
                ],
            ));
        }
    }
    text
}
