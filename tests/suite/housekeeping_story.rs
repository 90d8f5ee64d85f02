//! Housekeeping in a running bot: a day later, a preview nobody paid is expired and points whose
//! time was up are taken back from the ledger, without anyone pressing anything.
use chrono::{Duration, Utc};
use vpnshop_core::ledger::{self, Memo};
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderKind, OrderStatus, PointsRules, QuoteRequest};
use vpnshop_core::points;
use vpnshop_core::sea_orm::TransactionTrait;

use crate::shop::ShopBuilder;
use crate::support::customer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_previews_expire_and_points_run_out_on_their_own() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = shop.app.db.db.clone();
    let plan = shop.plan.clone().unwrap();
    let c = customer(&db, 7_990_000_001).await;
    let now = Utc::now();

    // 100 points that expire in an hour, 50 that never do.
    let txn = db.begin().await.unwrap();
    points::earn(
        &txn,
        c.customer_id(),
        100,
        Some(now + Duration::hours(1)),
        Memo::default(),
        now,
    )
    .await
    .unwrap();
    points::earn(&txn, c.customer_id(), 50, None, Memo::default(), now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    // A preview valid for half an hour, never paid.
    let req = QuoteRequest {
        customer: c.customer_id(),
        plan: plan.plan_id(),
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
        Duration::minutes(30),
        now,
    )
    .await
    .unwrap();

    // A day later.
    shop.app.clock.jump(Duration::days(1));
    let later = now + Duration::days(1);
    let mut expired = false;
    for _ in 0..100 {
        let status = orders::get(&db, order.order_id())
            .await
            .unwrap()
            .unwrap()
            .status;
        let account = ledger::points_account(&db, c.customer_id(), later)
            .await
            .unwrap();
        let held = ledger::balance(&db, account).await.unwrap();
        if status == OrderStatus::Expired && held == 50 {
            expired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        expired,
        "the preview expired and 100 points were taken back"
    );
    assert!(ledger::audit(&db).await.unwrap().is_clean());
}
