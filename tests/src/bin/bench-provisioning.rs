//! Does provisioning keep up with paying? Twenty customers pay for plans from their wallets as
//! fast as they can for a while; the job runner provisions the paid orders on a healthy fake
//! Marzban at the same time. Prints orders paid and provisioned per second and the backlog left
//! when paying stops. The numbers go in `BENCHMARKS.md`.
//!
//! `cargo run -p vpnshop-tests --bin bench-provisioning` (SQLite), with
//! `VPNSHOP_TEST_DB=postgres` for PostgreSQL; `BENCH_SECONDS` (default 60) sets how long
//! customers pay, `BENCH_RATE` how many orders a second they pay in all (default 25, what
//! customers paying through the bot reached when it was measured from outside; `0`: as fast
//! as the database lets them).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::customers::{self, Contact};
use vpnshop_core::entities::orders as order_rows;
use vpnshop_core::ids::{OrderId, TelegramId};
use vpnshop_core::jobs::{JobError, Runner};
use vpnshop_core::ledger::{self, Memo, SystemAccount, TxKind};
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::orders::{self, OrderKind, PROVISION_JOB, PointsRules, QuoteRequest};
use vpnshop_core::provisioning;
use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use vpnshop_tests::db::fresh_db;

const CUSTOMERS: i64 = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let rate: f64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25.0);
    // Each customer pays once every `gap`, so all of them together pay `rate` a second.
    let gap = (rate > 0.0).then(|| Duration::from_secs_f64(CUSTOMERS as f64 / rate));
    let t = fresh_db().await;
    let db = t.db.clone();
    let now = Utc::now();
    let irt = |n| Money::new(n, Currency::Irt).unwrap();
    let loc = vpnshop_tests::seed::germany(&db, now).await;
    let plan = vpnshop_tests::seed::plan(&db, Some(&loc), 30, 1_000, now).await;
    let (marzban, _) = vpnshop_tests::seed::marzban(&db, "de-1", now).await;
    let mut buyers = Vec::new();
    for i in 0..CUSTOMERS {
        let c = customers::register(
            &db,
            &Contact {
                telegram_id: TelegramId::new(7_900_000_000 + i),
                username: None,
                first_name: format!("buyer{i}"),
            },
            None,
            now,
        )
        .await
        .unwrap()
        .customer;
        let txn = vpnshop_core::db::begin(&db).await.unwrap();
        ledger::credit_wallet(
            &txn,
            c.customer_id(),
            irt(1_000_000_000),
            &SystemAccount::Adjustments,
            TxKind::Adjustment,
            Memo::default(),
            now,
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        buyers.push(c);
    }

    // The runner as `vpnshop run` has it for provisioning: its own lane, eight at a time.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runner_db = db.clone();
    let runner = Runner::new(db.clone(), clock.clone(), "bench").handle_parallel(
        PROVISION_JOB,
        8,
        move |job| {
            let db = runner_db.clone();
            async move {
                let payload: serde_json::Value = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(e.to_string()))?;
                let order = OrderId::new(payload["order_id"].as_i64().unwrap_or_default());
                let last = job.attempts >= job.max_attempts;
                provisioning::provision(&db, order, "vs", last, Utc::now())
                    .await
                    .map(|_| ())
                    .map_err(|e| JobError::Retry(e.to_string()))
            }
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(runner.run(Duration::from_millis(100), async {
        let _ = stopped.await;
    }));

    let paid = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in buyers {
        let (db, paid) = (db.clone(), paid.clone());
        let plan = plan.plan_id();
        tasks.push(tokio::spawn(async move {
            let mut next = Instant::now();
            while Instant::now() < until {
                if let Some(gap) = gap {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                let now = Utc::now();
                let req = QuoteRequest {
                    customer: c.customer_id(),
                    plan,
                    currency: Currency::Irt,
                    promo_code: None,
                    points: 0,
                    location: None,
                };
                let quote = orders::quote(&db, &req, &PointsRules::default(), now)
                    .await
                    .unwrap();
                let order = orders::place(
                    &db,
                    c.customer_id(),
                    OrderKind::Purchase,
                    &quote,
                    None,
                    chrono::Duration::minutes(30),
                    now,
                )
                .await
                .unwrap();
                if orders::pay_with_wallet(&db, order.order_id(), c.customer_id(), now)
                    .await
                    .is_ok()
                {
                    paid.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let fulfilled = || async {
        order_rows::Entity::find()
            .filter(order_rows::Column::Status.eq(vpnshop_core::orders::OrderStatus::Fulfilled))
            .count(&db)
            .await
            .unwrap()
    };
    for task in tasks {
        task.await.unwrap();
    }
    let window = started.elapsed().as_secs_f64();
    let (paid_total, done_in_window) = (paid.load(Ordering::Relaxed), fulfilled().await);
    let drain_started = Instant::now();
    while fulfilled().await < paid_total && drain_started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = drain_started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = runner.await;
    println!(
        "database: {}",
        if vpnshop_tests::db::use_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!(
        "customers paying: {CUSTOMERS} for {window:.1} s, {}",
        if rate > 0.0 {
            format!("{rate} orders/s in all")
        } else {
            "as fast as they can".into()
        }
    );
    println!(
        "paid: {paid_total} orders ({:.1}/s)",
        paid_total as f64 / window
    );
    println!(
        "provisioned while paying: {done_in_window} ({:.1}/s)",
        done_in_window as f64 / window
    );
    println!(
        "backlog when paying stopped: {}, provisioned {:.1} s later; panel accounts: {}",
        paid_total.saturating_sub(done_in_window),
        drained,
        marzban.user_count()
    );
}
