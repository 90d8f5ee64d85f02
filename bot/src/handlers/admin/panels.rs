//! `/panel …` typed in the bot: `list`, `check <name>`, and `add <name> --kind … --url …
//! --location …` (the same options as `vpnshop panel add`). Adding asks for the password or API
//! key in a message of its own, which is deleted from the chat as soon as it is read — and so is
//! the `/panel add` line, whose address may hold a secret path. Then the doctor's lines.
use clap::Parser;
use secrecy::SecretString;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId};
use vpnshop_core::audit::Entry;
use vpnshop_core::ids::PanelId;
use vpnshop_core::panels;
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, back, button};
use crate::callback::AdminAction;
use crate::cli::panel::{self, AddPanel, PanelCommand};
use crate::errors::BotError;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{escape, tr, tr_with};

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct Line {
    #[command(subcommand)]
    command: PanelCommand,
}

fn done_keyboard(a: &Admin) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![back(a.lang())]])
}

fn output(out: Vec<u8>) -> String {
    format!(
        "<pre>{}</pre>",
        escape(String::from_utf8_lossy(&out).trim())
    )
}

/// Deletes a message that held a secret; a failure is logged (the admin is told to delete it).
async fn forget(a: &Admin, message: MessageId) -> bool {
    match a.v.bot.delete_message(a.v.chat, message).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot delete a message holding a panel credential");
            false
        }
    }
}

pub async fn run(a: &Admin, rest: &str, message: MessageId) -> HandlerResult {
    a.require(Permission::Panels, "panel").await?;
    let args = super::catalog::words(rest);
    let ctx = &a.v.ctx;
    let command = match Line::try_parse_from(&args) {
        Ok(l) => l.command,
        Err(e) => {
            let text = tr_with(
                a.lang(),
                "admin.catalog.refused",
                &[
                    ("command", "panel"),
                    ("why", &output(e.render().to_string().into_bytes())),
                ],
            );
            return a.v.say(text, done_keyboard(a)).await;
        }
    };
    let mut out: Vec<u8> = Vec::new();
    let result = match command {
        PanelCommand::List => panel::list(&ctx.db, &mut out).await.map(|_| ()),
        PanelCommand::Check { name } => panel::check(&ctx.db, &name, ctx.clock.now(), &mut out)
            .await
            .map(|_| ()),
        PanelCommand::Add { panel: args, .. } => {
            // The line may hold the panel's secret admin path: it goes now.
            let deleted = forget(a, message).await;
            a.v.set_state(State::Admin(AdminStep::PanelSecret(Box::new(args.clone()))))
                .await?;
            let key = if deleted {
                "admin.panels.ask_secret"
            } else {
                "admin.panels.ask_secret_delete"
            };
            let text = tr_with(a.lang(), key, &[("name", &escape(&args.name))]);
            return a.v.say(text, done_keyboard(a)).await;
        }
    };
    let text = match result {
        Ok(()) => output(out),
        Err(e) => tr_with(
            a.lang(),
            "admin.catalog.refused",
            &[
                ("command", "panel"),
                ("why", &output(e.to_string().into_bytes())),
            ],
        ),
    };
    a.v.say(text, done_keyboard(a)).await
}

/// The credential arrives: it is deleted from the chat at once, then the panel is saved and
/// checked.
pub async fn secret(a: &Admin, args: AddPanel, msg: &Message) -> HandlerResult {
    a.require(Permission::Panels, "panel.add").await?;
    let Some(typed) = msg.text().map(str::trim).filter(|t| !t.is_empty()) else {
        return a
            .v
            .say(
                tr(a.lang(), "admin.panels.secret_is_text"),
                done_keyboard(a),
            )
            .await;
    };
    let secret = SecretString::from(typed.to_string());
    let deleted = forget(a, msg.id).await;
    a.v.set_state(State::Idle).await?;
    let ctx = &a.v.ctx;
    let mut out: Vec<u8> = Vec::new();
    let name = args.name.clone();
    let result = panel::add(&ctx.db, args, secret, true, ctx.clock.now(), &mut out).await;
    let mut text = match &result {
        Ok(_) => {
            Entry::new(Some(a.access.who), "panel.add")
                .target(format!("panel:{name}"))
                .record(&ctx.db, ctx.clock.now())
                .await?;
            output(out)
        }
        Err(e) => tr_with(
            a.lang(),
            "admin.catalog.refused",
            &[
                ("command", "panel"),
                ("why", &output(e.to_string().into_bytes())),
            ],
        ),
    };
    if !deleted {
        text.push_str("\n\n");
        text.push_str(&tr(a.lang(), "admin.panels.delete_it"));
    }
    a.v.say(text, done_keyboard(a)).await
}

/// The panels screen: each panel's health, load (active accounts / capacity), version and last
/// check, one button each to its own screen; how to add one under it. `note` on top.
pub async fn screen(a: &Admin, note: Option<String>) -> HandlerResult {
    a.require(Permission::Panels, "panel.list").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let all = panels::panels(&ctx.db).await.map_err(store_error)?;
    let loads = panels::loads(&ctx.db).await?;
    let locations = vpnshop_core::catalog::locations(&ctx.db, false).await?;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr(lang, "admin.panels.title"));
    if all.is_empty() {
        text.push('\n');
        text.push_str(&tr(lang, "admin.panels.none"));
    }
    let mut rows = Vec::new();
    for p in &all {
        let location = locations
            .iter()
            .find(|l| l.id == p.location_id)
            .map_or("?".to_string(), |l| format!("{} {}", l.flag, l.name));
        text.push_str("\n\n");
        text.push_str(&line(
            a,
            p,
            &location,
            loads.get(&p.id.get()).copied().unwrap_or(0),
        ));
        rows.push(vec![button(
            format!("{} {}", state_mark(p), p.name),
            AdminAction::Panel(p.id),
        )]);
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.panels.how_to_add"));
    rows.push(vec![button(
        tr(lang, "admin.reconcile.open"),
        AdminAction::Reconcile,
    )]);
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

fn store_error(e: panels::PanelStoreError) -> BotError {
    match e {
        panels::PanelStoreError::Db(e) => BotError::Db(e),
        other => BotError::Service(other.to_string()),
    }
}

fn state_mark(p: &panels::Panel) -> &'static str {
    match (p.enabled, p.checked_at, p.healthy) {
        (false, _, _) => "⏸",
        (true, None, _) => "⚪️",
        (true, Some(_), true) => "🟢",
        (true, Some(_), false) => "🔴",
    }
}

/// One panel as staff read it.
fn line(a: &Admin, p: &panels::Panel, location: &str, load: u64) -> String {
    let lang = a.lang();
    let state = match (p.enabled, p.checked_at, p.healthy) {
        (false, _, _) => tr(lang, "admin.panels.disabled"),
        (true, None, _) => tr(lang, "admin.panels.unchecked"),
        (true, Some(_), true) => tr(lang, "admin.panels.healthy"),
        (true, Some(_), false) => tr_with(
            lang,
            "admin.panels.failing",
            &[("why", &escape(p.last_error.as_deref().unwrap_or("?")))],
        ),
    };
    let capacity = p
        .capacity
        .map_or_else(|| tr(lang, "admin.panels.no_limit"), |c| c.to_string());
    tr_with(
        lang,
        "admin.panels.line",
        &[
            ("mark", state_mark(p)),
            ("name", &escape(&p.name)),
            ("kind", p.config.kind.as_str()),
            ("version", &escape(p.version.as_deref().unwrap_or("?"))),
            ("location", &escape(location)),
            ("load", &load.to_string()),
            ("capacity", &capacity),
            ("state", &state),
            (
                "checked",
                &p.checked_at.map_or("—".to_string(), crate::text::date),
            ),
        ],
    )
}

/// One panel: its line and what can be done with it.
pub async fn show(a: &Admin, id: PanelId, note: Option<String>) -> HandlerResult {
    a.require(Permission::Panels, "panel.view").await?;
    a.v.set_state(State::Idle).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let all = panels::panels(&ctx.db).await.map_err(store_error)?;
    let Some(p) = all.into_iter().find(|p| p.id == id) else {
        return a.v.stale().await;
    };
    let load = panels::loads(&ctx.db)
        .await?
        .get(&p.id.get())
        .copied()
        .unwrap_or(0);
    let location = vpnshop_core::catalog::location(&ctx.db, p.location_id)
        .await?
        .map_or("?".to_string(), |l| format!("{} {}", l.flag, l.name));
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&line(a, &p, &location, load));
    let toggle = if p.enabled {
        button(
            tr(lang, "admin.panels.disable"),
            AdminAction::PanelEnabled(id, false),
        )
    } else {
        button(
            tr(lang, "admin.panels.enable"),
            AdminAction::PanelEnabled(id, true),
        )
    };
    let rows = vec![
        vec![
            button(tr(lang, "admin.panels.check"), AdminAction::PanelCheck(id)),
            toggle,
        ],
        vec![button(
            tr(lang, "admin.panels.capacity"),
            AdminAction::PanelCapacity(id),
        )],
        vec![
            button(tr(lang, "admin.panels.all"), AdminAction::Panels),
            back(lang),
        ],
    ];
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// Runs the doctor on the panel and shows its lines above the panel's screen.
pub async fn check(a: &Admin, id: PanelId) -> HandlerResult {
    a.require(Permission::Panels, "panel.check").await?;
    let ctx = &a.v.ctx;
    let all = panels::panels(&ctx.db).await.map_err(store_error)?;
    let Some(p) = all.into_iter().find(|p| p.id == id) else {
        return a.v.stale().await;
    };
    let mut out: Vec<u8> = Vec::new();
    let note = match panel::check(&ctx.db, &p.name, ctx.clock.now(), &mut out).await {
        Ok(_) => output(out),
        Err(e) => output(e.to_string().into_bytes()),
    };
    show(a, id, Some(note)).await
}

pub async fn set_enabled(a: &Admin, id: PanelId, on: bool) -> HandlerResult {
    a.require(Permission::Panels, "panel.enable").await?;
    let ctx = &a.v.ctx;
    match panels::set_enabled(&ctx.db, &a.access, id, on, ctx.clock.now()).await {
        Ok(()) => {
            let key = if on {
                "admin.panels.enabled_now"
            } else {
                "admin.panels.disabled_now"
            };
            show(a, id, Some(tr(a.lang(), key))).await
        }
        Err(panels::PanelChangeError::NotFound) => a.v.stale().await,
        Err(e) => Err(e.into()),
    }
}

/// Asks for the new capacity.
pub async fn ask_capacity(a: &Admin, id: PanelId) -> HandlerResult {
    a.require(Permission::Panels, "panel.capacity").await?;
    a.v.set_state(State::Admin(AdminStep::PanelCapacity { panel: id }))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.customers.cancel"),
        AdminAction::Panel(id),
    )]]);
    a.v.say(tr(a.lang(), "admin.panels.ask_capacity"), keyboard)
        .await
}

/// The typed capacity: a number of accounts, or `-` for no limit.
pub async fn set_capacity(a: &Admin, id: PanelId, typed: &str) -> HandlerResult {
    a.require(Permission::Panels, "panel.capacity").await?;
    let ctx = &a.v.ctx;
    let typed = typed.trim();
    let capacity = if typed == "-" {
        Some(None)
    } else {
        typed
            .replace([',', '٬'], "")
            .parse::<i32>()
            .ok()
            .filter(|c| *c > 0)
            .map(Some)
    };
    let Some(capacity) = capacity else {
        let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
            tr(a.lang(), "admin.customers.cancel"),
            AdminAction::Panel(id),
        )]]);
        return a
            .v
            .say(tr(a.lang(), "admin.panels.bad_capacity"), keyboard)
            .await;
    };
    match panels::set_capacity(&ctx.db, &a.access, id, capacity, ctx.clock.now()).await {
        Ok(()) => show(a, id, Some(tr(a.lang(), "admin.panels.capacity_set"))).await,
        Err(panels::PanelChangeError::NotFound) => a.v.stale().await,
        Err(e) => Err(e.into()),
    }
}

/// A notice: a panel stopped answering (`down`) or answers again; to the staff chat's alerts.
pub async fn notify_health(
    bot: &crate::ctx::TgBot,
    ctx: &crate::ctx::Ctx,
    id: PanelId,
    down: bool,
) -> HandlerResult {
    use crate::staff_chat::{InTopic, Topic};
    let Some(staff) = ctx.staff_chat else {
        return Err(BotError::Undeliverable(
            "no staff chat configured (shop.staff_chat_id)".into(),
        ));
    };
    let all = panels::panels(&ctx.db).await.map_err(store_error)?;
    let Some(p) = all.into_iter().find(|p| p.id == id) else {
        return Ok(());
    };
    let l = ctx.default_language;
    let location = vpnshop_core::catalog::location(&ctx.db, p.location_id)
        .await?
        .map_or("?".to_string(), |l| format!("{} {}", l.flag, l.name));
    let text = if down {
        tr_with(
            l,
            "admin.panels.went_down",
            &[
                ("name", &escape(&p.name)),
                ("location", &escape(&location)),
                ("why", &escape(p.last_error.as_deref().unwrap_or("?"))),
            ],
        )
    } else {
        tr_with(
            l,
            "admin.panels.came_back",
            &[("name", &escape(&p.name)), ("location", &escape(&location))],
        )
    };
    ctx.staff.pace().await;
    bot.send_message(ChatId(staff), text)
        .in_topic(ctx.staff.topic(Topic::Alerts))
        .await?;
    Ok(())
}

/// A notice: the scheduled reconciliation found differences; staff hear it in the alerts.
pub async fn notify_drift(
    bot: &crate::ctx::TgBot,
    ctx: &crate::ctx::Ctx,
    items: u64,
) -> HandlerResult {
    use crate::staff_chat::{InTopic, Topic};
    let Some(staff) = ctx.staff_chat else {
        return Err(BotError::Undeliverable(
            "no staff chat configured (shop.staff_chat_id)".into(),
        ));
    };
    let text = tr_with(
        ctx.default_language,
        "admin.reconcile.alert",
        &[("count", &items.to_string())],
    );
    ctx.staff.pace().await;
    bot.send_message(ChatId(staff), text)
        .in_topic(ctx.staff.topic(Topic::Alerts))
        .await?;
    Ok(())
}
