//! `/location …`, `/plan …`, `/card …`, `/promo …` typed in the bot: the same commands (and the
//! same code) as `vpnshop location …` on the server, so what an admin learns in one place works
//! in the other. Each needs its permission when it runs; each change is audited with the line
//! that made it.
use clap::Parser;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::audit::Entry;
use vpnshop_core::staff::Permission;

use super::{Admin, back, button};
use crate::callback::AdminAction;
use crate::cli::catalog::{
    self, CardCommand, CatalogAdminError, LocationCommand, PlanCommand, PromoCommand,
};
use crate::errors::HandlerResult;
use crate::text::{count, escape, money, tr, tr_with, traffic};
use vpnshop_core::ids::{LocationId, PlanId, PromoCodeId};

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct Location {
    #[command(subcommand)]
    command: LocationCommand,
}

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct Plan {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct Card {
    #[command(subcommand)]
    command: CardCommand,
}

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct Promo {
    #[command(subcommand)]
    command: PromoCommand,
}

/// Which catalog command was typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Location,
    Plan,
    Card,
    Promo,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Location => "location",
            Family::Plan => "plan",
            Family::Card => "card",
            Family::Promo => "promo",
        }
    }

    fn permission(self) -> Permission {
        match self {
            Family::Location | Family::Plan => Permission::Catalog,
            Family::Card => Permission::Cards,
            Family::Promo => Permission::Promos,
        }
    }
}

/// Splits a typed line into words: quotes group words (`--name "1 month"`), and the long dash
/// some phones put for `--` is read as `--`.
pub(super) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for ch in line.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '«' | '“') => {
                quote = Some(match ch {
                    '«' => '»',
                    '“' => '”',
                    _ => '"',
                });
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                started = false;
            }
            (None, c) => word.push(c),
        }
    }
    if started || !word.is_empty() {
        out.push(word);
    }
    out.into_iter()
        .map(|w| match w.strip_prefix('—') {
            Some(rest) => format!("--{rest}"),
            None => w,
        })
        .collect()
}

/// Runs `/<family> <rest>` and says what came of it.
pub async fn run(a: &Admin, family: Family, rest: &str) -> HandlerResult {
    let lang = a.lang();
    let keyboard = InlineKeyboardMarkup::new(vec![vec![back(lang)]]);
    let text = match execute(a, family, rest).await? {
        Ok(out) => out,
        Err(why) => why,
    };
    a.v.say(text, keyboard).await
}

/// Runs `<family> <rest>` as the command line would, audits a change with the line that made
/// it, and returns the output (or why it was refused) as HTML. The screens' buttons run their
/// changes through here too, so a change reads the same in `/audit` however it was made.
pub(super) async fn execute(
    a: &Admin,
    family: Family,
    rest: &str,
) -> Result<Result<String, String>, crate::errors::BotError> {
    a.require(family.permission(), family.name()).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let args = words(rest);
    let mut out: Vec<u8> = Vec::new();
    let now = ctx.clock.now();
    let db = &ctx.db;
    let changes = !matches!(args.first().map(String::as_str), Some("list") | None);
    let result: Result<(), String> = match family {
        Family::Location => match Location::try_parse_from(&args) {
            Ok(l) => catalog::location(db, l.command, now, &mut out)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.render().to_string()),
        },
        Family::Plan => match Plan::try_parse_from(&args) {
            Ok(p) => catalog::plan(db, p.command, now, &mut out)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.render().to_string()),
        },
        Family::Card => match Card::try_parse_from(&args) {
            Ok(c) => catalog::card(db, c.command, now, &mut out)
                .await
                .map_err(|e: CatalogAdminError| e.to_string()),
            Err(e) => Err(e.render().to_string()),
        },
        Family::Promo => match Promo::try_parse_from(&args) {
            Ok(p) => catalog::promo(db, p.command, now, &mut out)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.render().to_string()),
        },
    };
    Ok(match result {
        Ok(()) => {
            if changes {
                Entry::new(Some(a.access.who), &format!("catalog.{}", family.name()))
                    .target(family.name())
                    .details(rest.chars().take(500).collect::<String>())
                    .record(db, now)
                    .await?;
            }
            Ok(format!(
                "<pre>{}</pre>",
                escape(String::from_utf8_lossy(&out).trim())
            ))
        }
        Err(why) => Err(tr_with(
            lang,
            "admin.catalog.refused",
            &[
                ("command", family.name()),
                ("why", &format!("<pre>{}</pre>", escape(why.trim()))),
            ],
        )),
    })
}

/// The catalog screen: every location and plan with its state and a button to turn it off or
/// on; adding and editing are the typed commands, listed under it. `note` on top.
pub async fn screen(a: &Admin, note: Option<String>) -> HandlerResult {
    a.require(Permission::Catalog, "catalog.view").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let db = &ctx.db;
    let locations = vpnshop_core::catalog::locations(db, false).await?;
    let plans = vpnshop_core::catalog::all_plans(db).await?;
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr(lang, "admin.catalog.title"));
    let mark = |on: bool| if on { "🟢" } else { "⏸" };
    let mut rows = Vec::new();
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.catalog.locations"));
    if locations.is_empty() {
        text.push_str(" —");
    }
    for l in &locations {
        text.push_str(&format!(
            "\n{} {} {} (<code>{}</code>)",
            mark(l.enabled),
            escape(&l.flag),
            escape(&l.name),
            escape(&l.code)
        ));
        rows.push(vec![button(
            tr_with(
                lang,
                if l.enabled {
                    "admin.catalog.disable"
                } else {
                    "admin.catalog.enable"
                },
                &[("what", &l.name)],
            ),
            AdminAction::LocationEnabled(l.location_id(), !l.enabled),
        )]);
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.catalog.plans"));
    if plans.is_empty() {
        text.push_str(" —");
    }
    for p in &plans {
        let prices = vpnshop_core::catalog::prices(db, p.plan_id()).await?;
        let prices = prices
            .iter()
            .map(|m| money(lang, *m))
            .collect::<Vec<_>>()
            .join(" · ");
        let trial = if p.is_trial { " 🎁" } else { "" };
        text.push_str(&format!(
            "\n{} {}{trial} (<code>{}</code>) · {} · {} · {}",
            mark(p.enabled),
            escape(&p.name),
            escape(&p.code),
            count(lang, i64::from(p.duration_days), "days"),
            traffic(lang, p.traffic_bytes),
            if prices.is_empty() {
                "—".to_string()
            } else {
                prices
            },
        ));
        rows.push(vec![button(
            tr_with(
                lang,
                if p.enabled {
                    "admin.catalog.disable"
                } else {
                    "admin.catalog.enable"
                },
                &[("what", &p.name)],
            ),
            AdminAction::PlanEnabled(p.plan_id(), !p.enabled),
        )]);
    }
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.catalog.how"));
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// The promo codes screen: `promo list` (uses, limits and what each brought in) with a button
/// per code to stop or restart it; how to add one under it.
pub async fn promos(a: &Admin, note: Option<String>) -> HandlerResult {
    a.require(Permission::Promos, "promo.view").await?;
    let lang = a.lang();
    let listed = match execute(a, Family::Promo, "list").await? {
        Ok(out) | Err(out) => out,
    };
    let mut text = note.map(|n| format!("{n}\n\n")).unwrap_or_default();
    text.push_str(&tr(lang, "admin.promos.title"));
    text.push('\n');
    text.push_str(&listed);
    text.push_str("\n\n");
    text.push_str(&tr(lang, "admin.promos.how"));
    let mut rows = Vec::new();
    for p in vpnshop_core::promo::list(&a.v.ctx.db)
        .await?
        .iter()
        .take(20)
    {
        rows.push(vec![button(
            tr_with(
                lang,
                if p.enabled {
                    "admin.promos.disable"
                } else {
                    "admin.promos.enable"
                },
                &[("code", &p.code)],
            ),
            AdminAction::PromoEnabled(p.id, !p.enabled),
        )]);
    }
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// A code's button: `promo disable|enable <code>`, as typed.
pub async fn promo_enabled(a: &Admin, id: PromoCodeId, on: bool) -> HandlerResult {
    a.require(Permission::Promos, "promo.enable").await?;
    let Some(p) = vpnshop_core::promo::by_id(&a.v.ctx.db, id).await? else {
        return a.v.stale().await;
    };
    let line = format!("{} {}", if on { "enable" } else { "disable" }, p.code);
    let note = match execute(a, Family::Promo, &line).await? {
        Ok(out) | Err(out) => out,
    };
    promos(a, Some(note)).await
}

/// A location's button: `location disable|enable <code>`, as typed.
pub async fn location_enabled(a: &Admin, id: LocationId, on: bool) -> HandlerResult {
    a.require(Permission::Catalog, "catalog.location").await?;
    let Some(l) = vpnshop_core::catalog::location(&a.v.ctx.db, id).await? else {
        return a.v.stale().await;
    };
    switch(a, Family::Location, (&l.code, &l.name), on).await
}

/// A plan's button: `plan disable|enable <code>`, as typed. Orders already placed keep their
/// terms: they copied them when they were placed.
pub async fn plan_enabled(a: &Admin, id: PlanId, on: bool) -> HandlerResult {
    a.require(Permission::Catalog, "catalog.plan").await?;
    let Some(p) = vpnshop_core::catalog::plan(&a.v.ctx.db, id).await? else {
        return a.v.stale().await;
    };
    switch(a, Family::Plan, (&p.code, &p.name), on).await
}

/// Runs `<family> enable|disable <code>` and shows the catalog with what came of it.
async fn switch(a: &Admin, family: Family, (code, name): (&str, &str), on: bool) -> HandlerResult {
    let line = format!("{} {code}", if on { "enable" } else { "disable" });
    let note = match execute(a, family, &line).await? {
        Ok(_) => tr_with(
            a.lang(),
            if on {
                "admin.catalog.enabled"
            } else {
                "admin.catalog.disabled"
            },
            &[("what", &escape(name))],
        ),
        Err(why) => why,
    };
    screen(a, Some(note)).await
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn quoted_words_stay_together_and_long_dashes_are_flags() {
        assert_eq!(
            words(r#"add m1 --name "1 month" —days 30 --price 150,000:IRT"#),
            [
                "add",
                "m1",
                "--name",
                "1 month",
                "--days",
                "30",
                "--price",
                "150,000:IRT"
            ]
        );
        assert_eq!(
            words("add  de --name «Germany»"),
            ["add", "de", "--name", "Germany"]
        );
        assert_eq!(words(r#"add x --flag """#), ["add", "x", "--flag", ""]);
    }
}
