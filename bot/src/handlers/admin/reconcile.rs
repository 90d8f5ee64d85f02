//! `/reconcile` (also on the panels screen): the shop's subscriptions compared with the panels'
//! accounts — a dry run listing each drift with a 🔧 button; nothing changes until an admin
//! presses one (or "repair all"). Each repair is core's `reconcile::repair`: the item is read
//! again from its panel first, only this shop's own accounts are ever touched, and it is
//! audited under the presser.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::reconcile::{self, Drift, RepairError};
use vpnshop_core::staff::Permission;

use super::{Admin, back, button};
use crate::callback::AdminAction;
use crate::errors::{BotError, HandlerResult};
use crate::text::{escape, tr, tr_with};

/// Items shown (and given a button) at once; "repair all" covers the rest.
const SHOWN: usize = 15;

fn action(d: &Drift, tag: &str) -> Option<AdminAction> {
    match d {
        Drift::Missing { sub } => Some(AdminAction::RepairSub(*sub, true)),
        Drift::Differs { sub, .. } => Some(AdminAction::RepairSub(*sub, false)),
        Drift::Unknown { panel, account } => {
            let (_, c, s) = marzban_client::AccountName::parse_ours(tag, account).ok()?;
            Some(AdminAction::RepairUnknown(*panel, c, s))
        }
    }
}

pub async fn show(a: &Admin, note: Option<String>) -> HandlerResult {
    a.require(Permission::Panels, "reconcile").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let now = ctx.clock.now();
    let tag = vpnshop_core::shop::identity(&ctx.db)
        .await?
        .account_tag(&ctx.sales.account_prefix);
    let report = reconcile::diff(
        &ctx.db,
        &ctx.sales.account_prefix,
        ctx.life.page_size,
        ctx.life.parallel,
        now,
    )
    .await?;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr_with(
        lang,
        "admin.reconcile.title",
        &[
            ("panels", &escape(&report.panels.join(", "))),
            ("count", &report.found.len().to_string()),
        ],
    ));
    for (panel, why) in &report.failed {
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "admin.reconcile.unread",
            &[("panel", &escape(panel)), ("why", &escape(why))],
        ));
    }
    if report.found.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "admin.reconcile.clean"));
    }
    let mut rows = Vec::new();
    for (n, f) in report.found.iter().take(SHOWN).enumerate() {
        text.push_str(&format!(
            "\n\n{}. <b>{}</b> · {}",
            n + 1,
            escape(&f.panel),
            escape(&f.drift.describe())
        ));
        if let Some(act) = action(&f.drift, &tag) {
            rows.push(vec![button(
                tr_with(
                    lang,
                    "admin.reconcile.repair",
                    &[("n", &(n + 1).to_string())],
                ),
                act,
            )]);
        }
    }
    if report.found.len() > SHOWN {
        text.push_str("\n\n");
        text.push_str(&tr_with(
            lang,
            "admin.reconcile.more",
            &[("n", &(report.found.len() - SHOWN).to_string())],
        ));
    }
    if !report.found.is_empty() {
        rows.push(vec![button(
            tr(lang, "admin.reconcile.repair_all"),
            AdminAction::RepairAll,
        )]);
    }
    rows.push(vec![
        button(tr(lang, "admin.reconcile.again"), AdminAction::Reconcile),
        back(lang),
    ]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// Repairs what the pressed button names (its key rebuilt here, checked again by core).
pub async fn repair(a: &Admin, pressed: AdminAction) -> HandlerResult {
    a.require(Permission::Panels, "reconcile.repair").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let prefix = &ctx.sales.account_prefix;
    let keys: Vec<String> = match pressed {
        AdminAction::RepairSub(sub, true) => vec![format!("m:{sub}")],
        AdminAction::RepairSub(sub, false) => vec![format!("d:{sub}")],
        AdminAction::RepairUnknown(panel, c, s) => {
            let tag = vpnshop_core::shop::identity(&ctx.db)
                .await?
                .account_tag(prefix);
            match marzban_client::AccountName::derive(&tag, c, s) {
                Ok(name) => vec![format!("u:{panel}:{name}")],
                Err(_) => return a.v.stale().await,
            }
        }
        AdminAction::RepairAll => {
            let now = ctx.clock.now();
            reconcile::diff(&ctx.db, prefix, ctx.life.page_size, ctx.life.parallel, now)
                .await?
                .found
                .iter()
                .map(|f| f.drift.key())
                .collect()
        }
        _ => return a.v.stale().await,
    };
    let mut lines = Vec::new();
    for key in keys {
        let who = Some(a.access.who);
        let line = match reconcile::repair(&ctx.db, prefix, &key, who, ctx.clock.now()).await {
            Ok(done) => tr_with(
                lang,
                "admin.reconcile.repaired",
                &[("what", &escape(&done))],
            ),
            Err(RepairError::NothingToDo) => tr(lang, "admin.reconcile.nothing"),
            Err(RepairError::Db(e)) => return Err(BotError::Db(e)),
            Err(e) => tr_with(
                lang,
                "admin.reconcile.failed",
                &[("why", &escape(&e.to_string()))],
            ),
        };
        lines.push(line);
    }
    show(a, Some(lines.join("\n"))).await
}
