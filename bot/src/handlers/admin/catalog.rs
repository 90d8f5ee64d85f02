//! `/location …`, `/plan …`, `/card …`, `/promo …` typed in the bot: the same commands (and the
//! same code) as `vpnshop location …` on the server, so what an admin learns in one place works
//! in the other. Each needs its permission when it runs; each change is audited with the line
//! that made it.
use clap::Parser;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::audit::Entry;
use vpnshop_core::staff::Permission;

use super::{Admin, back};
use crate::cli::catalog::{
    self, CardCommand, CatalogAdminError, LocationCommand, PlanCommand, PromoCommand,
};
use crate::errors::HandlerResult;
use crate::text::{escape, tr_with};

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

/// Runs `/<family> <rest>`.
pub async fn run(a: &Admin, family: Family, rest: &str) -> HandlerResult {
    a.require(family.permission(), family.name()).await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let args = words(rest);
    let keyboard = InlineKeyboardMarkup::new(vec![vec![back(lang)]]);
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
    let text = match result {
        Ok(()) => {
            if changes {
                Entry::new(Some(a.access.who), &format!("catalog.{}", family.name()))
                    .target(family.name())
                    .details(rest.chars().take(500).collect::<String>())
                    .record(db, now)
                    .await?;
            }
            format!(
                "<pre>{}</pre>",
                escape(String::from_utf8_lossy(&out).trim())
            )
        }
        Err(why) => tr_with(
            lang,
            "admin.catalog.refused",
            &[
                ("command", family.name()),
                ("why", &format!("<pre>{}</pre>", escape(why.trim()))),
            ],
        ),
    };
    a.v.say(text, keyboard).await
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
