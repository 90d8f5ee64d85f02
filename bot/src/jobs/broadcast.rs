//! Sending a broadcast, and editing or deleting it for everyone afterwards.
//!
//! Every message takes its slot from one pace stored in the database (`[broadcasts]
//! per_second`, evenly spaced), so all broadcasts of all processes together stay under
//! Telegram's limit; a "retry after" from Telegram holds that pace for everyone. A row is claimed
//! right before its call and recorded right after, and up to [`IN_FLIGHT`] calls run at once, so
//! a slow network does not slow the pace. The job ends when the broadcast is done, paused or
//! cancelled; resuming queues a new one.
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use teloxide::prelude::*;
use teloxide::types::{MessageId, ParseMode};
use teloxide::{ApiError, RequestError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use vpnshop_core::broadcasts::{
    self, BroadcastStatus, Extra, Outcome, ReviseBroadcast, SendBroadcast,
};
use vpnshop_core::customers::Language;
use vpnshop_core::entities::{broadcast_deliveries, broadcasts as table};
use vpnshop_core::jobs::{Job, JobError};
use vpnshop_core::pace;

use crate::ctx::{Ctx, TgBot};
use crate::handlers::admin::broadcasts as broadcast_screens;

/// Calls to Telegram under way at once.
const IN_FLIGHT: usize = 32;
/// How long a call may take before its row, still `sending`, is taken for one whose sender died
/// (teloxide gives up on a request well before).
const CALL_TIMEOUT_SECS: i64 = 30;
/// How often the progress message is edited (each edit is a message of its own to Telegram).
const PROGRESS_EVERY: StdDuration = StdDuration::from_secs(3);

pub async fn send(
    bot: TgBot,
    ctx: Arc<Ctx>,
    job: SendBroadcast,
    _leased: Job,
) -> Result<(), JobError> {
    let id = job.broadcast;
    let db = &ctx.db;
    let now = ctx.clock.now();
    let cutoff = |now: DateTime<Utc>| {
        now - chrono::Duration::seconds(CALL_TIMEOUT_SECS * i64::from(ctx.clock.speed()))
    };
    broadcasts::settle_interrupted(db, id, cutoff(now)).await?;
    broadcasts::started(db, id, now).await?;
    let calls = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut meter = Meter::new();
    let mut shown = Instant::now() - PROGRESS_EVERY;
    // Whatever ends the loop (an error included), the calls under way are let finish and
    // recorded, so none of them is left for the next process to count as interrupted.
    let outcome: Result<(), JobError> = async {
        let guard = Arc::new(tokio::sync::Mutex::new(Guard::for_pace(
            &ctx.broadcast_pace,
        )));
        loop {
            let b = broadcasts::get(db, id).await.map_err(db_error)?;
            if b.status != BroadcastStatus::Sending {
                while running.join_next().await.is_some() {}
                show_progress(&bot, &ctx, id, None).await;
                return Ok(());
            }
            let batch = broadcasts::waiting(db, id, 64).await?;
            if batch.is_empty() {
                while running.join_next().await.is_some() {}
                broadcasts::settle_interrupted(db, id, cutoff(ctx.clock.now())).await?;
                if broadcasts::finish_if_done(db, id, ctx.clock.now()).await? {
                    show_progress(&bot, &ctx, id, None).await;
                    return Ok(());
                }
                // Another process is still sending the last few: wait for them (or their timeout).
                tokio::time::sleep(StdDuration::from_secs(1)).await;
                continue;
            }
            let mut checked = Instant::now();
            for row in batch {
                if checked.elapsed() > StdDuration::from_secs(1) {
                    checked = Instant::now();
                    let status = broadcasts::get(db, id).await.map_err(db_error)?.status;
                    if status != BroadcastStatus::Sending {
                        break;
                    }
                }
                let permit = calls
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                // The slot, the claim, then the wait: no database work sits between the slot and
                // the call, so calls leave on time. (A process stopped during the wait leaves that
                // one row claimed: it counts as interrupted, like a call under way at a kill.)
                let slot = pace::reserve(db, &ctx.broadcast_pace, Utc::now()).await?;
                if !broadcasts::claim(db, row.id, ctx.clock.now()).await? {
                    continue;
                }
                if let Ok(wait) = (slot - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                let (bot2, ctx2, b, guard) = (bot.clone(), ctx.clone(), b.clone(), guard.clone());
                running.spawn(async move {
                    deliver(&bot2, &ctx2, &b, &row, &guard).await;
                    drop(permit);
                });
                meter.tick();
                while running.try_join_next().is_some() {}
                if shown.elapsed() >= PROGRESS_EVERY {
                    shown = Instant::now();
                    show_progress(&bot, &ctx, id, meter.per_second()).await;
                }
            }
        }
    }
    .await;
    while running.join_next().await.is_some() {}
    outcome
}

/// Telegram's limit: messages a second to different chats.
const TELEGRAM_PER_SECOND: usize = 30;

/// Keeps this process's calls under Telegram's limit however late some leave: the slots are
/// evenly spaced, but a call that leaves late and the next one on time come closer together,
/// and enough of those would make 30 in one second. Any 30 calls in a row here span at least a
/// second and 15 ms (room for the network). Off when the pace is set above Telegram's
/// limit (a local Bot API server, tests).
struct Guard {
    recent: std::collections::VecDeque<Instant>,
    on: bool,
}

impl Guard {
    fn for_pace(rate: &pace::Rate) -> Guard {
        let step = rate.window.num_microseconds().unwrap_or(i64::MAX);
        Guard {
            recent: Default::default(),
            on: step >= 1_000_000 / TELEGRAM_PER_SECOND as i64,
        }
    }

    async fn wait(&mut self) {
        if !self.on {
            return;
        }
        if self.recent.len() == TELEGRAM_PER_SECOND
            && let Some(first) = self.recent.pop_front()
        {
            let span = StdDuration::from_millis(1_015);
            if let Some(wait) = span.checked_sub(first.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        self.recent.push_back(Instant::now());
    }
}

/// Sends rates from when this job started.
struct Meter {
    since: Instant,
    n: u64,
}

impl Meter {
    fn new() -> Meter {
        Meter {
            since: Instant::now(),
            n: 0,
        }
    }

    fn tick(&mut self) {
        self.n += 1;
    }

    fn per_second(&self) -> Option<f64> {
        let secs = self.since.elapsed().as_secs_f64();
        (secs >= 1.0 && self.n > 0).then(|| self.n as f64 / secs)
    }
}

/// Takes the next slot of the shared pace and waits for it (real time: Telegram's limit is).
async fn wait_for_slot(ctx: &Ctx) -> Result<(), JobError> {
    let now = Utc::now();
    let at = pace::reserve(&ctx.db, &ctx.broadcast_pace, now).await?;
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

fn db_error(e: broadcasts::BroadcastError) -> JobError {
    JobError::Retry(e.to_string())
}

/// The recipient's language, when a built-in button needs it.
async fn language_of(ctx: &Ctx, row: &broadcast_deliveries::Model, extras: &[Extra]) -> Language {
    if !extras
        .iter()
        .any(|e| matches!(e, Extra::Shop | Extra::Renew))
    {
        return ctx.default_language;
    }
    match crate::handlers::readers::customer(ctx, row.customer_id).await {
        Ok(c) => crate::handlers::readers::lang(ctx, &c),
        Err(_) => ctx.default_language,
    }
}

/// One recipient: the call, then its outcome recorded.
async fn deliver(
    bot: &TgBot,
    ctx: &Ctx,
    b: &table::Model,
    row: &broadcast_deliveries::Model,
    guard: &tokio::sync::Mutex<Guard>,
) {
    let extras = broadcasts::buttons_of(b);
    let lang = language_of(ctx, row, &extras).await;
    // Checked at the last moment before the call (the lock is fair, so calls keep their
    // order): a call that left late, then one on time, must not make 30 in one second.
    guard.lock().await.wait().await;
    let sent = broadcast_screens::send_copy(
        bot,
        ChatId(row.chat_id),
        lang,
        &b.body,
        b.photo.as_deref(),
        &extras,
    )
    .await;
    let outcome = match sent {
        Ok(m) => Outcome::Sent {
            message: i64::from(m.id.0),
        },
        Err(e) => judge(ctx, row, e).await,
    };
    if let Err(e) = broadcasts::record(&ctx.db, row.id, outcome).await {
        tracing::error!(row = row.id, error = %e, "cannot record a broadcast delivery");
    }
}

/// What a failed call means for its row. "Retry after" and a connection that never opened mean
/// nothing was sent; a timeout or a broken connection after sending may have delivered it, so
/// those count as failed rather than risk a second copy.
async fn judge(ctx: &Ctx, row: &broadcast_deliveries::Model, e: RequestError) -> Outcome {
    match e {
        RequestError::RetryAfter(secs) => {
            let until = Utc::now() + chrono::Duration::seconds(i64::from(secs.seconds()));
            tracing::warn!(
                retry_after = secs.seconds(),
                "Telegram asked the broadcast to slow down"
            );
            if let Err(e) = pace::hold(&ctx.db, &ctx.broadcast_pace, until, Utc::now()).await {
                tracing::error!(error = %e, "cannot hold the broadcast pace");
            }
            Outcome::NotSent
        }
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::ChatNotFound
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::CantInitiateConversation,
        ) => Outcome::Blocked {
            customer: row.customer_id,
            why: e.to_string(),
        },
        RequestError::Network(ref n) if n.is_connect() => {
            // Telegram is unreachable: nobody gets anything for a few seconds.
            let until = Utc::now() + chrono::Duration::seconds(5);
            let _ = pace::hold(&ctx.db, &ctx.broadcast_pace, until, Utc::now()).await;
            Outcome::NotSent
        }
        other => Outcome::Failed {
            why: other.to_string().chars().take(300).collect(),
        },
    }
}

/// Edits the progress message (if there is one); a failure only costs this update.
async fn show_progress(
    bot: &TgBot,
    ctx: &Ctx,
    id: vpnshop_core::ids::BroadcastId,
    rate: Option<f64>,
) {
    let shown = async {
        let b = broadcasts::get(&ctx.db, id).await.ok()?;
        let (chat, message) = (b.progress_chat?, b.progress_message?);
        let lang = match vpnshop_core::customers::by_telegram_id(&ctx.db, b.created_by).await {
            Ok(Some(c)) => crate::handlers::readers::lang(ctx, &c),
            _ => ctx.default_language,
        };
        let p = broadcasts::progress(&ctx.db, id).await.ok()?;
        let (text, keyboard) = broadcast_screens::progress(lang, &b, &p, rate);
        let _ = wait_for_slot(ctx).await;
        let r = bot
            .edit_message_text(ChatId(chat), MessageId(i32::try_from(message).ok()?), text)
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard)
            .await;
        match r {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Some(()),
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot update a broadcast's progress");
                None
            }
        }
    };
    shown.await;
}

/// Edits every sent message to the latest text, or deletes them all. Rows are walked in order
/// from where this run began; one that cannot be changed any more (older than Telegram allows)
/// is left as it is and counted in the progress.
pub async fn revise(
    bot: TgBot,
    ctx: Arc<Ctx>,
    job: ReviseBroadcast,
    _leased: Job,
) -> Result<(), JobError> {
    let db = &ctx.db;
    let b = broadcasts::get(db, job.broadcast).await.map_err(db_error)?;
    let extras = broadcasts::buttons_of(&b);
    let mut after = 0i64;
    let mut shown = Instant::now();
    loop {
        let rows = broadcasts::to_revise(db, &b, job.delete, after, 64).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in rows {
            // A newer edit was asked for: its own job takes over from here.
            if !job.delete
                && broadcasts::get(db, b.id).await.map_err(db_error)?.revision != b.revision
            {
                return Ok(());
            }
            loop {
                wait_for_slot(&ctx).await?;
                let (chat, message) = (
                    ChatId(row.chat_id),
                    MessageId(i32::try_from(row.telegram_message_id.unwrap_or(0)).unwrap_or(0)),
                );
                let r = if job.delete {
                    bot.delete_message(chat, message).await.map(|_| ())
                } else {
                    let lang = language_of(&ctx, &row, &extras).await;
                    let keyboard = broadcast_screens::keyboard(lang, &extras);
                    if b.photo.is_some() {
                        let mut q = bot
                            .edit_message_caption(chat, message)
                            .caption(b.body.clone());
                        if let Some(k) = keyboard {
                            q = q.reply_markup(k);
                        }
                        q.await.map(|_| ())
                    } else {
                        let mut q = bot.edit_message_text(chat, message, b.body.clone());
                        if let Some(k) = keyboard {
                            q = q.reply_markup(k);
                        }
                        q.await.map(|_| ())
                    }
                };
                match r {
                    Ok(()) | Err(RequestError::Api(ApiError::MessageNotModified)) => {
                        broadcasts::revised(db, row.id, b.revision, job.delete).await?;
                    }
                    Err(RequestError::RetryAfter(secs)) => {
                        let until =
                            Utc::now() + chrono::Duration::seconds(i64::from(secs.seconds()));
                        pace::hold(db, &ctx.broadcast_pace, until, Utc::now()).await?;
                        continue;
                    }
                    Err(RequestError::Network(n)) if n.is_connect() => {
                        return Err(JobError::Retry(n.to_string()));
                    }
                    Err(e) => {
                        tracing::info!(row = row.id, error = %e, "a broadcast message cannot be changed");
                    }
                }
                break;
            }
            if shown.elapsed() >= PROGRESS_EVERY {
                shown = Instant::now();
                show_progress(&bot, &ctx, b.id, None).await;
            }
        }
    }
    show_progress(&bot, &ctx, b.id, None).await;
    Ok(())
}
