//! What the background jobs are doing, for people: each recurring job's last run, next run and
//! last error, and how many one-off jobs wait. Shown by `vpnshop jobs` and the admin jobs
//! screen, both from here.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entities::jobs;
use crate::jobs::JobStatus;

/// One recurring job as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecurringState {
    pub kind: String,
    /// Its cadence, from the last two slots it was queued for.
    pub every: Option<Duration>,
    /// When its latest finished run ended, and whether it went well.
    pub last_run: Option<(DateTime<Utc>, bool)>,
    /// When its next run is due (`None`: none is queued).
    pub next_run: Option<DateTime<Utc>>,
    /// Its latest failure: when, and why.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// A run holds a lease right now.
    pub running: bool,
}

impl RecurringState {
    /// Its next run is well past due: no process runs it (the bot is down, or the job was
    /// turned off in the settings since).
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        let grace = self
            .every
            .unwrap_or(Duration::minutes(1))
            .max(Duration::minutes(1));
        !self.running && self.next_run.is_some_and(|at| now - at > grace)
    }
}

/// The slot a recurring job's dedupe key names (`kind@<unix seconds>`), if `key` is one.
fn slot(kind: &str, key: &str) -> Option<i64> {
    key.strip_prefix(kind)?.strip_prefix('@')?.parse().ok()
}

/// Every recurring job the database has seen (each run queues the next under the key
/// `kind@slot`, so the table itself says which jobs recur and how often), by name.
pub async fn recurring(db: &impl ConnectionTrait) -> Result<Vec<RecurringState>, DbErr> {
    let kinds: Vec<String> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Kind)
        .distinct()
        .filter(jobs::Column::DedupeKey.like("%@%"))
        .into_tuple()
        .all(db)
        .await?;
    let mut out = Vec::new();
    for kind in kinds {
        let of_kind = || jobs::Entity::find().filter(jobs::Column::Kind.eq(kind.as_str()));
        let latest = of_kind()
            .order_by_desc(jobs::Column::Id)
            .limit(2)
            .all(db)
            .await?;
        let slots: Vec<i64> = latest
            .iter()
            .filter_map(|j| slot(&kind, j.dedupe_key.as_deref()?))
            .collect();
        if slots.is_empty() {
            continue;
        }
        let every = match slots.as_slice() {
            [a, b] if a != b => Some(Duration::seconds((a - b).abs())),
            _ => None,
        };
        let last = of_kind()
            .filter(jobs::Column::Status.is_in([JobStatus::Done, JobStatus::Failed]))
            .order_by_desc(jobs::Column::Id)
            .one(db)
            .await?;
        let failed = of_kind()
            .filter(jobs::Column::Status.eq(JobStatus::Failed))
            .order_by_desc(jobs::Column::Id)
            .one(db)
            .await?;
        let open = of_kind()
            .filter(jobs::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .order_by_asc(jobs::Column::RunAt)
            .all(db)
            .await?;
        out.push(RecurringState {
            every,
            last_run: last.map(|j| {
                (
                    j.finished_at.unwrap_or(j.updated_at),
                    j.status == JobStatus::Done,
                )
            }),
            next_run: open
                .iter()
                .find(|j| j.status == JobStatus::Queued)
                .map(|j| j.run_at),
            last_error: failed.map(|j| {
                (
                    j.finished_at.unwrap_or(j.updated_at),
                    j.last_error.unwrap_or_default(),
                )
            }),
            running: open.iter().any(|j| j.status == JobStatus::Running),
            kind,
        });
    }
    Ok(out)
}

/// One-off jobs (notices, provisioning…) still to do, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub kind: String,
    pub waiting: u64,
    /// Of those, due already (not waiting for a retry's time).
    pub due: u64,
    /// Given up in the last day.
    pub failed_today: u64,
}

/// One-off jobs waiting or failed lately, by kind, leaving out the recurring ones.
pub async fn backlog(
    db: &impl ConnectionTrait,
    recurring: &[RecurringState],
    now: DateTime<Utc>,
) -> Result<Vec<Backlog>, DbErr> {
    let skip: Vec<&str> = recurring.iter().map(|r| r.kind.as_str()).collect();
    let count = |status: Vec<JobStatus>| {
        jobs::Entity::find()
            .select_only()
            .column(jobs::Column::Kind)
            .column_as(Expr::col(jobs::Column::Id).count(), "n")
            .filter(jobs::Column::Status.is_in(status))
            .filter(jobs::Column::Kind.is_not_in(skip.clone()))
            .group_by(jobs::Column::Kind)
    };
    let waiting: Vec<(String, i64)> = count(vec![JobStatus::Queued, JobStatus::Running])
        .into_tuple()
        .all(db)
        .await?;
    let due: Vec<(String, i64)> = count(vec![JobStatus::Queued, JobStatus::Running])
        .filter(jobs::Column::RunAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let failed: Vec<(String, i64)> = count(vec![JobStatus::Failed])
        .filter(jobs::Column::FinishedAt.gte(now - Duration::days(1)))
        .into_tuple()
        .all(db)
        .await?;
    let mut kinds: Vec<String> = waiting
        .iter()
        .chain(&failed)
        .map(|(k, _)| k.clone())
        .collect();
    kinds.sort();
    kinds.dedup();
    let find = |rows: &[(String, i64)], k: &str| {
        rows.iter()
            .find(|(kind, _)| kind == k)
            .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
    };
    Ok(kinds
        .into_iter()
        .map(|k| Backlog {
            waiting: find(&waiting, &k),
            due: find(&due, &k),
            failed_today: find(&failed, &k),
            kind: k,
        })
        .collect())
}
