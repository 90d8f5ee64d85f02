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
use vpnshop_core::shop;
use vpnshop_core::subscriptions;
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
        location: None,
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
    orders::get(db, id).await.unwrap().unwrap().state()
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
    assert_eq!(s.id, sub);
    assert_eq!(s.status.as_str(), "active");
    assert_eq!(s.traffic_limit_bytes, Some(50 << 30));
    assert_eq!(s.expires_at, Some(t0() + Duration::days(30)));
    let shop = shop::identity(&t.db).await.unwrap();
    assert_eq!(s.panel_account, format!("vs{shop}_{}_{}", c.id, s.id));
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

/// A seller reinstalls (or a second shop starts on the same panel): ids restart at 1, and the
/// first customer of the new database must get an account of their own, not the old one.
#[tokio::test]
async fn a_second_shop_on_the_same_panel_never_hands_out_the_first_shops_account() {
    let fake = FakeMarzban::start().await;
    let first = fresh_db().await;
    let second = fresh_db().await;
    let mut accounts = Vec::new();
    for t in [&first, &second] {
        let (c, order) = paid_order(&t.db).await;
        add_marzban(&t.db, &fake, "de").await;
        let outcome = provisioning::provision(&t.db, order, PREFIX, false, t0())
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Fulfilled(_)), "{outcome:?}");
        let subs = provisioning::of_customer(&t.db, c.customer_id())
            .await
            .unwrap();
        accounts.push(subs[0].panel_account.clone());
    }
    assert_ne!(accounts[0], accounts[1], "each shop names its own accounts");
    assert_eq!(fake.user_count(), 2, "two customers, two accounts");
    assert_ne!(
        shop::identity(&first.db).await.unwrap(),
        shop::identity(&second.db).await.unwrap()
    );
}

/// An account with exactly the name the shop derives, made by someone else (a restored backup's
/// twin, an operator's hand): provisioning stops at once, the customer gets the money back, and
/// the other account is never touched or handed out.
#[tokio::test]
async fn an_account_the_shop_did_not_make_is_never_handed_out() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (c, order) = paid_order(&t.db).await;
    add_marzban(&t.db, &fake, "de").await;
    let tag = shop::identity(&t.db).await.unwrap().account_tag(PREFIX);
    fake.add_foreign(&format!("{tag}_{}_1", c.id));

    let outcome = provisioning::provision(&t.db, order, PREFIX, false, t0())
        .await
        .unwrap();
    let Outcome::Refunded { reason } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("the shop did not make it"), "{reason}");
    assert_eq!(status(&t.db, order).await, OrderStatus::Refunded);
    assert_eq!(balance(&t.db, &c).await, 200_000, "the money is back");
    assert_eq!(fake.user_count(), 1, "only the other account");
}

/// A renewal whose first try changed the panel and then failed, and a customer who opened the
/// subscription in between (which copies the panel's figures): the retry still renews once.
#[tokio::test]
async fn a_renewal_retried_after_a_usage_refresh_is_applied_once() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (c, order) = paid_order(&t.db).await;
    add_marzban(&t.db, &fake, "de").await;
    provisioning::provision(&t.db, order, PREFIX, false, t0())
        .await
        .unwrap();
    let sub = provisioning::of_customer(&t.db, c.customer_id())
        .await
        .unwrap()
        .remove(0);
    top_up(&t.db, &c, irt(150_000)).await;
    let (quote, preview) = subscriptions::quote_renewal(&t.db, &sub, Currency::Irt, t0())
        .await
        .unwrap();
    assert_eq!(preview.expires_at, Some(t0() + Duration::days(60)));
    let renewal = subscriptions::place(
        &t.db,
        &sub,
        OrderKind::Renewal,
        &quote,
        Duration::minutes(30),
        t0(),
    )
    .await
    .unwrap();
    orders::pay_with_wallet(&t.db, renewal.order_id(), c.customer_id(), t0())
        .await
        .unwrap();

    // The new expiry reaches the panel, but every answer is lost.
    fake.faults.only_writes(true);
    fake.faults.only_paths("/api/user");
    fake.faults.apply_then_fail_next(1_000);
    assert!(
        provisioning::provision(&t.db, renewal.order_id(), PREFIX, false, t0())
            .await
            .is_err()
    );
    fake.faults.apply_then_fail_next(0);
    // The customer opens the subscription: the panel's new expiry is copied in.
    let (refreshed, fresh) = subscriptions::refresh_usage(&t.db, sub, Duration::zero(), t0())
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!(refreshed.expires_at, Some(t0() + Duration::days(60)));

    let outcome = provisioning::provision(&t.db, renewal.order_id(), PREFIX, false, t0())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Fulfilled(_)), "{outcome:?}");
    let renewed = provisioning::of_customer(&t.db, c.customer_id())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        renewed.expires_at,
        Some(t0() + Duration::days(60)),
        "30 days added once, not twice"
    );
    assert_eq!(renewed.traffic_limit_bytes, Some(100 << 30));
}

/// The panel made the account but every answer was lost, and the order was refunded on its
/// last try: the customer has the money back, so the account is turned off by a job.
#[tokio::test]
async fn a_refunded_purchase_leaves_no_working_account_behind() {
    use vpnshop_core::entities::jobs;
    use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
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
    // What the lost call did: the account exists, with the subscription's own key.
    let sub = vpnshop_core::entities::subscriptions::Entity::find()
        .filter(vpnshop_core::entities::subscriptions::Column::CustomerId.eq(c.id))
        .one(&t.db)
        .await
        .unwrap()
        .unwrap();
    let account = provisioning::account_ref(&sub).unwrap();
    let panel = panels::panel(&t.db, sub.panel_id).await.unwrap().unwrap();
    let client = marzban_client::connect(panel.config.clone()).unwrap();
    fake.faults.fail_next(0);
    client
        .ensure_account(&marzban_client::AccountSpec {
            name: account.name.clone(),
            data_limit_bytes: Some(50 << 30),
            expires_at: None,
            note: String::new(),
            key: account.key.clone().unwrap(),
        })
        .await
        .unwrap();
    fake.faults.fail_next(u32::MAX);
    let outcome = provisioning::provision(&t.db, order, PREFIX, true, t0())
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refunded { .. }), "{outcome:?}");
    let job = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(provisioning::DISABLE_JOB))
        .one(&t.db)
        .await
        .unwrap()
        .expect("a job to turn the account off");
    assert_eq!(job.status, vpnshop_core::jobs::JobStatus::Queued);

    // The job's work, once the panel answers: the account is off; running it again is fine.
    fake.faults.fail_next(0);
    let sub_id = sub.id;
    provisioning::disable_refunded(&t.db, sub_id).await.unwrap();
    provisioning::disable_refunded(&t.db, sub_id).await.unwrap();
    assert_eq!(
        client.account(&account).await.unwrap().status,
        marzban_client::AccountStatus::Disabled
    );
    assert_eq!(balance(&t.db, &c).await, 200_000);
}
