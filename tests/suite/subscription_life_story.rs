//! The life of a subscription in a running bot, with nobody pressing anything but the customer:
//! usage is read from the panel in bulk, reminders come once per period with buttons that act
//! on them, automatic renewal charges the wallet once per period (or says exactly what is
//! missing), and an expired account is turned off after the grace period and deleted after the
//! longer one — while an account the operator made by hand is never touched.
use std::future::Future;

use chrono::{Duration, Utc};
use vpnshop_core::customers::Language;
use vpnshop_core::entities::orders as order_rows;
use vpnshop_core::money::Currency;
use vpnshop_core::provisioning;
use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vpnshop_core::subscriptions::{self, Subscription, SubscriptionStatus};
use vpnshop_tests::assert_says;
use vpnshop_tests::telegram::FakeUser;

use crate::shop::{Shop, ShopBuilder};
use crate::support::{buys, home, irt, label, press, top_up, wallet};

const GB: u64 = 1 << 30;

async fn life_shop() -> Shop {
    ShopBuilder::new()
        .with_plan()
        .settings(|s| {
            s.subscriptions.sync_minutes = 10;
            s.subscriptions.check_minutes = 15;
        })
        .open()
        .await
}

/// The customer's only subscription, as the shop has it now.
async fn only_sub(shop: &Shop, customer: vpnshop_core::ids::CustomerId) -> Subscription {
    let db = &shop.app.db.db;
    let subs = provisioning::of_customer(db, customer).await.unwrap();
    let id = subs.first().expect("a subscription").id;
    subscriptions::find(db, id).await.unwrap().unwrap()
}

/// Waits (up to 20 s of real time, the clock standing still) until `done` holds.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..100 {
        if done().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{what} never happened");
}

/// Moves the clock past the next usage sync and waits until it has read `sub`, then past the
/// next check: every job has then seen the new figures.
async fn sync_then_check(shop: &Shop, sub: &Subscription) {
    let db = shop.app.db.db.clone();
    let before = subscriptions::find(&db, sub.id)
        .await
        .unwrap()
        .unwrap()
        .usage_synced_at;
    shop.app.clock.jump(Duration::minutes(11));
    eventually("a usage sync", || {
        let db = db.clone();
        async move {
            let now = subscriptions::find(&db, sub.id).await.unwrap().unwrap();
            now.usage_synced_at != before
        }
    })
    .await;
    shop.app.clock.jump(Duration::minutes(16));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_read_in_bulk_and_each_reminder_comes_once_per_period() {
    let shop = life_shop().await;
    let (sara, c) = buys(&shop.app, 7_970_000_001).await;
    let sub = only_sub(&shop, c.customer_id()).await;

    // Sara uses 41 of her 50 GB: the sync reads it and she is told once, at 80 %.
    shop.panel().use_traffic(&sub.panel_account, 41 * GB);
    sync_then_check(&shop, &sub).await;
    let first = sara.next().await;
    assert_says!(first, "80%");
    assert_says!(first, "41");
    assert!(first.button_labels().iter().any(|l| l.contains("Renew")));
    let read = only_sub(&shop, c.customer_id()).await;
    assert_eq!(read.used_bytes, (41 * GB) as i64);
    assert!(read.online_at.is_some(), "the last time online is read too");
    shop.app.clock.jump(Duration::minutes(16));
    sara.expect_silence().await;

    // At 96 % the 95 % reminder comes, once.
    shop.panel().use_traffic(&sub.panel_account, 7 * GB);
    sync_then_check(&shop, &sub).await;
    assert_says!(sara.next().await, "95%");

    // Two and a half days before the end: "ends in 3 days"; the traffic reminders are not
    // repeated (same period).
    shop.app
        .clock
        .jump(Duration::days(27) + Duration::hours(10));
    let days = sara.next().await;
    assert_says!(days, "ends in");
    shop.app.clock.jump(Duration::minutes(16));
    sara.expect_silence().await;

    // Sara renews from the reminder itself: a new period, and at 48 of 100 GB nothing is due.
    top_up(&shop.app.db.db, &c, irt(150_000)).await;
    let preview = press(&sara, &days, "Renew").await;
    sara.press(&preview, "from wallet");
    next_saying(&sara, "renewed").await;
    shop.app.clock.jump(Duration::minutes(16));
    sara.expect_silence().await;
    assert!(
        vpnshop_core::ledger::audit(&shop.app.db.db)
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_renew_says_what_is_missing_then_charges_the_wallet_once() {
    let shop = life_shop().await;
    let en = Language::En;
    let (sara, c) = buys(&shop.app, 7_970_000_002).await;
    let sub = only_sub(&shop, c.customer_id()).await;
    let db = shop.app.db.db.clone();

    // Sara switches auto-renew on from the subscription screen, which then says when and how
    // much.
    let home = home(&sara).await;
    let list = press(&sara, &home, &label(en, "menu.subscriptions")).await;
    let detail = press(&sara, &list, &format!("#{}", sub.id)).await;
    let on = press(&sara, &detail, "auto-renew on").await;
    assert_says!(on, "Auto-renew is on");
    assert_says!(on, "150,000");
    assert!(
        on.button_labels()
            .iter()
            .any(|l| l.contains("auto-renew off"))
    );

    // A day before the end her wallet is empty: she is told exactly what is missing, once
    // (next to the "1 day left" reminder, which says when auto-renew will charge).
    shop.app.clock.jump(Duration::days(29) + Duration::hours(1));
    let (a, b) = (sara.next().await, sara.next().await);
    let (short, days) = if a.text.contains("more in your wallet") {
        (a, b)
    } else {
        (b, a)
    };
    assert_says!(short, "needs 150,000 toman more in your wallet");
    assert!(short.button_labels().iter().any(|l| l.contains("Top up")));
    assert_says!(days, "ends in 1 day");
    assert_says!(days, "Auto-renew is on");
    top_up(&db, &c, irt(100_000)).await;
    shop.app.clock.jump(Duration::minutes(16));
    sara.expect_silence().await;

    // With enough in the wallet the next check renews: paid first, then extended.
    top_up(&db, &c, irt(50_000)).await;
    shop.app.clock.jump(Duration::minutes(16));
    next_saying(&sara, "renewed").await;
    assert_eq!(wallet(&shop.app, 7_970_000_002, Currency::Irt).await, 0);
    let renewed = only_sub(&shop, c.customer_id()).await;
    assert!(renewed.expires_at.unwrap() > sub.expires_at.unwrap() + Duration::days(29));
    let (expire, _) = shop.panel().limits_of(&sub.panel_account).unwrap();
    assert_eq!(expire, renewed.expires_at.map(|at| at.timestamp()));

    // Later checks in the same period charge nothing more.
    top_up(&db, &c, irt(150_000)).await;
    shop.app.clock.jump(Duration::minutes(16));
    shop.app.clock.jump(Duration::minutes(16));
    sara.expect_silence().await;
    assert_eq!(
        wallet(&shop.app, 7_970_000_002, Currency::Irt).await,
        150_000
    );
    let automatic = order_rows::Entity::find()
        .filter(order_rows::Column::AutoRenewKey.is_not_null())
        .all(&db)
        .await
        .unwrap();
    assert_eq!(automatic.len(), 1, "one automatic renewal");
    assert!(vpnshop_core::ledger::audit(&db).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_account_is_nudged_and_expired_ones_are_turned_off_then_deleted() {
    let shop = life_shop().await;
    let db = shop.app.db.db.clone();
    let (sara, sc) = buys(&shop.app, 7_970_000_003).await;
    let (omid, oc) = buys(&shop.app, 7_970_000_004).await;
    let sara_sub = only_sub(&shop, sc.customer_id()).await;
    let omid_sub = only_sub(&shop, oc.customer_id()).await;
    // The operator's own account, expired long ago: the shop never touches it.
    shop.panel().add_foreign("friend_of_admin");
    shop.panel()
        .set_expire("friend_of_admin", Some(Utc::now().timestamp() - 86_400));

    // Sara connects; Omid never does: six hours on, only Omid is nudged, with the guides and
    // Support.
    shop.panel().use_traffic(&sara_sub.panel_account, GB);
    shop.app.clock.jump(Duration::hours(6));
    sync_then_check(&shop, &omid_sub).await;
    let nudge = omid.next().await;
    assert_says!(nudge, "has not connected yet");
    let labels = nudge.button_labels().join(" | ");
    assert!(
        labels.contains("Android") && labels.contains("Support"),
        "{labels}"
    );
    sara.expect_silence().await;

    // Both expire: each hears it once, with a Renew button.
    shop.app.clock.jump(Duration::days(30));
    for who in [&sara, &omid] {
        let expired = next_saying(who, "has expired").await;
        assert!(expired.button_labels().iter().any(|l| l.contains("Renew")));
    }

    // A day later both accounts are turned off on the panel; the operator's is not.
    shop.app.clock.jump(Duration::hours(25));
    eventually("both accounts turned off", || {
        let db = db.clone();
        let (a, b) = (sara_sub.id, omid_sub.id);
        async move {
            let a = subscriptions::find(&db, a).await.unwrap().unwrap();
            let b = subscriptions::find(&db, b).await.unwrap().unwrap();
            a.status == SubscriptionStatus::Disabled && b.status == SubscriptionStatus::Disabled
        }
    })
    .await;
    assert_eq!(
        shop.panel().status_of(&sara_sub.panel_account).as_deref(),
        Some("disabled")
    );
    assert_eq!(
        shop.panel().status_of("friend_of_admin").as_deref(),
        Some("active")
    );

    // Sara renews the turned-off subscription: her account is on again.
    top_up(&db, &sc, irt(150_000)).await;
    let home = home(&sara).await;
    let list = press(&sara, &home, &label(Language::En, "menu.subscriptions")).await;
    assert_says!(list, "turned off");
    let detail = press(&sara, &list, &format!("#{}", sara_sub.id)).await;
    let preview = press(&sara, &detail, "Renew").await;
    sara.press(&preview, "from wallet");
    assert_says!(next_saying(&sara, "renewed").await, "renewed");
    assert_eq!(
        shop.panel().status_of(&sara_sub.panel_account).as_deref(),
        Some("active")
    );

    // Thirty days after expiry Omid's account is deleted; the operator's is still there.
    shop.app.clock.jump(Duration::days(29));
    eventually("Omid's account deleted", || {
        let db = db.clone();
        let id = omid_sub.id;
        async move {
            subscriptions::find(&db, id).await.unwrap().unwrap().status
                == SubscriptionStatus::Deleted
        }
    })
    .await;
    assert!(!shop.panel().has(&omid_sub.panel_account));
    assert!(shop.panel().has("friend_of_admin"));
    assert_eq!(
        only_sub(&shop, sc.customer_id()).await.status,
        SubscriptionStatus::Active
    );
    let trail = vpnshop_core::audit::latest(
        &db,
        &vpnshop_core::audit::Filter {
            kind: Some("subscription.deleted".into()),
            ..Default::default()
        },
        0,
        10,
    )
    .await
    .unwrap()
    .0;
    assert_eq!(trail.len(), 1, "the deletion is in the audit log");
}

/// The next message that says `what`, skipping others (reminders of other kinds).
async fn next_saying(u: &FakeUser, what: &str) -> vpnshop_tests::telegram::BotMessage {
    for _ in 0..5 {
        let m = u.next().await;
        if m.text.contains(what) {
            return m;
        }
    }
    panic!("no message said {what}");
}
