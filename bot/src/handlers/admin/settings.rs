//! `/settings`: what owners and admins change while the shop runs, over the config's defaults —
//! maintenance mode, the channel customers must join before buying or taking the trial, which
//! plan is the free trial, and the help text in each language. Every change is core's
//! (`overrides::set_*`, `maintenance::set`), needs the `settings` permission and is audited.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::catalog;
use vpnshop_core::customers::Language;
use vpnshop_core::overrides::{self, OverrideError, Trial};
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, back, button};
use crate::callback::{AdminAction, TrialPick};
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{escape, tr, tr_with};

/// The settings screen, with `note` (what just changed) on top.
pub async fn show(a: &Admin, note: Option<String>) -> HandlerResult {
    a.require(Permission::Settings, "settings.view").await?;
    a.v.set_state(State::Idle).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    ctx.overrides.forget();
    let o = ctx.overrides.get(&ctx.db).await;
    let maintenance = vpnshop_core::maintenance::is_on(&ctx.db).await?;
    ctx.maintenance.remember(maintenance);
    let on_off = |on: bool| {
        tr(
            lang,
            if on {
                "admin.settings.state_on"
            } else {
                "admin.settings.state_off"
            },
        )
    };
    let channel = o.required_channel.as_ref().map_or_else(
        || tr(lang, "admin.settings.none"),
        |c| escape(&c.handle()).into_owned(),
    );
    let trial = match o.trial_plan(ctx.sales.trial_plan.as_deref()) {
        None => tr(lang, "admin.settings.state_off"),
        Some(code) => match catalog::plan_by_code(&ctx.db, code).await? {
            Some(p) => format!("{} (<code>{}</code>)", escape(&p.name), escape(code)),
            None => format!("<code>{}</code>", escape(code)),
        },
    };
    let trial_source = match o.trial {
        None => tr(lang, "admin.settings.from_config"),
        Some(_) => String::new(),
    };
    let help = Language::ALL
        .iter()
        .map(|l| {
            let which = match o.help(*l) {
                Some(_) => tr(lang, "admin.settings.custom"),
                None => tr(lang, "admin.settings.built_in"),
            };
            format!("{}: {which}", l.code())
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr_with(
        lang,
        "admin.settings.body",
        &[
            ("maintenance", &on_off(maintenance)),
            ("channel", &channel),
            ("trial", &format!("{trial}{trial_source}")),
            ("help", &help),
        ],
    ));
    let mut rows = vec![
        vec![button(
            tr(
                lang,
                if maintenance {
                    "admin.settings.maintenance_off"
                } else {
                    "admin.settings.maintenance_on"
                },
            ),
            AdminAction::SetMaintenance(!maintenance),
        )],
        vec![button(
            tr(lang, "admin.settings.channel"),
            AdminAction::AskChannel,
        )],
    ];
    if o.required_channel.is_some() {
        rows.push(vec![button(
            tr(lang, "admin.settings.channel_off"),
            AdminAction::ChannelOff,
        )]);
    }
    rows.push(vec![button(
        tr(lang, "admin.settings.trial"),
        AdminAction::TrialPlans,
    )]);
    rows.push(
        Language::ALL
            .iter()
            .map(|l| {
                button(
                    tr_with(lang, "admin.settings.help", &[("lang", l.code())]),
                    AdminAction::AskHelp(*l),
                )
            })
            .collect(),
    );
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

pub async fn set_maintenance(a: &Admin, on: bool) -> HandlerResult {
    a.require(Permission::Settings, "settings.maintenance")
        .await?;
    let ctx = &a.v.ctx;
    vpnshop_core::maintenance::set(&ctx.db, &a.access, on, ctx.clock.now()).await?;
    ctx.maintenance.remember(on);
    let key = if on {
        "admin.maintenance.is_on"
    } else {
        "admin.maintenance.is_off"
    };
    show(a, Some(tr(a.lang(), key))).await
}

/// Asks for the channel's @username or link.
pub async fn ask_channel(a: &Admin) -> HandlerResult {
    a.require(Permission::Settings, "settings.channel").await?;
    a.v.set_state(State::Admin(AdminStep::Channel)).await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.support.cancel"),
        AdminAction::Settings,
    )]]);
    a.v.say(tr(a.lang(), "admin.settings.ask_channel"), keyboard)
        .await
}

/// The typed channel (or `None`: no channel any more).
pub async fn set_channel(a: &Admin, typed: Option<&str>) -> HandlerResult {
    a.require(Permission::Settings, "settings.channel").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    match overrides::set_channel(&ctx.db, &a.access, typed, ctx.clock.now()).await {
        Ok((_, now_is)) => {
            ctx.overrides.forget();
            let note = match typed {
                Some(_) => tr_with(
                    lang,
                    "admin.settings.channel_set",
                    &[("channel", &escape(&now_is))],
                ),
                None => tr(lang, "admin.settings.channel_cleared"),
            };
            show(a, Some(note)).await
        }
        Err(OverrideError::BadChannel) => {
            // Still waiting for a usable one.
            let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
                tr(lang, "admin.support.cancel"),
                AdminAction::Settings,
            )]]);
            a.v.say(tr(lang, "admin.settings.bad_channel"), keyboard)
                .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The trial plans to choose from, plus "off" and "as in the config".
pub async fn trial_plans(a: &Admin) -> HandlerResult {
    a.require(Permission::Settings, "settings.trial").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let plans = catalog::all_plans(&ctx.db).await?;
    let mut rows = Vec::new();
    for p in plans.iter().filter(|p| p.is_trial && p.enabled) {
        rows.push(vec![button(
            format!("🎁 {}", p.name),
            AdminAction::SetTrial(TrialPick::Plan(p.plan_id())),
        )]);
    }
    let text = if rows.is_empty() {
        tr(lang, "admin.settings.no_trial_plans")
    } else {
        tr(lang, "admin.settings.pick_trial")
    };
    rows.push(vec![button(
        tr(lang, "admin.settings.trial_off"),
        AdminAction::SetTrial(TrialPick::Off),
    )]);
    rows.push(vec![button(
        tr(lang, "admin.settings.trial_config"),
        AdminAction::SetTrial(TrialPick::Config),
    )]);
    rows.push(vec![button(
        tr(lang, "admin.settings.title_button"),
        AdminAction::Settings,
    )]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

pub async fn set_trial(a: &Admin, pick: TrialPick) -> HandlerResult {
    a.require(Permission::Settings, "settings.trial").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let trial = match pick {
        TrialPick::Config => None,
        TrialPick::Off => Some(Trial::Off),
        TrialPick::Plan(id) => match catalog::plan(&ctx.db, id).await? {
            Some(p) => Some(Trial::Plan(p.code)),
            None => return a.v.stale().await,
        },
    };
    let note = match overrides::set_trial(&ctx.db, &a.access, trial, ctx.clock.now()).await {
        Ok(_) => tr(lang, "admin.settings.saved"),
        Err(OverrideError::NotATrialPlan(_)) => tr(lang, "admin.settings.no_trial_plans"),
        Err(e) => return Err(e.into()),
    };
    ctx.overrides.forget();
    show(a, Some(note)).await
}

/// Asks for the help text in `in_lang`.
pub async fn ask_help(a: &Admin, in_lang: Language) -> HandlerResult {
    a.require(Permission::Settings, "settings.help").await?;
    a.v.set_state(State::Admin(AdminStep::HelpText(in_lang)))
        .await?;
    let keyboard = InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.support.cancel"),
        AdminAction::Settings,
    )]]);
    let text = tr_with(
        a.lang(),
        "admin.settings.ask_help",
        &[("lang", in_lang.code())],
    );
    a.v.say(text, keyboard).await
}

/// The typed help text; `-` brings the built-in one back.
pub async fn set_help(a: &Admin, in_lang: Language, typed: &str) -> HandlerResult {
    a.require(Permission::Settings, "settings.help").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let text = if typed.trim() == "-" { "" } else { typed };
    match overrides::set_help(&ctx.db, &a.access, in_lang, text, ctx.clock.now()).await {
        Ok(_) => {
            ctx.overrides.forget();
            let note = tr_with(lang, "admin.settings.help_set", &[("lang", in_lang.code())]);
            show(a, Some(note)).await
        }
        Err(OverrideError::TooLong) => {
            let text = tr_with(
                lang,
                "admin.settings.too_long",
                &[("max", &overrides::MAX_TEXT.to_string())],
            );
            a.v.say(
                text,
                InlineKeyboardMarkup::new(vec![vec![button(
                    tr(lang, "admin.support.cancel"),
                    AdminAction::Settings,
                )]]),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
