//! Does a broadcast keep Telegram's pace, and survive `kill -9`? 10,000 customers get one
//! message from the real `vpnshop run` (the `vpnshop-under-test` binary) against the fake
//! Telegram enforcing Telegram's limits (30 messages a second in all, one a second per chat,
//! "retry after 1" beyond). Halfway through, the bot is killed with SIGKILL and started again;
//! the second process takes the job over once the first one's lease ends and finishes it.
//!
//! Prints a table: the wall time, the rate each process sustained in its steady state (10–45 %
//! of the recipients sent for the first, 55–95 % for the second), the 429s (in all and in those
//! steady states), what the kill left, how long the new process took to send again, and the
//! checks: every recipient sent or failed, nobody messaged twice. Exits non-zero when a promise
//! is broken (a duplicate, a steady rate under 29 messages a second, a 429 in a steady state,
//! a recipient neither sent nor failed), after printing the numbers all the same.
//!
//! `cargo build -p vpnshop-tests --bins && target/debug/bench-broadcast` (SQLite), with
//! `VPNSHOP_TEST_DB=postgres` for PostgreSQL; `BENCH_RECIPIENTS` (default 10000) sets the size.
//! Takes about six and a half minutes: Telegram's pace is the point, so the clock runs at real
//! speed.
use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vpnshop_core::broadcasts::{self, Audience, BroadcastStatus, DeliveryStatus, Draft};
use vpnshop_core::catalog;
use vpnshop_core::clock::Clock;
use vpnshop_core::customers::Language;
use vpnshop_core::entities::broadcast_deliveries as rows;
use vpnshop_core::ids::{BroadcastId, TelegramId};
use vpnshop_core::panels;
use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vpnshop_tests::chaos::Stage;

/// The crowd's Telegram ids start here (their private chats have the same ids).
const FIRST_ID: i64 = 7_000_000_000;
/// Who made the broadcast (only its audit entry names them).
const ADMIN: i64 = 6_000_000_001;
/// `[broadcasts] per_second`'s default, which must hold however the limits bite.
const PROMISED_RATE: f64 = 29.0;
/// How often the progress is read.
const EVERY: Duration = Duration::from_millis(200);

/// One look at the broadcast: its rows' counts and the fake Telegram's limit counters.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    sent: u64,
    refused: u64,
    accepted: u64,
    done: bool,
}

async fn sample(stage: &Stage, id: BroadcastId) -> Sample {
    let at = Instant::now();
    let (refused, accepted) = stage.tg.limit_counts();
    let p = broadcasts::progress(&stage.db.db, id)
        .await
        .expect("read the progress");
    let b = broadcasts::get(&stage.db.db, id)
        .await
        .expect("read the broadcast");
    Sample {
        at,
        sent: p.sent,
        refused,
        accepted,
        done: b.status == BroadcastStatus::Done,
    }
}

/// Samples every [`EVERY`] until `enough` says so (true) or `limit` passes (false).
async fn watch(
    stage: &Stage,
    id: BroadcastId,
    limit: Duration,
    enough: impl Fn(&Sample) -> bool,
) -> (Vec<Sample>, bool) {
    let start = Instant::now();
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    loop {
        ticks.tick().await;
        let s = sample(stage, id).await;
        samples.push(s);
        if enough(&s) {
            return (samples, true);
        }
        if start.elapsed() > limit {
            return (samples, false);
        }
    }
}

/// What one process sustained between two points of the broadcast.
struct Steady {
    rate: f64,
    refused: u64,
}

/// From the first sample with `from` sent to the first with `to`: sends a second and 429s.
fn steady(samples: &[Sample], from: u64, to: u64) -> Option<Steady> {
    let a = samples.iter().find(|s| s.sent >= from)?;
    let b = samples.iter().find(|s| s.sent >= to)?;
    let seconds = (b.at - a.at).as_secs_f64();
    (seconds > 0.0).then(|| Steady {
        rate: (b.sent - a.sent) as f64 / seconds,
        refused: b.refused - a.refused,
    })
}

fn show(s: &Option<Steady>) -> (String, String) {
    match s {
        Some(s) => (format!("{:.2} msg/s", s.rate), s.refused.to_string()),
        None => ("not reached".into(), "-".into()),
    }
}

async fn delivery_rows(stage: &Stage, id: BroadcastId) -> Vec<rows::Model> {
    rows::Entity::find()
        .filter(rows::Column::BroadcastId.eq(id))
        .all(&stage.db.db)
        .await
        .expect("read the deliveries")
}

fn main() -> ExitCode {
    // A killed bot's job is taken again once its lease ends: 5 s instead of 300 s, so the resume
    // is measured rather than waited for. The bots inherit this (the stage's config file already
    // has a `[run]` table, which its extra TOML cannot add to). Set before any thread exists,
    // as `set_var` requires.
    unsafe { std::env::set_var("VPNSHOP__RUN__JOB_LEASE_SECONDS", "5") };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(run())
}

async fn run() -> ExitCode {
    let n: u64 = std::env::var("BENCH_RECIPIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let stage = Stage::open(1, 30, "").await;
    let db = &stage.db.db;
    let now = stage.clock.now();
    let plan = catalog::plan_by_code(db, "m1")
        .await
        .unwrap()
        .expect("the stage's plan");
    let panel = panels::panel_by_name(db, "de-1").await.unwrap();
    vpnshop_tests::seed::crowd(db, FIRST_ID, n as i64, (&plan, panel.id), |_| None, now).await;
    let chats = FIRST_ID..FIRST_ID + n as i64;
    stage.tg.know_users(chats.clone());
    stage.tg.enforce_limits(30, 1);
    // Messages are still kept per chat (what the duplicates are counted from); calls are not.
    stage.tg.forget_calls();
    let draft = Draft {
        key: broadcasts::new_draft_key(),
        body: "Our new servers in Germany are up: reconnect to get the faster route.".into(),
        photo: None,
        buttons: Vec::new(),
        audience: Some(Audience::All),
    };
    let id = broadcasts::create(
        db,
        TelegramId::new(ADMIN),
        &draft,
        &Audience::All,
        now,
        Language::Fa,
    )
    .await
    .expect("make the broadcast");
    let mut broken = Vec::new();

    // The first process, killed once half the recipients have it.
    let started = Instant::now();
    let mut bot = stage.start(0);
    let (first, reached) = watch(&stage, id, Duration::from_secs(600), |s| s.sent >= n / 2).await;
    bot.kill();
    if !reached {
        broken.push("the first process did not reach half the recipients in 10 minutes".into());
    }
    let at_kill = sample(&stage, id).await;
    let left_at_kill = delivery_rows(&stage, id).await;
    let count = |status: DeliveryStatus| left_at_kill.iter().filter(|r| r.status == status).count();
    let (in_flight, queued) = (
        count(DeliveryStatus::Sending),
        count(DeliveryStatus::Queued),
    );

    // The second process, from its start until the broadcast is done.
    let restarted = Instant::now();
    let mut bot = stage.start(1);
    let mut first_send = None;
    while restarted.elapsed() < Duration::from_secs(120) {
        if stage.tg.limit_counts().1 > at_kill.accepted {
            first_send = Some(restarted.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (second, done) = watch(&stage, id, Duration::from_secs(900), |s| s.done).await;
    let wall = started.elapsed();
    bot.kill();
    if !done {
        broken.push("the broadcast was not done 15 minutes after the restart".into());
    }

    // Steady states, away from each process's start and the kill.
    let percent = |p: u64| n * p / 100;
    let before = steady(&first, percent(10), percent(45));
    let after = steady(&second, percent(55), percent(95));
    for (name, s) in [("first", &before), ("second", &after)] {
        let Some(s) = s else {
            broken.push(format!("the {name} process never reached its steady state"));
            continue;
        };
        if s.rate < PROMISED_RATE {
            broken.push(format!(
                "the {name} process sent {:.2} msg/s in its steady state, under {PROMISED_RATE}",
                s.rate
            ));
        }
        if s.refused > 0 {
            broken.push(format!(
                "the {name} process was refused {} times (429) in its steady state",
                s.refused
            ));
        }
    }

    // Every recipient sent or failed, once.
    let p = broadcasts::progress(db, id)
        .await
        .expect("read the progress");
    if p.sent + p.failed != n || p.left > 0 || p.blocked > 0 {
        broken.push(format!(
            "{} sent + {} failed of {n} ({} blocked, {} left)",
            p.sent, p.failed, p.blocked, p.left
        ));
    }
    let all = delivery_rows(&stage, id).await;
    let interrupted = all
        .iter()
        .filter(|r| r.error.as_deref() == Some(broadcasts::INTERRUPTED))
        .count();
    let sent: Vec<&rows::Model> = all
        .iter()
        .filter(|r| r.status == DeliveryStatus::Sent)
        .collect();
    let messages: HashSet<Option<i64>> = sent.iter().map(|r| r.telegram_message_id).collect();
    let row_chats: HashSet<i64> = all.iter().map(|r| r.chat_id).collect();
    let rows_twice = (sent.len() - messages.len()) + (all.len() - row_chats.len());
    if rows_twice > 0 {
        broken.push(format!("{rows_twice} rows share a message or a chat"));
    }
    let copies: Vec<usize> = chats.map(|c| stage.tg.messages_in(c).len()).collect();
    let reached_chats = copies.iter().filter(|n| **n > 0).count();
    let duplicates = copies.iter().filter(|n| **n > 1).count();
    if duplicates > 0 {
        broken.push(format!("{duplicates} chats got the message more than once"));
    }
    let (refused, accepted) = stage.tg.limit_counts();

    let (rate_1, refused_1) = show(&before);
    let (rate_2, refused_2) = show(&after);
    let backend = if vpnshop_tests::db::use_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("Broadcast of {n} with a kill -9 halfway ({backend}, {build} build)\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| wall time, first start → done | {:.1} s |",
        wall.as_secs_f64()
    );
    println!("| steady rate, first process (10–45 %) | {rate_1} |");
    println!("| steady rate, second process (55–95 %) | {rate_2} |");
    println!("| 429s in steady state (first / second) | {refused_1} / {refused_2} |");
    println!("| 429s in all / sends accepted | {refused} / {accepted} |");
    println!(
        "| at the kill: sent / in flight / queued | {} / {in_flight} / {queued} |",
        at_kill.sent
    );
    println!(
        "| restart → first new send (lease 5 s) | {} |",
        first_send.map_or("none in 120 s".into(), |d| format!(
            "{:.2} s",
            d.as_secs_f64()
        ))
    );
    println!(
        "| final: sent / failed (interrupted) / blocked / left | {} / {} ({interrupted}) / {} / {} |",
        p.sent, p.failed, p.blocked, p.left
    );
    println!("| sent + failed | {} |", p.sent + p.failed);
    println!("| chats that got it / more than once | {reached_chats} / {duplicates} |");
    println!("| rows sharing a message or chat | {rows_twice} |");
    println!();
    for b in &broken {
        println!("BROKEN: {b}");
    }
    if broken.is_empty() {
        println!("every promise kept");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "bench-broadcast: the bots' last lines:\n{}",
            stage.log_tail()
        );
        ExitCode::FAILURE
    }
}
