//! The durable job table: provisioning, notices, broadcasts, reminders and reconciliation all
//! run from here, so a crash at any point resumes and two processes never take the same job.
//!
//! A job is leased (status `running`, `lease_until` in the future) before it runs. On PostgreSQL
//! the lease is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`; on SQLite, where row
//! locks do not exist, each candidate is claimed by a conditional `UPDATE` whose row count says
//! who won. A lease that runs out (the worker died) makes the job available again.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::Value;

use crate::clock::Clock;
use crate::entities::jobs;
use crate::ids::JobId;

pub use jobs::Model as Job;

text_column! {
    /// Where a job is. The `jobs.status` column is this type.
    pub enum JobStatus {
        /// Waiting for its `run_at`.
        Queued = "queued",
        /// Leased by a worker until its lease runs out.
        Running = "running",
        Done = "done",
        /// Gave up after its last attempt.
        Failed = "failed",
    }
}

/// What a kind of job carries, typed: the kind's name is declared once, with its payload, and
/// the runner parses the payload before the handler sees it.
pub trait Payload: serde::Serialize + serde::de::DeserializeOwned + Send + 'static {
    const KIND: &'static str;
}

/// A job that runs every `every`, once per time slot however many processes run: the slot's
/// start is in its dedupe key. Each run queues the next before doing its work, so one that fails
/// never stops the ones after it.
#[derive(Clone, Copy, Debug)]
pub struct Recurring {
    pub kind: &'static str,
    pub every: Duration,
}

impl Recurring {
    /// Queues the run at the next slot boundary (once, whoever asks).
    pub async fn schedule_next(
        &self,
        db: &impl ConnectionTrait,
        now: DateTime<Utc>,
    ) -> Result<JobId, DbErr> {
        let every = Ord::max(self.every.num_seconds(), 1);
        let next = (now.timestamp() / every + 1) * every;
        let at = DateTime::from_timestamp(next, 0).unwrap_or(now);
        enqueue(
            db,
            NewJob::new(self.kind, serde_json::json!({}), now)
                .at(at)
                .dedupe(format!("{}@{next}", self.kind))
                .attempts(1),
            now,
        )
        .await
    }
}

#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub run_at: DateTime<Utc>,
    /// At most one job ever exists per key: enqueueing it again returns the existing one.
    pub dedupe_key: Option<String>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: &str, payload: Value, now: DateTime<Utc>) -> Self {
        NewJob {
            kind: kind.to_string(),
            payload,
            run_at: now,
            dedupe_key: None,
            max_attempts: 10,
        }
    }

    /// A job of `payload`'s kind.
    pub fn of<P: Payload>(payload: &P, now: DateTime<Utc>) -> Self {
        let value = serde_json::to_value(payload).unwrap_or(Value::Null);
        Self::new(P::KIND, value, now)
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = run_at;
        self
    }

    pub fn attempts(mut self, max: i32) -> Self {
        self.max_attempts = Ord::max(max, 1);
        self
    }
}

/// The row of a job waiting for its first attempt.
fn queued(job: NewJob, now: DateTime<Utc>) -> jobs::ActiveModel {
    jobs::ActiveModel {
        kind: Set(job.kind),
        payload: Set(job.payload.to_string()),
        dedupe_key: Set(job.dedupe_key),
        status: Set(JobStatus::Queued),
        run_at: Set(job.run_at),
        attempts: Set(0),
        max_attempts: Set(job.max_attempts),
        leased_by: Set(None),
        lease_until: Set(None),
        last_error: Set(None),
        updated_at: Set(now),
        finished_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Adds a job; with a dedupe key already present, returns the existing job's id instead.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    job: NewJob,
    now: DateTime<Utc>,
) -> Result<JobId, DbErr> {
    let key = job.dedupe_key.clone();
    let am = queued(job, now);
    match key {
        None => Ok(jobs::Entity::insert(am).exec(db).await?.last_insert_id),
        Some(key) => {
            jobs::Entity::insert(am)
                .on_conflict(
                    OnConflict::column(jobs::Column::DedupeKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            let job = jobs::Entity::find()
                .filter(jobs::Column::DedupeKey.eq(&key))
                .one(db)
                .await?
                .ok_or(DbErr::RecordNotFound(key))?;
            Ok(job.id)
        }
    }
}

/// What [`mark_in_flight`] writes on a job: an attempt that finds it there knows the one before
/// died between starting its one-way call and recording how it went.
pub const IN_FLIGHT: &str = "in flight: the call was being made when the worker stopped";

/// Marks a leased job as about to make a call that cannot be taken back (a message sent): a
/// job that must happen at most once checks [`Job::died_in_flight`] first and gives up instead
/// of doing it a second time. A failure recorded afterwards replaces the mark.
pub async fn mark_in_flight(db: &impl ConnectionTrait, job: &Job) -> Result<(), DbErr> {
    jobs::Entity::update_many()
        .col_expr(jobs::Column::LastError, Some(IN_FLIGHT.to_string()).into())
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::LeasedBy.eq(job.leased_by.clone()))
        .exec(db)
        .await?;
    Ok(())
}

impl Job {
    /// The attempt before this one marked itself in flight and never said how it ended.
    pub fn died_in_flight(&self) -> bool {
        self.last_error.as_deref() == Some(IN_FLIGHT)
    }
}

/// Adds a job with a dedupe key unless one with that key exists: whether it was added now.
pub async fn enqueue_new(
    db: &impl ConnectionTrait,
    job: NewJob,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    if job.dedupe_key.is_none() {
        enqueue(db, job, now).await?;
        return Ok(true);
    }
    let am = queued(job, now);
    let added = jobs::Entity::insert(am)
        .on_conflict(
            OnConflict::column(jobs::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(added > 0)
}

fn available(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(jobs::Column::Status.eq(JobStatus::Queued))
                .add(jobs::Column::RunAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(jobs::Column::Status.eq(JobStatus::Running))
                .add(jobs::Column::LeaseUntil.lt(now)),
        )
}

/// Leases up to `limit` due jobs of the given kinds for `worker` until `now + lease_for`.
/// Each returned job has its `attempts` already counted.
pub async fn lease(
    db: &DatabaseConnection,
    worker: &str,
    kinds: &[&str],
    limit: u64,
    lease_for: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<Job>, DbErr> {
    let until = now + lease_for;
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = "UPDATE jobs SET status = 'running', leased_by = $1, lease_until = $2, \
                   attempts = attempts + 1, updated_at = $3 \
                   WHERE id IN (SELECT id FROM jobs \
                     WHERE kind = ANY($4) AND ((status = 'queued' AND run_at <= $3) \
                        OR (status = 'running' AND lease_until < $3)) \
                     ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) \
                   RETURNING *";
        let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                worker.into(),
                until.into(),
                now.into(),
                kinds.into(),
                (limit as i64).into(),
            ],
        );
        let mut leased = jobs::Entity::find().from_raw_sql(stmt).all(db).await?;
        leased.sort_by_key(|j| (j.run_at, j.id));
        return Ok(leased);
    }
    let candidates: Vec<JobId> = jobs::Entity::find()
        .select_only()
        .column(jobs::Column::Id)
        .filter(jobs::Column::Kind.is_in(kinds.iter().copied()))
        .filter(available(now))
        .order_by_asc(jobs::Column::RunAt)
        .order_by_asc(jobs::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let mut leased = Vec::new();
    for id in candidates {
        let won = jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, JobStatus::Running.into())
            .col_expr(jobs::Column::LeasedBy, worker.into())
            .col_expr(jobs::Column::LeaseUntil, until.into())
            .col_expr(
                jobs::Column::Attempts,
                Expr::col(jobs::Column::Attempts).add(1),
            )
            .col_expr(jobs::Column::UpdatedAt, now.into())
            .filter(jobs::Column::Id.eq(id))
            .filter(available(now))
            .exec(db)
            .await?;
        if won.rows_affected == 1
            && let Some(job) = jobs::Entity::find_by_id(id).one(db).await?
        {
            leased.push(job);
        }
    }
    Ok(leased)
}

fn held_by(id: JobId, worker: &str) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(id))
        .add(jobs::Column::Status.eq(JobStatus::Running))
        .add(jobs::Column::LeasedBy.eq(worker))
}

/// Marks a leased job done. False when the lease was lost (it ran out and someone else took it).
pub async fn complete(
    db: &impl ConnectionTrait,
    id: JobId,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, JobStatus::Done.into())
        .col_expr(
            jobs::Column::LeaseUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(jobs::Column::FinishedAt, Some(now).into())
        .col_expr(jobs::Column::UpdatedAt, now.into())
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Gives back every job `worker` holds, as a process that is stopping does: each is due again
/// at once for the next process, and the attempt it was leased for is not counted (it never
/// ran to an end). Jobs are replay-safe, so one stopped half-way is simply run again.
pub async fn release_all(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(jobs::Entity::update_many()
        .col_expr(jobs::Column::Status, JobStatus::Queued.into())
        .col_expr(jobs::Column::LeasedBy, Option::<String>::None.into())
        .col_expr(
            jobs::Column::LeaseUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(jobs::Column::RunAt, now.into())
        .col_expr(
            jobs::Column::Attempts,
            Expr::col(jobs::Column::Attempts).sub(1),
        )
        .col_expr(jobs::Column::UpdatedAt, now.into())
        .filter(jobs::Column::Status.eq(JobStatus::Running))
        .filter(jobs::Column::LeasedBy.eq(worker))
        .exec(db)
        .await?
        .rows_affected)
}

/// What happens to a job after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    RetryAt(DateTime<Utc>),
    GaveUp,
    /// The lease had already been lost; nothing was changed.
    LeaseLost,
}

/// The wait before attempt `n + 1`: 10 s, 20 s, 40 s, … capped at one hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds(Ord::min(10i64 << exp, 3600))
}

/// Records a failed attempt: the job is retried after a backoff, or given up for good once it
/// has used all its attempts (or at once with `Retry::Never`, for errors a retry cannot fix);
/// `Retry::After` waits exactly as long as it was told and gives the attempt back.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: &Job,
    worker: &str,
    error: &str,
    retry: Retry,
    now: DateTime<Utc>,
) -> Result<Fate, DbErr> {
    let id = job.id;
    let error: String = error.chars().take(2000).collect();
    let (fate, status, run_at, finished, attempts) = match retry {
        Retry::After(wait) => {
            let at = now + Ord::max(wait, Duration::seconds(1));
            let attempts = Ord::max(job.attempts - 1, 0);
            (Fate::RetryAt(at), JobStatus::Queued, at, None, attempts)
        }
        Retry::Never => (
            Fate::GaveUp,
            JobStatus::Failed,
            job.run_at,
            Some(now),
            job.attempts,
        ),
        Retry::Backoff if job.attempts >= job.max_attempts => (
            Fate::GaveUp,
            JobStatus::Failed,
            job.run_at,
            Some(now),
            job.attempts,
        ),
        Retry::Backoff => {
            let at = now + backoff(job.attempts);
            (Fate::RetryAt(at), JobStatus::Queued, at, None, job.attempts)
        }
    };
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::Attempts, attempts.into())
        .col_expr(jobs::Column::Status, status.into())
        .col_expr(jobs::Column::RunAt, run_at.into())
        .col_expr(jobs::Column::LastError, Some(error).into())
        .col_expr(
            jobs::Column::LeaseUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(jobs::Column::FinishedAt, finished.into())
        .col_expr(jobs::Column::UpdatedAt, now.into())
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(if r.rows_affected == 1 {
        fate
    } else {
        Fate::LeaseLost
    })
}

pub async fn get(db: &impl ConnectionTrait, id: JobId) -> Result<Option<Job>, DbErr> {
    jobs::Entity::find_by_id(id).one(db).await
}

/// Why one attempt of a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt after a backoff (a panel timed out, a 5xx).
    #[error("{0}")]
    Retry(String),
    /// No retry can fix it (the payload names something that no longer exists).
    #[error("{0}")]
    Permanent(String),
    /// The other side said when to come back (Telegram's 429 `retry_after`): retried exactly
    /// then, and the attempt is not counted — being told to wait is not a failure.
    #[error("{why} (retry after {}s)", .after.num_seconds())]
    Wait { after: Duration, why: String },
}

/// When a failed attempt is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// After the usual backoff, counting the attempt.
    Backoff,
    /// After exactly this, not counting the attempt.
    After(Duration),
    /// Never: given up now.
    Never,
}

impl From<DbErr> for JobError {
    fn from(e: DbErr) -> Self {
        JobError::Retry(format!("database: {e}"))
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler = Arc<dyn Fn(Job) -> HandlerFuture + Send + Sync>;

/// Whether a job of `kind` with exactly `payload` is waiting or running.
pub async fn is_open(
    db: &impl ConnectionTrait,
    kind: &str,
    payload: &Value,
) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    Ok(jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(kind))
        .filter(jobs::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .filter(jobs::Column::Payload.eq(payload.to_string()))
        .count(db)
        .await?
        > 0)
}

/// Keeps a leased job's lease alive while it runs: false when it was lost meanwhile (it ran
/// out and another worker took the job).
pub async fn extend_lease(
    db: &impl ConnectionTrait,
    id: JobId,
    worker: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let r = jobs::Entity::update_many()
        .col_expr(jobs::Column::LeaseUntil, Some(until).into())
        .filter(held_by(id, worker))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// How many jobs of a kind one process runs at once unless told otherwise.
const DEFAULT_PARALLEL: usize = 4;

/// The handler for one kind of job, and how many of them may run at once.
#[derive(Clone)]
struct Lane {
    handler: Handler,
    parallel: usize,
}

/// Runs leased jobs through the handler registered for their kind. Each kind has a lane of its
/// own with its own bound, so a slow sweep never holds up provisioning or notices; each job has
/// its own lease, taken just before it runs and kept alive while it runs.
#[derive(Clone)]
pub struct Runner {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    worker: String,
    lanes: HashMap<String, Lane>,
    recurring: Vec<Recurring>,
    lease_for: Duration,
    batch: u64,
}

impl Runner {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, worker: impl Into<String>) -> Self {
        Runner {
            db,
            clock,
            worker: worker.into(),
            lanes: HashMap::new(),
            recurring: Vec::new(),
            lease_for: Duration::minutes(5),
            batch: 16,
        }
    }

    /// Registers `f` for `kind`, up to four at once in this process.
    pub fn handle<F, Fut>(self, kind: &str, f: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handle_parallel(kind, DEFAULT_PARALLEL, f)
    }

    /// Registers `f` for `kind`, up to `parallel` at once in this process.
    pub fn handle_parallel<F, Fut>(mut self, kind: &str, parallel: usize, f: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let lane = Lane {
            handler: Arc::new(move |job| Box::pin(f(job))),
            parallel: parallel.max(1),
        };
        let earlier = self.lanes.insert(kind.to_string(), lane);
        assert!(earlier.is_none(), "two handlers for jobs of kind {kind}");
        self
    }

    /// Registers `f` for jobs of `P`'s kind, up to `parallel` at once; a payload that does not
    /// parse fails its job for good.
    pub fn on<P, F, Fut>(self, parallel: usize, f: F) -> Self
    where
        P: Payload,
        F: Fn(P, Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.handle_parallel(P::KIND, parallel, move |job: Job| -> HandlerFuture {
            match serde_json::from_str::<P>(&job.payload) {
                Ok(payload) => Box::pin(f(payload, job)),
                Err(e) => Box::pin(std::future::ready(Err(JobError::Permanent(format!(
                    "a {} job whose payload does not parse: {e}",
                    P::KIND
                ))))),
            }
        })
    }

    /// Registers `f` as a recurring job (one at a time): [`Runner::schedule_recurring`] queues
    /// its first run, and each run queues the next before it starts.
    pub fn every<F, Fut>(mut self, recurring: Recurring, f: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.recurring.push(recurring);
        let (db, clock) = (self.db.clone(), self.clock.clone());
        let f = Arc::new(f);
        self.handle_parallel(recurring.kind, 1, move |job| {
            let (db, clock, f) = (db.clone(), clock.clone(), f.clone());
            async move {
                recurring.schedule_next(&db, clock.now()).await?;
                f(job).await
            }
        })
    }

    /// Queues the next run of every recurring job (at start-up; a no-op for those queued).
    pub async fn schedule_recurring(&self) -> Result<(), DbErr> {
        for r in &self.recurring {
            r.schedule_next(&self.db, self.clock.now()).await?;
        }
        Ok(())
    }

    /// The recurring jobs registered, with their cadence.
    pub fn recurring(&self) -> &[Recurring] {
        &self.recurring
    }

    /// How long a lease lasts before it must be renewed (renewed every third of it).
    pub fn lease_for(mut self, lease_for: Duration) -> Self {
        self.lease_for = lease_for;
        self
    }

    /// The database the jobs are queued in.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The kinds this runner handles.
    pub fn kinds(&self) -> Vec<&str> {
        self.lanes.keys().map(String::as_str).collect()
    }

    /// Leases one batch of every kind and runs it, one job after another. Returns how many jobs
    /// ran. (What tests step through; [`Runner::run`] is what a process runs.)
    pub async fn tick(&self) -> Result<usize, DbErr> {
        let kinds = self.kinds();
        if kinds.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let leased = lease(
            &self.db,
            &self.worker,
            &kinds,
            self.batch,
            self.lease_for,
            now,
        )
        .await?;
        let n = leased.len();
        for job in leased {
            self.run_one(job).await?;
        }
        Ok(n)
    }

    /// Runs one leased job to its end: the lease is checked first and renewed while the job
    /// runs; a panic is one failed attempt.
    async fn run_one(&self, job: Job) -> Result<(), DbErr> {
        let Some(lane) = self.lanes.get(&job.kind) else {
            return Ok(());
        };
        let id = job.id;
        // Taken a moment ago, but a busy process may have waited: never run a lost lease.
        if !extend_lease(
            &self.db,
            id,
            &self.worker,
            self.clock.now() + self.lease_for,
        )
        .await?
        {
            return Ok(());
        }
        let heartbeat = {
            let (db, clock, worker, lease_for) = (
                self.db.clone(),
                self.clock.clone(),
                self.worker.clone(),
                self.lease_for,
            );
            // A third of the lease in clock time, paced in real time.
            let speed = Ord::max(self.clock.speed(), 1) as i32;
            let every = (lease_for / 3 / speed)
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(60))
                .max(std::time::Duration::from_millis(100));
            // Stopped with this job however it ends, dropped mid-way included.
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match extend_lease(&db, id, &worker, clock.now() + lease_for).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => {
                            tracing::warn!(job = id.get(), error = %e, "cannot renew a lease")
                        }
                    }
                }
            }))
        };
        // A panicking job is a failed attempt like any other: it must not take the runner
        // (and every later notice and provisioning) down with it.
        let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe((lane
            .handler)(
            job.clone()
        )))
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(job = %job.id, kind = %job.kind, panic = %what, "a job panicked");
            Err(JobError::Retry(format!("the job panicked: {what}")))
        });
        drop(heartbeat);
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                complete(&self.db, id, &self.worker, now).await?;
            }
            Err(e) => {
                let retry = match &e {
                    JobError::Permanent(_) => Retry::Never,
                    JobError::Wait { after, .. } => Retry::After(*after),
                    JobError::Retry(_) => Retry::Backoff,
                };
                let fate = fail(&self.db, &job, &self.worker, &e.to_string(), retry, now).await?;
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, ?fate, error = %e, "job failed");
            }
        }
        Ok(())
    }

    /// Runs every lane until `shutdown` resolves, each polling every `idle` when it has nothing
    /// to do. Once it resolves, no new job is leased and the running ones are let finish
    /// (whoever awaits this bounds how long; dropping it stops them, and their leases are then
    /// given back with [`release_all`]).
    pub async fn run(self, idle: std::time::Duration, shutdown: impl Future<Output = ()>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let this = Arc::new(self);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut lanes = tokio::task::JoinSet::new();
        for (kind, lane) in &this.lanes {
            lanes.spawn(
                this.clone()
                    .lane(kind.clone(), lane.parallel, idle, stopping.clone()),
            );
        }
        shutdown.await;
        stopping.store(true, Ordering::Relaxed);
        while lanes.join_next().await.is_some() {}
    }

    /// One kind's loop: lease as many as there are free places, run each in its own task.
    async fn lane(
        self: Arc<Self>,
        kind: String,
        parallel: usize,
        idle: std::time::Duration,
        stopping: Arc<std::sync::atomic::AtomicBool>,
    ) {
        use std::sync::atomic::Ordering;
        let mut running = tokio::task::JoinSet::new();
        while !stopping.load(Ordering::Relaxed) {
            while running.try_join_next().is_some() {}
            let free = parallel.saturating_sub(running.len());
            if free == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = tokio::time::sleep(idle) => {}
                }
                continue;
            }
            let leased = lease(
                &self.db,
                &self.worker,
                &[kind.as_str()],
                free as u64,
                self.lease_for,
                self.clock.now(),
            )
            .await;
            match leased {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        let this = self.clone();
                        running.spawn(async move {
                            if let Err(e) = this.run_one(job).await {
                                tracing::error!(error = %e, "job runner cannot reach the database");
                            }
                        });
                    }
                }
                Ok(_) => tokio::time::sleep(idle).await,
                Err(e) => {
                    tracing::error!(kind = %kind, error = %e, "job runner cannot reach the database");
                    tokio::time::sleep(idle).await;
                }
            }
        }
        while running.join_next().await.is_some() {}
    }
}

/// A spawned task that ends when its owner is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
