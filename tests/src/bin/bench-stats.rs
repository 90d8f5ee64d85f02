//! Is `/stats` fast on a big shop? 100,000 customers (a third of them took the trial), 100,000
//! fulfilled orders spread over 60 days and 20,000 active subscriptions; then the `/stats`
//! figures are computed 20 times. Prints the rows made and the median and slowest time. The
//! numbers go in `BENCHMARKS.md`.
//!
//! `cargo run --release -p vpnshop-tests --bin bench-stats` (SQLite), with
//! `VPNSHOP_TEST_DB=postgres` for PostgreSQL; `BENCH_CUSTOMERS` (default 100000) sets the size.
use std::time::Instant;

use chrono::{Duration, Utc};
use vpnshop_core::entities::{customers, orders, subscriptions};
use vpnshop_core::ids::{CustomerId, PanelId, PlanId, TelegramId};
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{OrderKind, OrderStatus};
use vpnshop_core::sea_orm::{ActiveValue::Set, EntityTrait};
use vpnshop_core::stats;
use vpnshop_core::subscriptions::SubscriptionStatus;
use vpnshop_tests::db::fresh_db;

const BATCH: i64 = 1_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: i64 = std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let t = fresh_db().await;
    let db = &t.db;
    let now = Utc::now();
    let filling = Instant::now();
    // A plan and a panel for the subscriptions to point at (foreign keys).
    let location = vpnshop_core::catalog::add_location(
        db,
        vpnshop_core::catalog::NewLocation {
            code: "de".into(),
            name: "Germany".into(),
            flag: String::new(),
            sort_order: 0,
        },
        now,
    )
    .await
    .unwrap();
    let plan = vpnshop_core::catalog::add_plan(
        db,
        vpnshop_core::catalog::NewPlan {
            code: "m1".into(),
            name: "1 month".into(),
            location: Some(location.id),
            duration_days: 30,
            traffic_bytes: None,
            is_trial: false,
            sort_order: 0,
            prices: vec![vpnshop_core::money::Money::new(150_000, Currency::Irt).unwrap()],
        },
        now,
    )
    .await
    .unwrap();
    let (panel, _) = vpnshop_core::panels::add_panel(
        db,
        vpnshop_core::panels::NewPanel {
            name: "de-1".into(),
            kind: marzban_client::PanelKind::Marzban,
            base_url: "http://127.0.0.1:9".into(),
            username: "admin".into(),
            secret: secrecy::SecretString::from("x".to_string()),
            proxy: None,
            options: marzban_client::PanelOptions::default(),
            location: "de".into(),
            capacity: None,
        },
        now,
    )
    .await
    .unwrap();
    let (plan_id, panel_id): (PlanId, PanelId) = (plan.id, panel.id);
    for start in (0..n).step_by(BATCH as usize) {
        let ids = start..(start + BATCH).min(n);
        customers::Entity::insert_many(ids.clone().map(|i| customers::ActiveModel {
            telegram_id: Set(TelegramId::new(1_000_000_000 + i)),
            username: Set(None),
            first_name: Set(format!("c{i}")),
            language: Set(Some("fa".into())),
            referral_code: Set(format!("r{i}")),
            referred_by: Set(None),
            trial_used: Set(i % 3 == 0),
            banned: Set(false),
            blocked_bot: Set(false),
            last_seen_at: Set(now),
            created_at: Set(now - Duration::minutes(i % (60 * 24 * 90))),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
        orders::Entity::insert_many(ids.clone().map(|i| {
            let paid = now - Duration::minutes(i % (60 * 24 * 60));
            orders::ActiveModel {
                customer_id: Set(CustomerId::new(i + 1)),
                kind: Set(OrderKind::Purchase),
                status: Set(OrderStatus::Fulfilled),
                plan_id: Set(Some(plan_id)),
                subscription_id: Set(None),
                location_id: Set(None),
                duration_days: Set(30),
                traffic_bytes: Set(None),
                currency: Set(Currency::Irt),
                list_price_minor: Set(150_000),
                discount_minor: Set(0),
                points_used: Set(0),
                points_value_minor: Set(0),
                total_minor: Set(150_000),
                wallet_paid_minor: Set(150_000),
                promo_code_id: Set(None),
                expires_at: Set(paid),
                updated_at: Set(paid),
                paid_at: Set(Some(paid)),
                fulfilled_at: Set(Some(paid)),
                failure: Set(None),
                created_at: Set(paid),
                target_set: Set(false),
                target_expires_at: Set(None),
                target_limit_bytes: Set(None),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
        subscriptions::Entity::insert_many(ids.filter(|i| i % 5 == 0).map(|i| {
            subscriptions::ActiveModel {
                customer_id: Set(CustomerId::new(i + 1)),
                plan_id: Set(plan_id),
                panel_id: Set(panel_id),
                panel_account: Set(format!("vs_{i}")),
                status: Set(SubscriptionStatus::Active),
                is_trial: Set(false),
                traffic_limit_bytes: Set(None),
                used_bytes: Set(0),
                expires_at: Set(Some(now + Duration::days(10))),
                subscription_url: Set(None),
                usage_synced_at: Set(None),
                account_uuid: Set(None),
                account_sub_id: Set(None),
                updated_at: Set(now),
                created_at: Set(now),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    println!(
        "{n} customers, {n} orders, {} subscriptions made in {:.1} s",
        n / 5,
        filling.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..20 {
        let started = Instant::now();
        last = Some(stats::shop_stats(db, Utc::now()).await.unwrap());
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let s = last.unwrap();
    println!(
        "/stats: median {:.1} ms, slowest {:.1} ms (customers {}, new in 30 d {}, active {}, trials {} / converted {}, revenue lines {})",
        times[times.len() / 2],
        times[times.len() - 1],
        s.customers,
        s.new_customers.month,
        s.active_subscriptions,
        s.trials,
        s.trials_converted,
        s.revenue.len()
    );
}
