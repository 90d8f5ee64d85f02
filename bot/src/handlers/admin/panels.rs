//! `/panel …` typed in the bot: `list`, `check <name>`, and `add <name> --kind … --url …
//! --location …` (the same options as `vpnshop panel add`). Adding asks for the password or API
//! key in a message of its own, which is deleted from the chat as soon as it is read — and so is
//! the `/panel add` line, whose address may hold a secret path. Then the doctor's lines.
use clap::Parser;
use secrecy::SecretString;
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardMarkup, MessageId};
use vpnshop_core::audit::Entry;
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, back};
use crate::cli::panel::{self, AddPanel, PanelCommand};
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
