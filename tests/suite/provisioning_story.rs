//! A paid order becomes an account on a panel through the job queue, exactly once, however
//! often the panel fails or the job is replayed; when it never works, the money goes back once.
use chrono::Duration;
use marzban_client::PanelOptions;
use secrecy::SecretString;
use vpnshop_core::customers::Customer;
use vpnshop_core::ids::OrderId;
use vpnshop_core::ledger;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderKind, OrderStatus, PointsRules, QuoteRequest};
use vpnshop_core::panels::{self, NewPanel};
use vpnshop_core::provisioning::{self, Outcome};
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_tests::db::fresh_db;
use vpnshop_tests::panels::marzban::{self as fake_marzban, FakeMarzban};

use crate::support::{customer, irt, plan_30d, t0, top_up};

const PREFIX: &str = "vs";

async fn add_marzban(db: &DatabaseConnection, fake: &FakeMarzban, location: &str) {
    panels::add_panel(
        db,
        NewPanel {
            name: "de-1".into(),
            kind: marzban_client::PanelKind::Marzban,
            base_url: fake.url.clone(),
            username: fake_marzban::USERNAME.into(),
            secret: SecretString::from(fake_marzban::PASSWORD.to_string()),
            proxy: None,
            options: PanelOptions::default(),
            location: location.into(),
            capacity: None,
        },
        t0(),
    )
    .await
    .unwrap();
}

/// A customer with 200,000 toman who paid 150,000 for the 30-day, 50 GB plan in `de`.
async fn paid_order(db: &DatabaseConnection) -> (Customer, OrderId) {
    let c = customer(db, 7_000_000_001).await;
    let plan = plan_30d(db).await;
    top_up(db, &c, irt(200_000)).await;
    let req = QuoteRequest {
        customer: c.customer_id(),
        plan: plan.plan_id(),
        currency: Currency::Irt,
        promo_code: None,
        points: 0,
    };
    let quote = orders::quote(db, &req, &PointsRules::default(), t0())
        .await
        .unwrap();
    let order = orders::place(
        db,
        c.customer_id(),
        OrderKind::Purchase,
        &quote,
        None,
        Duration::minutes(30),
        t0(),
    )
    .await
    .unwrap();
    orders::pay_with_wallet(db, order.order_id(), c.customer_id(), t0())
        .await
        .unwrap();
    (c, order.order_id())
}

async fn balance(db: &DatabaseConnection, c: &Customer) -> i64 {
    ledger::wallet_balance(db, c.customer_id(), Currency::Irt)
        .await
        .unwrap()
        .minor()
}

async fn status(db: &DatabaseConnection, id: OrderId) -> OrderStatus {
    orders::get(db, id).await.unwrap().unwrap().state().unwrap()
}

#[tokio::test]
async fn a_paid_order_becomes_one_account_and_a_replay_changes_nothing() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (c, order) = paid_order(&t.db).await;
    // Panels are added after the plan made the location.
    add_marzban(&t.db, &fake, "de").await;

    let outcome = provisioning::provision(&t.db, order, PREFIX, false, t0())
        .await
        .unwrap();
    let Outcome::Fulfilled(sub) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(status(&t.db, order).await, OrderStatus::Fulfilled);
    let subs = provisioning::of_customer(&t.db, c.customer_id())
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    let s = &subs[0];
    assert_eq!(s.id, sub.get());
    assert_eq!(s.status, "active");
    assert_eq!(s.traffic_limit_bytes, Some(50 << 30));
    assert_eq!(s.expires_at, Some(t0() + Duration::days(30)));
    assert_eq!(s.panel_account, format!("vs_{}_{}", c.id, s.id));
    assert!(
        s.subscription_url
            .as_deref()
            .unwrap()
            .starts_with(&fake.url),
        "{:?}",
        s.subscription_url
    );

    // The job ran again (a lost "done"): nothing new on the panel, nothing charged.
    assert_eq!(
        provisioning::provision(&t.db, order, PREFIX, false, t0())
            .await
            .unwrap(),
        Outcome::AlreadyDone
    );
    assert_eq!(fake.user_count(), 1);
    assert_eq!(balance(&t.db, &c).await, 50_000);
}

#[tokio::test]
async fn a_panel_that_fails_three_times_then_works_fulfils_once() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (c, order) = paid_order(&t.db).await;
    add_marzban(&t.db, &fake, "de").await;

    for _ in 0..3 {
        fake.faults.fail_next(1_000);
        let err = provisioning::provision(&t.db, order, PREFIX, false, t0())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("panel de-1: the panel is unavailable"),
            "{err}"
        );
        assert_eq!(status(&t.db, order).await, OrderStatus::Provisioning);
    }
    // The fourth try gets through, but every answer is lost: the fifth finds the account.
    fake.faults.fail_next(0);
    fake.faults.only_writes(true);
    fake.faults.apply_then_fail_next(1_000);
    assert!(
        provisioning::provision(&t.db, order, PREFIX, false, t0())
            .await
            .is_err()
    );
    fake.faults.apply_then_fail_next(0);
    let outcome = provisioning::provision(&t.db, order, PREFIX, false, t0())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Fulfilled(_)), "{outcome:?}");
    assert_eq!(fake.user_count(), 1, "one account, however many tries");
    assert_eq!(
        provisioning::of_customer(&t.db, c.customer_id())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(balance(&t.db, &c).await, 50_000, "charged once");
}

#[tokio::test]
async fn a_panel_that_never_works_refunds_the_order_once() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (c, order) = paid_order(&t.db).await;
    add_marzban(&t.db, &fake, "de").await;
    fake.faults.fail_next(u32::MAX);

    assert!(
        provisioning::provision(&t.db, order, PREFIX, false, t0())
            .await
            .is_err()
    );
    assert_eq!(balance(&t.db, &c).await, 50_000);
    let outcome = provisioning::provision(&t.db, order, PREFIX, true, t0())
        .await
        .unwrap();
    let Outcome::Refunded { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("panel de-1"), "{reason}");
    assert_eq!(status(&t.db, order).await, OrderStatus::Refunded);
    assert_eq!(balance(&t.db, &c).await, 200_000, "the money is back");
    assert!(
        provisioning::of_customer(&t.db, c.customer_id())
            .await
            .unwrap()
            .is_empty()
    );

    // Replayed after the refund: nothing moves again.
    assert_eq!(
        provisioning::provision(&t.db, order, PREFIX, true, t0())
            .await
            .unwrap(),
        Outcome::AlreadyDone
    );
    assert_eq!(balance(&t.db, &c).await, 200_000, "refunded once");
    let audit = ledger::audit(&t.db).await.unwrap();
    assert!(audit.drifting_accounts.is_empty() && audit.unbalanced_transactions.is_empty());
}

#[tokio::test]
async fn a_location_without_a_panel_refunds_on_the_last_try() {
    let t = fresh_db().await;
    let (c, order) = paid_order(&t.db).await;
    let err = provisioning::provision(&t.db, order, PREFIX, false, t0())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no enabled panel with room"),
        "{err}"
    );
    let outcome = provisioning::provision(&t.db, order, PREFIX, true, t0())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refunded { .. }), "{outcome:?}");
    assert_eq!(balance(&t.db, &c).await, 200_000);
}
