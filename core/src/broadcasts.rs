//! Broadcasts: one message to many customers, delivered once each, at Telegram's pace, and
//! resumable after any crash.
//!
//! Making a broadcast writes one `broadcast_deliveries` row per recipient (unique per broadcast
//! and customer) in the same transaction as the broadcast and its sending job, so the audience is
//! fixed the moment the admin confirms. The sender claims a row (`queued → sending`) right
//! before the call to Telegram and records how it went right after; a row found still `sending`
//! once nobody can be sending it (the process died mid-call) is counted as failed, never sent
//! again: a customer gets the message at most once, whatever happens.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::audit::Entry;
use crate::customers::Language;
use crate::entities::subscriptions;
use crate::entities::{broadcast_deliveries as rows, broadcasts, customers, orders, panels};
use crate::ids::{BroadcastId, CustomerId, LocationId, PlanId, TelegramId};
use crate::jobs::{self, NewJob, Payload};
use crate::orders::{OrderKind, OrderStatus};
use crate::subscriptions::SubscriptionStatus;

text_column! {
    /// Where a broadcast is in its life.
    pub enum BroadcastStatus {
        /// Its job is sending (or will, once a process takes it).
        Sending = "sending",
        /// Paused by an admin: nothing goes out until resumed.
        Paused = "paused",
        /// Stopped for good by an admin; the rows not yet sent are `cancelled`.
        Cancelled = "cancelled",
        /// Every recipient was tried.
        Done = "done",
    }
}

text_column! {
    /// One recipient's delivery.
    pub enum DeliveryStatus {
        Queued = "queued",
        /// Claimed by a sender, which is calling Telegram now (or died doing it).
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        /// The customer blocked the bot (or deleted their account): marked, skipped next time.
        Blocked = "blocked",
        Cancelled = "cancelled",
        /// Sent, then deleted for everyone by an admin.
        Deleted = "deleted",
    }
}

/// Who a broadcast goes to. Banned customers and those who blocked the bot never are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Audience {
    All,
    /// With a subscription that is active now.
    Active,
    /// With an active subscription that ends within `days`.
    Expiring {
        days: u32,
    },
    /// Whose subscription ended in the last `days` and who has none active now: win-back.
    Expired {
        days: u32,
    },
    /// Took the free trial and never paid for anything.
    TrialOnly,
    /// Never paid for anything (trial or not).
    NeverBought,
    /// Speaking this language (those who never chose one speak the shop's default).
    Language {
        language: Language,
    },
    /// With an active subscription in this location.
    Location {
        location: LocationId,
    },
    /// With an active subscription on this plan.
    Plan {
        plan: PlanId,
    },
    /// These Telegram ids (customers of the shop among them).
    Ids {
        ids: Vec<TelegramId>,
    },
}

/// How long an "expiring" or "expired" window may be.
pub const MAX_DAYS: u32 = 365;
/// How many ids one list may name.
pub const MAX_IDS: usize = 10_000;

impl Audience {
    /// Reads a list of Telegram ids typed or pasted by an admin (separated by spaces, commas or
    /// new lines). `None` when there is no id or something else is in it.
    pub fn parse_ids(text: &str) -> Option<Audience> {
        let mut ids = Vec::new();
        for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '،') {
            if word.is_empty() {
                continue;
            }
            let id: i64 = word.parse().ok().filter(|n| *n > 0)?;
            if !ids.contains(&TelegramId::new(id)) {
                ids.push(TelegramId::new(id));
            }
        }
        (!ids.is_empty() && ids.len() <= MAX_IDS).then_some(Audience::Ids { ids })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"kind\":\"all\"}".into())
    }

    pub fn decode(text: &str) -> Audience {
        serde_json::from_str(text).unwrap_or(Audience::All)
    }
}

/// A button under a broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Extra {
    /// A link.
    Url { label: String, url: String },
    /// Opens the shop (pick a location and plan).
    Shop,
    /// Opens the customer's subscriptions, where renewing is one tap.
    Renew,
}

/// At most this many buttons under one broadcast.
pub const MAX_BUTTONS: usize = 4;

impl Extra {
    /// Reads `Label | https://…` as an admin types it.
    pub fn parse_url(text: &str) -> Option<Extra> {
        let (label, url) = text.split_once('|')?;
        let (label, url) = (label.trim(), url.trim());
        let ok = !label.is_empty()
            && label.chars().count() <= 40
            && url.len() <= 512
            && (url.starts_with("https://")
                || url.starts_with("http://")
                || url.starts_with("tg://"))
            && !url.contains(char::is_whitespace);
        ok.then(|| Extra::Url {
            label: label.to_string(),
            url: url.to_string(),
        })
    }
}

/// What an admin composes before confirming: held in their dialogue state on the server, so no
/// button carries any of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// Names this draft: sending it twice makes one broadcast.
    pub key: String,
    /// Telegram HTML.
    pub body: String,
    pub photo: Option<String>,
    pub buttons: Vec<Extra>,
    pub audience: Option<Audience>,
}

/// A new draft's key.
pub fn new_draft_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The longest text and caption Telegram takes (what shows, after formatting: the bot checks
/// that); the stored HTML may be longer by its tags.
pub const MAX_TEXT: usize = 4096;
pub const MAX_CAPTION: usize = 1024;
/// A bound on the stored HTML, tags included.
const MAX_HTML: usize = 4 * MAX_TEXT;

#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error("no broadcast {0}")]
    NotFound(BroadcastId),
    #[error("nobody is in this audience")]
    NoRecipients,
    #[error("the message is empty or longer than Telegram takes")]
    BadBody,
    #[error("the broadcast is {0:?}, which does not allow this")]
    WrongState(BroadcastStatus),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The job that sends a broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendBroadcast {
    pub broadcast: BroadcastId,
}

impl Payload for SendBroadcast {
    const KIND: &'static str = "broadcast";
}

/// The job that edits (or deletes) a broadcast's sent messages for everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviseBroadcast {
    pub broadcast: BroadcastId,
    /// Delete instead of edit.
    pub delete: bool,
}

impl Payload for ReviseBroadcast {
    const KIND: &'static str = "broadcast_revise";
}

/// The job that sends broadcast `id`. It goes on where the last attempt stopped, so it is
/// tried for as long as it takes (a database that was busy, a process killed) rather than
/// given up after a few attempts with the broadcast still marked as sending.
fn sender(id: BroadcastId, now: DateTime<Utc>) -> NewJob {
    NewJob::of(&SendBroadcast { broadcast: id }, now).attempts(10_000)
}

/// Orders that took money and kept it, for something other than a trial.
fn bought() -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(orders::Entity)
        .and_where(
            Expr::col((orders::Entity, orders::Column::CustomerId))
                .equals((customers::Entity, customers::Column::Id)),
        )
        .and_where(Expr::col((orders::Entity, orders::Column::Status)).is_in([
            OrderStatus::Paid,
            OrderStatus::Provisioning,
            OrderStatus::Fulfilled,
        ]))
        .and_where(Expr::col((orders::Entity, orders::Column::Kind)).ne(OrderKind::Trial))
        .and_where(Expr::col((orders::Entity, orders::Column::TotalMinor)).gt(0))
        .take()
}

/// The customer's subscriptions, narrowed by `also`.
fn subscription_where(also: Condition) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(subscriptions::Entity)
        .and_where(
            Expr::col((subscriptions::Entity, subscriptions::Column::CustomerId))
                .equals((customers::Entity, customers::Column::Id)),
        )
        .cond_where(also)
        .take()
}

fn active_now(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(
            Expr::col((subscriptions::Entity, subscriptions::Column::Status))
                .eq(SubscriptionStatus::Active),
        )
        .add(Expr::col((subscriptions::Entity, subscriptions::Column::ExpiresAt)).gt(now))
}

/// The condition on `customers` that selects the audience.
pub fn condition(audience: &Audience, now: DateTime<Utc>, default: Language) -> Condition {
    let reachable = Condition::all()
        .add(customers::Column::Banned.eq(false))
        .add(customers::Column::BlockedBot.eq(false));
    let days = |d: u32| Duration::days(i64::from(Ord::min(d, MAX_DAYS)));
    let sub = subscriptions::Entity;
    let only = match audience {
        Audience::All => Condition::all(),
        Audience::Active => Condition::all().add(Expr::exists(subscription_where(active_now(now)))),
        Audience::Expiring { days: d } => Condition::all()
            .add(Expr::exists(subscription_where(active_now(now).add(
                Expr::col((sub, subscriptions::Column::ExpiresAt)).lte(now + days(*d)),
            )))),
        Audience::Expired { days: d } => Condition::all()
            .add(Expr::exists(subscription_where(
                Condition::all()
                    .add(Expr::col((sub, subscriptions::Column::ExpiresAt)).lte(now))
                    .add(Expr::col((sub, subscriptions::Column::ExpiresAt)).gt(now - days(*d))),
            )))
            .add(Expr::exists(subscription_where(active_now(now))).not()),
        Audience::TrialOnly => Condition::all()
            .add(customers::Column::TrialUsed.eq(true))
            .add(Expr::exists(bought()).not()),
        Audience::NeverBought => Condition::all().add(Expr::exists(bought()).not()),
        Audience::Language { language } => {
            let mine = customers::Column::Language.eq(language.code());
            if *language == default {
                // Those who never chose one read the shop's default (or a code it does not
                // speak, which falls back to it too).
                let spoken: Vec<&str> = Language::ALL
                    .iter()
                    .filter(|l| **l != default)
                    .map(|l| l.code())
                    .collect();
                Condition::any()
                    .add(mine)
                    .add(customers::Column::Language.is_null())
                    .add(customers::Column::Language.is_not_in(spoken))
            } else {
                Condition::all().add(mine)
            }
        }
        Audience::Location { location } => {
            let in_location = Query::select()
                .column(panels::Column::Id)
                .from(panels::Entity)
                .and_where(Expr::col(panels::Column::LocationId).eq(*location))
                .take();
            Condition::all().add(Expr::exists(subscription_where(active_now(now).add(
                Expr::col((sub, subscriptions::Column::PanelId)).in_subquery(in_location),
            ))))
        }
        Audience::Plan { plan } => Condition::all().add(Expr::exists(subscription_where(
            active_now(now).add(Expr::col((sub, subscriptions::Column::PlanId)).eq(*plan)),
        ))),
        Audience::Ids { ids } => {
            Condition::all().add(customers::Column::TelegramId.is_in(ids.clone()))
        }
    };
    reachable.add(only)
}

/// How many customers the audience holds now.
pub async fn count(
    db: &impl ConnectionTrait,
    audience: &Audience,
    now: DateTime<Utc>,
    default: Language,
) -> Result<u64, DbErr> {
    customers::Entity::find()
        .filter(condition(audience, now, default))
        .count(db)
        .await
}

/// Makes the broadcast: its row, one delivery row per recipient and its sending job, all or
/// nothing. The progress message is attached afterwards ([`attach_progress`]).
pub async fn create(
    db: &DatabaseConnection,
    by: TelegramId,
    draft: &Draft,
    audience: &Audience,
    now: DateTime<Utc>,
    default: Language,
) -> Result<BroadcastId, BroadcastError> {
    if draft.body.trim().is_empty() && draft.photo.is_none()
        || draft.body.chars().count() > MAX_HTML
    {
        return Err(BroadcastError::BadBody);
    }
    let txn = crate::db::begin(db).await?;
    // Sent already (a second press, here or on another process): the same broadcast.
    if let Some(made) = broadcasts::Entity::find()
        .filter(broadcasts::Column::DraftKey.eq(draft.key.clone()))
        .one(&txn)
        .await?
    {
        return Ok(made.id);
    }
    let recipients: Vec<(CustomerId, TelegramId)> = customers::Entity::find()
        .select_only()
        .column(customers::Column::Id)
        .column(customers::Column::TelegramId)
        .filter(condition(audience, now, default))
        .order_by_asc(customers::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    if recipients.is_empty() {
        return Err(BroadcastError::NoRecipients);
    }
    let total = i32::try_from(recipients.len()).unwrap_or(i32::MAX);
    let id = broadcasts::Entity::insert(broadcasts::ActiveModel {
        created_by: Set(by),
        body: Set(draft.body.clone()),
        audience: Set(audience.encode()),
        status: Set(BroadcastStatus::Sending),
        total: Set(total),
        sent: Set(0),
        failed: Set(0),
        finished_at: Set(None),
        created_at: Set(now),
        photo: Set(draft.photo.clone()),
        buttons: Set(serde_json::to_string(&draft.buttons).unwrap_or_else(|_| "[]".into())),
        progress_chat: Set(None),
        progress_message: Set(None),
        revision: Set(0),
        started_at: Set(None),
        draft_key: Set(Some(draft.key.clone())),
        ..Default::default()
    })
    .exec(&txn)
    .await?
    .last_insert_id;
    for chunk in recipients.chunks(500) {
        rows::Entity::insert_many(chunk.iter().map(|(customer, chat)| rows::ActiveModel {
            broadcast_id: Set(id),
            customer_id: Set(*customer),
            status: Set(DeliveryStatus::Queued),
            telegram_message_id: Set(None),
            error: Set(None),
            attempted_at: Set(None),
            chat_id: Set(chat.get()),
            revision: Set(0),
            ..Default::default()
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    jobs::enqueue(&txn, sender(id, now), now).await?;
    Entry::new(Some(by), "broadcast.create")
        .target(format!("broadcast:{id}"))
        .details(format!("{} recipients; {}", total, audience.encode()))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(id)
}

pub async fn get(
    db: &impl ConnectionTrait,
    id: BroadcastId,
) -> Result<broadcasts::Model, BroadcastError> {
    broadcasts::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(BroadcastError::NotFound(id))
}

/// The buttons stored with a broadcast.
pub fn buttons_of(b: &broadcasts::Model) -> Vec<Extra> {
    serde_json::from_str(&b.buttons).unwrap_or_default()
}

/// Remembers the message that shows the broadcast's progress (the sender edits it).
pub async fn attach_progress(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    chat: i64,
    message: i64,
) -> Result<(), DbErr> {
    broadcasts::Entity::update_many()
        .col_expr(broadcasts::Column::ProgressChat, Some(chat).into())
        .col_expr(broadcasts::Column::ProgressMessage, Some(message).into())
        .filter(broadcasts::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Where the deliveries stand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: u64,
    pub sent: u64,
    pub failed: u64,
    pub blocked: u64,
    pub cancelled: u64,
    pub deleted: u64,
    /// Not tried yet (queued), or being sent right now.
    pub left: u64,
    /// Sent and showing the latest revision.
    pub revised: u64,
}

pub async fn progress(db: &impl ConnectionTrait, id: BroadcastId) -> Result<Progress, DbErr> {
    let b = broadcasts::Entity::find_by_id(id).one(db).await?;
    let revision = b.map_or(0, |b| b.revision);
    let counts: Vec<(DeliveryStatus, i32, i64)> = rows::Entity::find()
        .select_only()
        .column(rows::Column::Status)
        .column(rows::Column::Revision)
        .column_as(Expr::col(rows::Column::Id).count(), "n")
        .filter(rows::Column::BroadcastId.eq(id))
        .group_by(rows::Column::Status)
        .group_by(rows::Column::Revision)
        .into_tuple()
        .all(db)
        .await?;
    let mut p = Progress::default();
    for (status, shows, n) in counts {
        let n = u64::try_from(n).unwrap_or(0);
        let current = shows >= revision;
        p.total += n;
        match status {
            DeliveryStatus::Queued | DeliveryStatus::Sending => p.left += n,
            DeliveryStatus::Sent => {
                p.sent += n;
                if current {
                    p.revised += n;
                }
            }
            DeliveryStatus::Failed => p.failed += n,
            DeliveryStatus::Blocked => p.blocked += n,
            DeliveryStatus::Cancelled => p.cancelled += n,
            DeliveryStatus::Deleted => p.deleted += n,
        }
    }
    Ok(p)
}

/// Moves a broadcast from one of `from` to `to`: false when it was in none of them.
async fn transition(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    from: &[BroadcastStatus],
    to: BroadcastStatus,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = broadcasts::Entity::update_many()
        .col_expr(broadcasts::Column::Status, to.into())
        .filter(broadcasts::Column::Id.eq(id))
        .filter(broadcasts::Column::Status.is_in(from.iter().copied()));
    if matches!(to, BroadcastStatus::Cancelled | BroadcastStatus::Done) {
        q = q.col_expr(broadcasts::Column::FinishedAt, Some(now).into());
    }
    Ok(q.exec(db).await?.rows_affected == 1)
}

/// What an admin does to a running broadcast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

/// Pauses, resumes or cancels; audited. Resuming queues a sending job again; cancelling marks
/// every row not yet tried as cancelled.
pub async fn control(
    db: &DatabaseConnection,
    by: TelegramId,
    id: BroadcastId,
    what: Control,
    now: DateTime<Utc>,
) -> Result<(), BroadcastError> {
    let b = get(db, id).await?;
    let txn = crate::db::begin(db).await?;
    let ok = match what {
        Control::Pause => {
            transition(
                &txn,
                id,
                &[BroadcastStatus::Sending],
                BroadcastStatus::Paused,
                now,
            )
            .await?
        }
        Control::Resume => {
            let ok = transition(
                &txn,
                id,
                &[BroadcastStatus::Paused],
                BroadcastStatus::Sending,
                now,
            )
            .await?;
            let running = jobs::is_open(
                &txn,
                SendBroadcast::KIND,
                &serde_json::to_value(SendBroadcast { broadcast: id }).unwrap_or_default(),
            )
            .await?;
            // A sender paused a moment ago may not have noticed yet: it goes on by itself.
            if ok && !running {
                jobs::enqueue(&txn, sender(id, now), now).await?;
            }
            ok
        }
        Control::Cancel => {
            let ok = transition(
                &txn,
                id,
                &[BroadcastStatus::Sending, BroadcastStatus::Paused],
                BroadcastStatus::Cancelled,
                now,
            )
            .await?;
            if ok {
                rows::Entity::update_many()
                    .col_expr(rows::Column::Status, DeliveryStatus::Cancelled.into())
                    .filter(rows::Column::BroadcastId.eq(id))
                    .filter(rows::Column::Status.eq(DeliveryStatus::Queued))
                    .exec(&txn)
                    .await?;
                // Left in flight by a process that died: nobody will record them now.
                settle_interrupted(&txn, id, now - Duration::minutes(1)).await?;
            }
            ok
        }
    };
    if !ok {
        return Err(BroadcastError::WrongState(b.status));
    }
    let action = match what {
        Control::Pause => "broadcast.pause",
        Control::Resume => "broadcast.resume",
        Control::Cancel => "broadcast.cancel",
    };
    Entry::new(Some(by), action)
        .target(format!("broadcast:{id}"))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The next rows waiting to be sent, oldest first.
pub async fn waiting(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    limit: u64,
) -> Result<Vec<rows::Model>, DbErr> {
    rows::Entity::find()
        .filter(rows::Column::BroadcastId.eq(id))
        .filter(rows::Column::Status.eq(DeliveryStatus::Queued))
        .order_by_asc(rows::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Claims a row for sending, right before the call: false when someone else took it (or the
/// broadcast was cancelled meanwhile).
pub async fn claim(db: &impl ConnectionTrait, row: i64, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let r = rows::Entity::update_many()
        .col_expr(rows::Column::Status, DeliveryStatus::Sending.into())
        .col_expr(rows::Column::AttemptedAt, Some(now).into())
        .filter(rows::Column::Id.eq(row))
        .filter(rows::Column::Status.eq(DeliveryStatus::Queued))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// How one send ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        message: i64,
    },
    /// The customer blocked the bot or is gone: they are marked and left out of later ones.
    Blocked {
        customer: CustomerId,
        why: String,
    },
    /// Not sent for sure (Telegram said "retry after", or the connection never opened): back in
    /// the queue.
    NotSent,
    /// Telegram refused it, or the outcome is unknown (a timeout after sending): never retried.
    Failed {
        why: String,
    },
}

/// Records how a claimed row's send ended.
pub async fn record(db: &impl ConnectionTrait, row: i64, outcome: Outcome) -> Result<(), DbErr> {
    let q = rows::Entity::update_many()
        .filter(rows::Column::Id.eq(row))
        .filter(rows::Column::Status.eq(DeliveryStatus::Sending));
    match outcome {
        Outcome::Sent { message } => {
            q.col_expr(rows::Column::Status, DeliveryStatus::Sent.into())
                .col_expr(rows::Column::TelegramMessageId, Some(message).into())
                .exec(db)
                .await?;
        }
        Outcome::Blocked { customer, why } => {
            q.col_expr(rows::Column::Status, DeliveryStatus::Blocked.into())
                .col_expr(rows::Column::Error, Some(why).into())
                .exec(db)
                .await?;
            customers::Entity::update_many()
                .col_expr(customers::Column::BlockedBot, true.into())
                .filter(customers::Column::Id.eq(customer))
                .exec(db)
                .await?;
        }
        Outcome::NotSent => {
            q.col_expr(rows::Column::Status, DeliveryStatus::Queued.into())
                .col_expr(
                    rows::Column::AttemptedAt,
                    Option::<DateTime<Utc>>::None.into(),
                )
                .exec(db)
                .await?;
        }
        Outcome::Failed { why } => {
            q.col_expr(rows::Column::Status, DeliveryStatus::Failed.into())
                .col_expr(rows::Column::Error, Some(why).into())
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// What a row still `sending` after a crash says: it may or may not have reached the customer.
pub const INTERRUPTED: &str = "interrupted: the process stopped during the call; not sent again";

/// Rows claimed before `cutoff` and never recorded: their sender died mid-call. They count as
/// failed (at most once: never sent again). How many there were.
pub async fn settle_interrupted(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(rows::Entity::update_many()
        .col_expr(rows::Column::Status, DeliveryStatus::Failed.into())
        .col_expr(rows::Column::Error, Some(INTERRUPTED.to_string()).into())
        .filter(rows::Column::BroadcastId.eq(id))
        .filter(rows::Column::Status.eq(DeliveryStatus::Sending))
        .filter(rows::Column::AttemptedAt.lt(cutoff))
        .exec(db)
        .await?
        .rows_affected)
}

/// Marks the broadcast done when no row is waiting or being sent: whether it is over now (also
/// true when it had already ended, been paused or cancelled: the sender stops either way).
pub async fn finish_if_done(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let open = rows::Entity::find()
        .filter(rows::Column::BroadcastId.eq(id))
        .filter(rows::Column::Status.is_in([DeliveryStatus::Queued, DeliveryStatus::Sending]))
        .count(db)
        .await?;
    if open > 0 {
        return Ok(false);
    }
    let p = progress(db, id).await?;
    broadcasts::Entity::update_many()
        .col_expr(
            broadcasts::Column::Sent,
            i32::try_from(p.sent).unwrap_or(i32::MAX).into(),
        )
        .col_expr(
            broadcasts::Column::Failed,
            i32::try_from(p.failed + p.blocked)
                .unwrap_or(i32::MAX)
                .into(),
        )
        .filter(broadcasts::Column::Id.eq(id))
        .exec(db)
        .await?;
    transition(
        db,
        id,
        &[BroadcastStatus::Sending],
        BroadcastStatus::Done,
        now,
    )
    .await?;
    Ok(true)
}

/// Notes when sending first started (for the rate shown).
pub async fn started(
    db: &impl ConnectionTrait,
    id: BroadcastId,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    broadcasts::Entity::update_many()
        .col_expr(broadcasts::Column::StartedAt, Some(now).into())
        .filter(broadcasts::Column::Id.eq(id))
        .filter(broadcasts::Column::StartedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces the text of every sent message (a new revision) or deletes them all, for everyone:
/// queues the job that does it. Only once the broadcast has ended; audited.
pub async fn revise(
    db: &DatabaseConnection,
    by: TelegramId,
    id: BroadcastId,
    new_body: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), BroadcastError> {
    let b = get(db, id).await?;
    if !matches!(b.status, BroadcastStatus::Done | BroadcastStatus::Cancelled) {
        return Err(BroadcastError::WrongState(b.status));
    }
    let txn = crate::db::begin(db).await?;
    let delete = new_body.is_none();
    if let Some(body) = new_body {
        if body.trim().is_empty() || body.chars().count() > MAX_HTML {
            return Err(BroadcastError::BadBody);
        }
        broadcasts::Entity::update_many()
            .col_expr(broadcasts::Column::Body, body.to_string().into())
            .col_expr(
                broadcasts::Column::Revision,
                Expr::col(broadcasts::Column::Revision).add(1),
            )
            .filter(broadcasts::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    jobs::enqueue(
        &txn,
        NewJob::of(
            &ReviseBroadcast {
                broadcast: id,
                delete,
            },
            now,
        ),
        now,
    )
    .await?;
    Entry::new(
        Some(by),
        if delete {
            "broadcast.delete"
        } else {
            "broadcast.edit"
        },
    )
    .target(format!("broadcast:{id}"))
    .change(b.body, new_body.unwrap_or("").to_string())
    .record(&txn, now)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Sent rows after `after` that do not show the latest revision yet (or, when deleting, every
/// sent row).
pub async fn to_revise(
    db: &impl ConnectionTrait,
    b: &broadcasts::Model,
    delete: bool,
    after: i64,
    limit: u64,
) -> Result<Vec<rows::Model>, DbErr> {
    let mut q = rows::Entity::find()
        .filter(rows::Column::BroadcastId.eq(b.id))
        .filter(rows::Column::Id.gt(after))
        .filter(rows::Column::Status.eq(DeliveryStatus::Sent));
    if !delete {
        q = q.filter(rows::Column::Revision.lt(b.revision));
    }
    q.order_by_asc(rows::Column::Id).limit(limit).all(db).await
}

/// The row now shows `revision` (or was deleted, or can no longer be changed: either way it is
/// not tried again).
pub async fn revised(
    db: &impl ConnectionTrait,
    row: i64,
    revision: i32,
    deleted: bool,
) -> Result<(), DbErr> {
    let mut q = rows::Entity::update_many()
        .col_expr(rows::Column::Revision, revision.into())
        .filter(rows::Column::Id.eq(row));
    if deleted {
        q = q.col_expr(rows::Column::Status, DeliveryStatus::Deleted.into());
    } else {
        // A newer edit got there first: it stays.
        q = q.filter(rows::Column::Revision.lt(revision));
    }
    q.exec(db).await?;
    Ok(())
}

/// The latest broadcasts, newest first.
pub async fn latest(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<broadcasts::Model>, DbErr> {
    broadcasts::Entity::find()
        .order_by_desc(broadcasts::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
