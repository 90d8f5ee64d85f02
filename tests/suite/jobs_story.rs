//! The durable job queue: each job runs once even with racing workers; failures back off and
//! give up; a dead worker's lease runs out and the job is taken again.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde_json::json;
use vpnshop_core::jobs::{self, Fate, JobStatus, NewJob};
use vpnshop_tests::db::fresh_db;

use crate::support::t0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_over_a_thousand_jobs_run_each_exactly_once() {
    let t = fresh_db().await;
    for i in 0..1_000 {
        jobs::enqueue(&t.db, NewJob::new("work", json!({ "n": i }), t0()), t0())
            .await
            .unwrap();
    }
    let seen = Arc::new(Mutex::new(Vec::<i64>::new()));
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let db = t.db.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut ran = 0;
                loop {
                    let batch = jobs::lease(&db, name, &["work"], 25, Duration::minutes(5), t0())
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return ran;
                    }
                    for job in batch {
                        seen.lock().unwrap().push(job.id.get());
                        assert!(jobs::complete(&db, job.id, name, t0()).await.unwrap());
                        ran += 1;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    let seen = seen.lock().unwrap();
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(
        seen.len(),
        1_000,
        "ran {} times in all (per worker: {per_worker:?})",
        seen.len()
    );
    assert_eq!(unique.len(), 1_000);
}

#[tokio::test]
async fn a_failing_job_backs_off_then_gives_up() {
    let t = fresh_db().await;
    let id = jobs::enqueue(
        &t.db,
        NewJob::new("flaky", json!({}), t0()).attempts(2),
        t0(),
    )
    .await
    .unwrap();
    let job = jobs::lease(&t.db, "w", &["flaky"], 10, Duration::minutes(1), t0())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempts, 1);
    let fate = jobs::fail(
        &t.db,
        &job,
        "w",
        "panel timed out",
        jobs::Retry::Backoff,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(fate, Fate::RetryAt(t0() + Duration::seconds(10)));
    // Not due before its backoff.
    assert!(
        jobs::lease(&t.db, "w", &["flaky"], 10, Duration::minutes(1), t0())
            .await
            .unwrap()
            .is_empty()
    );
    let later = t0() + Duration::seconds(11);
    let job = jobs::lease(&t.db, "w", &["flaky"], 10, Duration::minutes(1), later)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        jobs::fail(
            &t.db,
            &job,
            "w",
            "panel timed out",
            jobs::Retry::Backoff,
            later
        )
        .await
        .unwrap(),
        Fate::GaveUp
    );
    let job = jobs::get(&t.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.last_error.as_deref(), Some("panel timed out"));
    assert!(
        jobs::lease(
            &t.db,
            "w",
            &["flaky"],
            10,
            Duration::minutes(1),
            later + Duration::days(1)
        )
        .await
        .unwrap()
        .is_empty()
    );
}

#[tokio::test]
async fn a_dead_workers_lease_runs_out_and_its_job_is_taken_again_once() {
    let t = fresh_db().await;
    let id = jobs::enqueue(
        &t.db,
        NewJob::new("provision", json!({}), t0()).dedupe("provision:order:1"),
        t0(),
    )
    .await
    .unwrap();
    // Enqueueing the same key again returns the same job.
    assert_eq!(
        jobs::enqueue(
            &t.db,
            NewJob::new("provision", json!({}), t0()).dedupe("provision:order:1"),
            t0()
        )
        .await
        .unwrap(),
        id
    );

    let first = jobs::lease(&t.db, "dead", &["provision"], 1, Duration::minutes(1), t0())
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        jobs::lease(
            &t.db,
            "alive",
            &["provision"],
            1,
            Duration::minutes(1),
            t0() + Duration::seconds(30)
        )
        .await
        .unwrap()
        .is_empty()
    );
    let later = t0() + Duration::minutes(2);
    let second = jobs::lease(
        &t.db,
        "alive",
        &["provision"],
        1,
        Duration::minutes(1),
        later,
    )
    .await
    .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    // The dead worker coming back cannot complete what it no longer holds.
    assert!(!jobs::complete(&t.db, id, "dead", later).await.unwrap());
    assert!(jobs::complete(&t.db, id, "alive", later).await.unwrap());
}

#[tokio::test]
async fn the_runner_dispatches_by_kind_and_retries_failures() {
    let t = fresh_db().await;
    let clock = Arc::new(vpnshop_core::clock::ManualClock::new(t0()));
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let runner = jobs::Runner::new(t.db.clone(), clock.clone(), "r").handle("hello", move |_job| {
        let c = c.clone();
        async move {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(jobs::JobError::Retry("first time fails".into()))
            } else {
                Ok(())
            }
        }
    });
    let id = jobs::enqueue(&t.db, NewJob::new("hello", json!({}), t0()), t0())
        .await
        .unwrap();
    jobs::enqueue(&t.db, NewJob::new("someone-elses", json!({}), t0()), t0())
        .await
        .unwrap();
    assert_eq!(runner.tick().await.unwrap(), 1);
    assert_eq!(runner.tick().await.unwrap(), 0, "not due until its backoff");
    clock.advance(Duration::seconds(10));
    assert_eq!(runner.tick().await.unwrap(), 1);
    assert_eq!(
        jobs::get(&t.db, id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    assert_eq!(*calls.lock().unwrap(), 2);
}

/// A job whose code panics (a bug, a bad payload): that attempt fails like any other, the
/// runner keeps going, and the next job still runs.
#[tokio::test]
async fn a_panicking_job_is_one_failed_attempt_and_the_runner_goes_on() {
    let t = fresh_db().await;
    let clock = Arc::new(vpnshop_core::clock::ManualClock::new(t0()));
    let runner = jobs::Runner::new(t.db.clone(), clock.clone(), "r")
        .handle("buggy", |_job| async {
            if true {
                panic!("index out of bounds");
            }
            Ok(())
        })
        .handle("fine", |_job| async { Ok(()) });
    let buggy = jobs::enqueue(&t.db, NewJob::new("buggy", json!({}), t0()), t0())
        .await
        .unwrap();
    let fine = jobs::enqueue(
        &t.db,
        NewJob::new("fine", json!({}), t0()).at(t0() + Duration::seconds(1)),
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(runner.tick().await.unwrap(), 1);
    let failed = jobs::get(&t.db, buggy).await.unwrap().unwrap();
    assert_eq!(failed.status, JobStatus::Queued, "retried later");
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("panicked: index out of bounds")
    );
    clock.advance(Duration::seconds(2));
    runner.tick().await.unwrap();
    assert_eq!(
        jobs::get(&t.db, fine).await.unwrap().unwrap().status,
        JobStatus::Done
    );
}

/// Two processes on one database, provisioning against a slow panel (each job outlives the
/// lease it started with) while a long payments sweep runs: every job runs exactly once, and
/// provisioning is never stuck behind the sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_a_slow_panel_run_each_job_once_and_a_sweep_holds_nothing_up() {
    let t = fresh_db().await;
    let clock: Arc<dyn vpnshop_core::clock::Clock> = Arc::new(vpnshop_core::clock::SystemClock);
    let now = chrono::Utc::now();
    let ran: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sweep_done: Arc<Mutex<Option<std::time::Instant>>> = Arc::default();
    let process = |name: &str| {
        let (ran, sweep_done) = (ran.clone(), sweep_done.clone());
        jobs::Runner::new(t.db.clone(), clock.clone(), name)
            // A lease of two seconds, renewed while the job runs: each "panel call" takes 3 s.
            .lease_for(Duration::seconds(2))
            .handle_parallel("provision", 4, move |job| {
                let ran = ran.clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                    ran.lock().unwrap().push(job.id.get());
                    Ok(())
                }
            })
            .handle_parallel("payments_sweep", 1, move |_job| {
                let sweep_done = sweep_done.clone();
                async move {
                    // Asking gateways about 500 abandoned checkouts.
                    tokio::time::sleep(std::time::Duration::from_secs(20)).await;
                    *sweep_done.lock().unwrap() = Some(std::time::Instant::now());
                    Ok(())
                }
            })
    };
    jobs::enqueue(&t.db, NewJob::new("payments_sweep", json!({}), now), now)
        .await
        .unwrap();
    let mut ids = HashSet::new();
    for i in 0..12 {
        let id = jobs::enqueue(&t.db, NewJob::new("provision", json!({ "n": i }), now), now)
            .await
            .unwrap();
        ids.insert(id.get());
    }
    let (stop_a, stopped_a) = tokio::sync::oneshot::channel::<()>();
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let a = tokio::spawn(
        process("process-a").run(std::time::Duration::from_millis(100), async {
            let _ = stopped_a.await;
        }),
    );
    let b = tokio::spawn(
        process("process-b").run(std::time::Duration::from_millis(100), async {
            let _ = stopped_b.await;
        }),
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while ran.lock().unwrap().len() < ids.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "provisioning never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let provisioned = std::time::Instant::now();
    // Let a lost lease show itself, if any: the other process would run the job again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let _ = (stop_a.send(()), stop_b.send(()));
    let _ = tokio::join!(a, b);

    let ran = ran.lock().unwrap().clone();
    assert_eq!(ran.len(), ids.len(), "no job ran twice: {ran:?}");
    assert_eq!(ran.iter().copied().collect::<HashSet<_>>(), ids);
    let sweep_done = sweep_done.lock().unwrap().expect("the sweep ran");
    assert!(
        provisioned < sweep_done,
        "provisioning did not wait for the sweep"
    );
}

/// Telegram's 429 says when to come back: the job runs again exactly then, and being told to
/// wait does not use up one of its attempts.
#[tokio::test]
async fn a_job_told_to_wait_runs_again_exactly_then_without_losing_an_attempt() {
    let t = fresh_db().await;
    let id = jobs::enqueue(
        &t.db,
        NewJob::new("notice", serde_json::json!({}), t0()).attempts(2),
        t0(),
    )
    .await
    .unwrap();
    let job = jobs::lease(&t.db, "w", &["notice"], 1, Duration::minutes(1), t0())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempts, 1);
    let fate = jobs::fail(
        &t.db,
        &job,
        "w",
        "429",
        jobs::Retry::After(Duration::seconds(35)),
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(fate, jobs::Fate::RetryAt(t0() + Duration::seconds(35)));
    let again = jobs::get(&t.db, id).await.unwrap().unwrap();
    assert_eq!(again.attempts, 0);
    assert_eq!(again.run_at, t0() + Duration::seconds(35));
}
