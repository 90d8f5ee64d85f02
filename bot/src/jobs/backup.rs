//! The scheduled backup, every `backups.every_hours`: made and proven by core (`backups::make`),
//! the oldest beyond `backups.keep` removed, and sent to every owner as a document — in parts
//! when it is larger than a bot may upload — with what was verified, or what failed, in the
//! owner's language.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::ExposeSecret;
use teloxide::prelude::*;
use teloxide::types::{InputFile, ParseMode};
use vpnshop_core::backups::{self, Made};
use vpnshop_core::customers::Language;
use vpnshop_core::jobs::{Job, JobError, Recurring};
use vpnshop_core::staff::{self, Role};

use crate::ctx::{Ctx, TgBot};
use crate::text::{escape, tr_with};

/// Telegram takes uploads from bots up to 50 MB; parts stay under it with room for the form.
pub const PART: usize = 49 << 20;

/// Its kind and cadence (daily, doing nothing, when scheduled backups are off).
pub fn every(ctx: &Ctx) -> Recurring {
    Recurring {
        kind: "backup",
        every: chrono::Duration::hours(i64::from(ctx.backups.every_hours.max(1))),
    }
}

pub async fn run(bot: TgBot, ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    if ctx.backups.every_hours == 0 {
        return Ok(());
    }
    let dir = PathBuf::from(&ctx.backups.dir);
    let made = match backups::key_from_env() {
        Ok(key) => {
            backups::make(
                &ctx.db,
                ctx.database_url.expose_secret(),
                &dir,
                key.as_ref(),
                ctx.clock.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let owners = owners(&ctx).await?;
    match made {
        Ok(made) => {
            // Only a proven backup makes room: a week of failures never removes the last good
            // one.
            if made.verified()
                && let Err(e) = backups::prune(&dir, ctx.backups.keep as usize)
            {
                tracing::warn!(error = %e, "cannot remove old backups");
            }
            tracing::info!(file = %made.path.display(), verified = made.verified(), "backup made");
            if ctx.backups.send_to_owners {
                for (owner, lang) in owners {
                    if let Err(e) = send(&bot, owner, lang, &made).await {
                        tracing::warn!(owner, error = %e, "cannot send the backup to an owner");
                    }
                }
            }
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "the scheduled backup failed");
            for (owner, lang) in owners {
                let error = crate::text::cut(&e.to_string(), 600);
                let text = tr_with(lang, "backup.failed", &[("error", &escape(&error))]);
                let _ = bot.send_message(ChatId(owner), text).await;
            }
            // Said to the owners; the next slot tries again.
            Ok(())
        }
    }
}

/// Owners' chats and languages.
async fn owners(ctx: &Ctx) -> Result<Vec<(i64, Language)>, JobError> {
    let mut out = Vec::new();
    for m in staff::list(&ctx.db).await? {
        if m.access.role != Role::Owner {
            continue;
        }
        let lang = match vpnshop_core::customers::by_telegram_id(&ctx.db, m.access.who).await? {
            Some(c) => crate::handlers::readers::lang(ctx, &c),
            None => ctx.default_language,
        };
        out.push((m.access.who.get(), lang));
    }
    Ok(out)
}

/// What the owner reads with the file.
pub fn caption(lang: Language, made: &Made) -> String {
    let c = &made.census;
    let name = made
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // Cut before escaping, so no tag or entity is ever cut in half.
    let problems = crate::text::cut(&made.problems.join("; "), 600);
    let mut text = if made.verified() {
        tr_with(
            lang,
            "backup.verified",
            &[
                ("file", &escape(&name)),
                ("customers", &c.count("customers").to_string()),
                ("subscriptions", &c.count("subscriptions").to_string()),
                ("orders", &c.count("orders").to_string()),
            ],
        )
    } else {
        tr_with(
            lang,
            "backup.not_verified",
            &[("file", &escape(&name)), ("problems", &escape(&problems))],
        )
    };
    text.push('\n');
    text.push_str(&format!("sha256 <code>{}</code>", made.sha256));
    text
}

/// The backup as documents: one, or numbered parts of at most [`PART`] bytes to join with
/// `cat`.
pub async fn send(
    bot: &TgBot,
    owner: i64,
    lang: Language,
    made: &Made,
) -> Result<(), teloxide::RequestError> {
    let bytes = std::fs::read(&made.path).map_err(|e| teloxide::RequestError::Io(Arc::new(e)))?;
    let name = file_name(&made.path);
    let parts: Vec<&[u8]> = bytes.chunks(PART).collect();
    let many = parts.len() > 1;
    for (i, part) in parts.iter().enumerate() {
        let file = if many {
            // Zero-padded, so `cat name.part*` joins them in order.
            let width = parts.len().to_string().len();
            format!("{name}.part{:0width$}of{}", i + 1, parts.len())
        } else {
            name.clone()
        };
        let mut q = bot
            .send_document(
                ChatId(owner),
                InputFile::memory(part.to_vec()).file_name(file),
            )
            .parse_mode(ParseMode::Html);
        if i == 0 {
            let mut text = caption(lang, made);
            if many {
                text.push('\n');
                text.push_str(&tr_with(
                    lang,
                    "backup.parts",
                    &[("n", &parts.len().to_string()), ("file", &escape(&name))],
                ));
            }
            q = q.caption(text);
        }
        q.await?;
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "backup".into())
}
