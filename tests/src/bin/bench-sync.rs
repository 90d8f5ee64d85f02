//! How long does the usage sync take on a big shop? 100,000 active subscriptions spread over
//! three fake Marzban panels (one location), each account on its panel with usage the shop has
//! not seen yet. The sync is run twice: the first run writes every subscription's new figures,
//! the second finds nothing changed (the steady state between two customers' sessions). Prints
//! the time of each run, the list calls made and the rows written. The numbers go in
//! `BENCHMARKS.md`.
//!
//! `cargo run --release -p vpnshop-tests --bin bench-sync` (SQLite), with
//! `VPNSHOP_TEST_DB=postgres` for PostgreSQL; `BENCH_SUBSCRIPTIONS` (default 100000) sets the
//! size.
use std::time::Instant;

use chrono::{Duration, Utc};
use vpnshop_core::entities::{customers, subscriptions};
use vpnshop_core::ids::{CustomerId, TelegramId};
use vpnshop_core::sea_orm::{ActiveValue::Set, EntityTrait};
use vpnshop_core::subscriptions::SubscriptionStatus;
use vpnshop_core::subscriptions::rules::LifeRules;
use vpnshop_core::subscriptions::sync;
use vpnshop_tests::db::fresh_db;

const BATCH: i64 = 1_000;
const PANELS: i64 = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = std::env::var("BENCH_SUBSCRIPTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let t = fresh_db().await;
    let db = &t.db;
    let now = Utc::now();
    let filling = Instant::now();
    vpnshop_tests::seed::germany(db, now).await;
    let plan = vpnshop_tests::seed::plan(db, None, 30, 150_000, now).await;
    let mut fakes = Vec::new();
    let mut panel_ids = Vec::new();
    for p in 0..PANELS {
        let (marzban, panel) =
            vpnshop_tests::seed::marzban(db, &format!("de-{}", p + 1), now).await;
        fakes.push(marzban);
        panel_ids.push(panel.id);
    }
    let name = |i: i64| format!("bench_{}_{}", i + 1, i + 1);
    let expires = now + Duration::days(20);
    for start in (0..n).step_by(BATCH as usize) {
        let ids = start..(start + BATCH).min(n);
        customers::Entity::insert_many(ids.clone().map(|i| customers::ActiveModel {
            telegram_id: Set(TelegramId::new(1_000_000_000 + i)),
            username: Set(None),
            first_name: Set(format!("c{i}")),
            language: Set(Some("fa".into())),
            referral_code: Set(format!("r{i}")),
            referred_by: Set(None),
            trial_used: Set(false),
            banned: Set(false),
            blocked_bot: Set(false),
            last_seen_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
        subscriptions::Entity::insert_many(ids.clone().map(|i| subscriptions::ActiveModel {
            customer_id: Set(CustomerId::new(i + 1)),
            plan_id: Set(plan.id),
            panel_id: Set(panel_ids[(i % PANELS) as usize]),
            panel_account: Set(name(i)),
            status: Set(SubscriptionStatus::Active),
            is_trial: Set(false),
            traffic_limit_bytes: Set(Some(50 << 30)),
            used_bytes: Set(0),
            expires_at: Set(Some(expires)),
            subscription_url: Set(None),
            usage_synced_at: Set(None),
            account_uuid: Set(None),
            account_sub_id: Set(None),
            updated_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (p, fake) in fakes.iter().enumerate() {
        fake.seed((0..n).filter(|i| i % PANELS == p as i64).map(|i| {
            (
                name(i),
                ((i % 50) as u64 + 1) << 30,
                Some(50 << 30),
                Some(expires.timestamp()),
            )
        }));
    }
    println!(
        "{n} subscriptions on {PANELS} panels made in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    let rules = LifeRules::default();
    for run in ["first (every figure new)", "second (nothing changed)"] {
        let started = Instant::now();
        let report = sync::sync_all(db, &rules, Utc::now()).await.unwrap();
        println!(
            "{run}: {:.2} s — {} panels read, {} accounts, {} changed, {} failed; list calls of {} accounts, {} at once per panel",
            started.elapsed().as_secs_f64(),
            report.panels,
            report.accounts,
            report.changed,
            report.failed.len(),
            rules.page_size,
            rules.parallel,
        );
        assert_eq!(report.accounts, n as u64);
    }
}
