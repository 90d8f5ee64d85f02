//! `/staff`: who runs the shop with which role; adding someone (by id or @username, then a role
//! they may be given), removing someone, and `/role` for owners to define custom roles. The
//! rules (who may give which role, the last owner) are core's: `staff::grant` / `revoke`.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::customers;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Grant, Permission, Role};

use super::{Admin, AdminStep, back, button};
use crate::callback::{AdminAction, RoleChoice};
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{escape, tr, tr_with};

/// The staff list, with `note` (what just changed) on top.
async fn list(a: &Admin, note: Option<String>) -> HandlerResult {
    let lang = a.lang();
    let db = &a.v.ctx.db;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr(lang, "admin.staff.title"));
    let mut rows = vec![vec![button(
        tr(lang, "admin.staff.add"),
        AdminAction::StaffAdd,
    )]];
    for m in staff::list(db).await? {
        let who = m.access.who;
        let name = match customers::by_telegram_id(db, who).await? {
            Some(c) => match c.username {
                Some(u) => format!("@{}", escape(&u)),
                None => escape(&c.first_name).into_owned(),
            },
            None => String::new(),
        };
        let config = match m.from_config {
            true => tr(lang, "admin.staff.from_config"),
            false => String::new(),
        };
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "admin.staff.line",
            &[
                ("id", &who.to_string()),
                ("name", &name),
                ("role", &escape(&m.access.title())),
                ("config", &config),
            ],
        ));
        if a.access.role.may_assign(m.access.role) && !m.from_config {
            rows.push(vec![button(
                tr_with(lang, "admin.staff.remove", &[("id", &who.to_string())]),
                AdminAction::StaffRevoke(who),
            )]);
        }
    }
    if a.access.role == Role::Owner {
        let roles = staff::custom_role_list(db).await?;
        text.push_str("\n\n");
        text.push_str(&tr_with(
            lang,
            "admin.staff.custom_roles",
            &[(
                "roles",
                &match roles.is_empty() {
                    true => "—".to_string(),
                    false => roles
                        .iter()
                        .map(|r| {
                            let perms: Vec<&str> =
                                r.permissions.iter().map(|p| p.as_str()).collect();
                            format!("{} ({})", escape(&r.name), perms.join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                },
            )],
        ));
        text.push('\n');
        text.push_str(&role_usage(a));
    }
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

fn role_usage(a: &Admin) -> String {
    let all: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    tr_with(a.lang(), "admin.role.usage", &[("all", &all.join(", "))])
}

pub async fn show(a: &Admin) -> HandlerResult {
    a.require(Permission::Staff, "staff.list").await?;
    list(a, None).await
}

/// "Add staff": asks who.
pub async fn ask_who(a: &Admin) -> HandlerResult {
    a.require(Permission::Staff, "staff.add").await?;
    a.v.set_state(State::Admin(AdminStep::StaffWho)).await?;
    a.v.say(
        tr(a.lang(), "admin.staff.ask_who"),
        InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]),
    )
    .await
}

/// The answer to "who?": a Telegram id, or the @username of someone who has used the bot. Then
/// the roles this admin may give them.
pub async fn who(a: &Admin, text: &str) -> HandlerResult {
    a.require(Permission::Staff, "staff.add").await?;
    let lang = a.lang();
    let text = text.trim();
    let target = match text.parse::<i64>() {
        Ok(id) if id > 0 => Some(TelegramId::new(id)),
        _ if text.starts_with('@') => customers::by_username(&a.v.ctx.db, text)
            .await?
            .map(|c| c.telegram_id),
        _ => None,
    };
    let Some(target) = target else {
        // The step stays: they can try again or /cancel.
        return a
            .v
            .say(
                tr_with(lang, "admin.staff.unknown_user", &[("who", &escape(text))]),
                InlineKeyboardMarkup::new(vec![vec![back(lang)]]),
            )
            .await;
    };
    a.v.set_state(State::Idle).await?;
    let mut rows = Vec::new();
    for role in [Role::Owner, Role::Admin, Role::Finance, Role::Support] {
        if a.access.role.may_assign(role) {
            rows.push(vec![button(
                tr(lang, &format!("admin.role.{role}")),
                AdminAction::StaffGrant(target, RoleChoice::Fixed(role)),
            )]);
        }
    }
    if a.access.role.may_assign(Role::Custom) {
        for r in staff::custom_role_list(&a.v.ctx.db).await? {
            rows.push(vec![button(
                escape(&r.name).into_owned(),
                AdminAction::StaffGrant(target, RoleChoice::Custom(r.id)),
            )]);
        }
    }
    rows.push(vec![back(lang)]);
    a.v.say(
        tr_with(
            lang,
            "admin.staff.pick_role",
            &[("id", &target.to_string())],
        ),
        InlineKeyboardMarkup::new(rows),
    )
    .await
}

pub async fn grant(a: &Admin, target: TelegramId, choice: RoleChoice) -> HandlerResult {
    a.require(Permission::Staff, "staff.grant").await?;
    let db = &a.v.ctx.db;
    let grant = match choice {
        RoleChoice::Fixed(r) => Grant::Role(r),
        RoleChoice::Custom(id) => {
            let roles = staff::custom_role_list(db).await?;
            let Some(r) = roles.into_iter().find(|r| r.id == id) else {
                return a.v.stale().await;
            };
            Grant::Custom(r.name)
        }
    };
    staff::grant(db, &a.access, target, grant, a.v.ctx.clock.now()).await?;
    let now = staff::access_of(db, target)
        .await?
        .map(|x| x.title())
        .unwrap_or_default();
    let note = tr_with(
        a.lang(),
        "admin.staff.granted",
        &[("id", &target.to_string()), ("role", &escape(&now))],
    );
    list(a, Some(note)).await
}

pub async fn revoke(a: &Admin, target: TelegramId) -> HandlerResult {
    a.require(Permission::Staff, "staff.revoke").await?;
    staff::revoke(&a.v.ctx.db, &a.access, target, a.v.ctx.clock.now()).await?;
    let note = tr_with(
        a.lang(),
        "admin.staff.revoked",
        &[("id", &target.to_string())],
    );
    list(a, Some(note)).await
}

/// `/role <name> <permission,permission…>`: an owner defines a custom role.
pub async fn define_role(a: &Admin, rest: &str) -> HandlerResult {
    let mut words = rest.split(|c: char| c.is_whitespace() || c == ',');
    let name = words.next().unwrap_or_default();
    let permissions: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    if name.is_empty() {
        let keyboard = InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]);
        return a.v.say(role_usage(a), keyboard).await;
    }
    staff::define_role(
        &a.v.ctx.db,
        &a.access,
        name,
        &permissions,
        a.v.ctx.clock.now(),
    )
    .await?;
    let note = tr_with(
        a.lang(),
        "admin.role.defined",
        &[
            ("name", &escape(&name.to_ascii_lowercase())),
            ("permissions", &escape(&permissions.join(", "))),
        ],
    );
    list(a, Some(note)).await
}
