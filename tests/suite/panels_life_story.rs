//! The shop and its panels over time: where new accounts go (placement), moving a subscription
//! to another location, reconciling the shop with what the panels really hold, provisioning
//! that waits out a panel outage, and the jobs screen that shows all of it running.
use chrono::Duration;
use vpnshop_core::clock::Clock;
use vpnshop_core::customers::Language;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::panels::{self, Placement};
use vpnshop_core::provisioning;
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_core::subscriptions::{self, SubscriptionStatus};
use vpnshop_tests::assert_says;
use vpnshop_tests::panels::marzban::{self as fake, FakeMarzban};

use crate::shop::{ADMIN, ShopBuilder};
use crate::support::{buys, home, irt, label, press, t0, top_up};

/// Another Marzban panel, `name`, in the location `location` (made if it is new).
async fn another_panel(
    db: &DatabaseConnection,
    name: &str,
    location: &str,
) -> (FakeMarzban, panels::Panel) {
    if vpnshop_core::catalog::location_by_code(db, location)
        .await
        .unwrap()
        .is_none()
    {
        vpnshop_core::catalog::add_location(
            db,
            vpnshop_core::catalog::NewLocation {
                code: location.into(),
                name: "Netherlands".into(),
                flag: "🇳🇱".into(),
                sort_order: 1,
            },
            t0(),
        )
        .await
        .unwrap();
    }
    let marzban = FakeMarzban::start().await;
    let (panel, _) = panels::add_panel(
        db,
        panels::NewPanel {
            name: name.into(),
            kind: marzban_client::PanelKind::Marzban,
            base_url: marzban.url.clone(),
            username: fake::USERNAME.into(),
            secret: secrecy::SecretString::from(fake::PASSWORD.to_string()),
            proxy: None,
            options: marzban_client::PanelOptions::default(),
            location: location.into(),
            capacity: None,
        },
        t0(),
    )
    .await
    .unwrap();
    panels::record_check(db, panel.id, None, None, t0())
        .await
        .unwrap();
    (marzban, panel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_takes_each_panel_in_turn_and_fixed_fills_the_first() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    let (_de2, p2) = another_panel(db, "de-2", "de").await;
    let p1 = panels::panel_by_name(db, "de-1").await.unwrap();
    let germany = vpnshop_core::catalog::location_by_code(db, "de")
        .await
        .unwrap()
        .unwrap();
    panels::set_placement(
        db,
        Some(TelegramId::new(ADMIN)),
        germany.id,
        Placement::RoundRobin,
        t0(),
    )
    .await
    .unwrap();
    let mut placed = Vec::new();
    for n in 0..4 {
        let (_, c) = buys(&shop.app, 7_960_000_001 + n).await;
        let sub = &provisioning::of_customer(db, c.customer_id())
            .await
            .unwrap()[0];
        placed.push(sub.panel_id);
    }
    assert_eq!(placed, vec![p1.id, p2.id, p1.id, p2.id], "each in turn");

    panels::set_placement(db, None, germany.id, Placement::Fixed, t0())
        .await
        .unwrap();
    let (_, c) = buys(&shop.app, 7_960_000_009).await;
    let sub = &provisioning::of_customer(db, c.customer_id())
        .await
        .unwrap()[0];
    assert_eq!(sub.panel_id, p1.id, "the first panel while it has room");
    let trail = vpnshop_core::audit::latest(
        db,
        &vpnshop_core::audit::Filter {
            kind: Some("location.placement".into()),
            ..Default::default()
        },
        0,
        10,
    )
    .await
    .unwrap()
    .0;
    assert_eq!(trail.len(), 2, "each change of placement is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_moves_to_another_location_keeping_days_and_traffic_left() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = shop.app.db.db.clone();
    let (nl, nl_panel) = another_panel(&db, "nl-1", "nl").await;
    let (sara, c) = buys(&shop.app, 7_960_000_020).await;
    let old = provisioning::of_customer(&db, c.customer_id())
        .await
        .unwrap()[0]
        .clone();
    shop.panel().use_traffic(&old.panel_account, 10 << 30);
    // The shop reads the 10 GB used (as the usage sync would).
    subscriptions::refresh(&db, old.id, Duration::zero(), shop.app.clock.now())
        .await
        .unwrap();

    let home = home(&sara).await;
    let list = press(&sara, &home, &label(Language::En, "menu.subscriptions")).await;
    let detail = press(&sara, &list, &format!("#{}", old.id)).await;
    let places = press(&sara, &detail, "Change location").await;
    assert_eq!(
        places
            .button_labels()
            .iter()
            .filter(|l| l.contains("Germany"))
            .count(),
        0,
        "not where it already is"
    );
    let confirm = press(&sara, &places, "Netherlands").await;
    assert_says!(confirm, "40 GB");
    let moving = press(&sara, &confirm, "Move it").await;
    assert_says!(moving, "Moving");
    let mut moved = sara.next().await;
    while !moved.text.contains("has moved") {
        moved = sara.next().await;
    }
    assert_says!(moved, "/sub/");
    assert!(sara.next().await.photo.is_some(), "the new link's QR code");

    // The new account: same end date, the 40 GB left; the old one turned off.
    let subs = provisioning::of_customer(&db, c.customer_id())
        .await
        .unwrap();
    assert_eq!(subs.len(), 1, "the old subscription left the list");
    let new = &subs[0];
    assert_eq!(new.panel_id, nl_panel.id);
    assert_eq!(new.traffic_limit_bytes, Some(40 << 30));
    let (expire, limit) = nl.limits_of(&new.panel_account).unwrap();
    assert_eq!(limit, Some(40 << 30));
    assert_eq!(expire, old.expires_at.map(|at| at.timestamp()));
    let mut off = None;
    for _ in 0..100 {
        off = shop.panel().status_of(&old.panel_account);
        if off.as_deref() == Some("disabled") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(off.as_deref(), Some("disabled"), "the old account is off");
    let old_now = subscriptions::find(&db, old.id).await.unwrap().unwrap();
    assert_eq!(old_now.status, SubscriptionStatus::Moved);

    // Moving again at once is refused, in words.
    sara.press_data(places.message_id, &format!("smt:{}:{}", new.id, 1));
    assert_says!(sara.next().await, "changed location recently");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_lists_drift_changes_nothing_then_repairs_what_the_owner_approves() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = shop.app.db.db.clone();
    let (_sara, sc) = buys(&shop.app, 7_960_000_030).await;
    let (_omid, oc) = buys(&shop.app, 7_960_000_031).await;
    let sara = provisioning::of_customer(&db, sc.customer_id())
        .await
        .unwrap()[0]
        .clone();
    let omid = provisioning::of_customer(&db, oc.customer_id())
        .await
        .unwrap()[0]
        .clone();
    let panel = shop.panel();
    // On the panel, by hand: Sara's expiry cut short, Omid's account deleted, a leftover
    // account under the shop's own name pattern, and the operator's own account.
    panel.set_expire(&sara.panel_account, Some(t0().timestamp()));
    panel.delete_user(&omid.panel_account);
    let tag = vpnshop_core::shop::identity(&db)
        .await
        .unwrap()
        .account_tag("vs");
    let leftover = format!("{tag}_999_999");
    panel.seed([(leftover.clone(), 0, None, None)]);
    panel.add_foreign("friend_of_admin");

    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/reconcile");
    let diff = owner.next().await;
    assert_says!(diff, "items found: 3");
    assert_says!(diff, &format!("subscription {}", sara.id));
    assert_says!(diff, &format!("subscription {}: no account", omid.id));
    assert_says!(diff, &leftover);
    assert!(!diff.text.contains("friend_of_admin"), "{}", diff.text);
    // The dry run changed nothing.
    assert!(!panel.has(&omid.panel_account));
    assert_eq!(
        panel.limits_of(&sara.panel_account).unwrap().0,
        Some(t0().timestamp())
    );

    owner.press(&diff, "Repair all");
    let after = owner.next().await;
    assert_says!(after, "Repaired");
    assert_says!(after, "No drift");
    assert_eq!(
        panel.limits_of(&sara.panel_account).unwrap().0,
        sara.expires_at.map(|at| at.timestamp())
    );
    assert!(panel.has(&omid.panel_account), "made again, with its key");
    assert_eq!(panel.status_of(&leftover).as_deref(), Some("disabled"));
    assert_eq!(
        panel.status_of("friend_of_admin").as_deref(),
        Some("active")
    );
    let trail = vpnshop_core::audit::latest(
        &db,
        &vpnshop_core::audit::Filter {
            kind: Some("reconcile.repair".into()),
            ..Default::default()
        },
        0,
        10,
    )
    .await
    .unwrap()
    .0;
    assert_eq!(trail.len(), 3, "each repair is audited");
    assert!(
        trail
            .iter()
            .all(|r| r.actor_telegram_id == Some(TelegramId::new(ADMIN)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_waits_out_a_panel_outage_then_is_delivered_without_a_refund() {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| s.panels.health_check_seconds = 60)
        .open()
        .await;
    let db = shop.app.db.db.clone();
    let (sara, home) =
        crate::support::at_menu(&shop.app, 7_960_000_040, "Sara", Language::En).await;
    let c = vpnshop_core::customers::by_telegram_id(&db, TelegramId::new(sara.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(150_000)).await;
    let locations = press(&sara, &home, &label(Language::En, "menu.buy")).await;
    let plans = press(&sara, &locations, "Germany").await;
    let preview = press(&sara, &plans, "1 month").await;

    // The panel goes down (the health check marks it) just as Sara pays.
    shop.panel().faults.fail_next(100_000);
    shop.app.clock.jump(Duration::seconds(61));
    shop.staff.next().await;
    sara.press(&preview, "from wallet");
    assert_says!(sara.next().await, "Paid");
    // Twenty minutes of outage: many more tries than the job's attempts, and no refund.
    for _ in 0..20 {
        shop.app.clock.jump(Duration::minutes(1));
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    sara.expect_silence().await;
    assert_eq!(
        crate::support::wallet(&shop.app, sara.id, vpnshop_core::money::Currency::Irt).await,
        0
    );

    // It comes back: the order is delivered.
    shop.panel().faults.fail_next(0);
    shop.app.clock.jump(Duration::minutes(1));
    let mut ready = sara.next().await;
    while !ready.text.contains("/sub/") {
        ready = sara.next().await;
    }
    assert_says!(ready, "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_screen_and_vpnshop_jobs_show_each_job_running() {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| {
            s.subscriptions.sync_minutes = 10;
            s.subscriptions.check_minutes = 15;
        })
        .open()
        .await;
    let db = shop.app.db.db.clone();
    // A panel that does not answer makes the usage sync fail: the screen says why.
    shop.panel().faults.fail_next(100_000);
    shop.app.clock.jump(Duration::minutes(11));
    let mut failed = false;
    for _ in 0..100 {
        let board = vpnshop_core::job_board::recurring(&db).await.unwrap();
        if board
            .iter()
            .any(|r| r.kind == "usage_sync" && r.last_error.is_some())
        {
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(failed, "the sync's failure is recorded");
    shop.panel().faults.fail_next(0);

    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/jobs");
    let screen = owner.next().await;
    for job in [
        "usage_sync",
        "reminders",
        "auto_renew",
        "expiry",
        "housekeeping",
        "reconcile",
    ] {
        assert_says!(screen, job);
    }
    assert_says!(screen, "last error");
    assert_says!(screen, "de-1");
    assert_says!(screen, "every ");

    let mut out = Vec::new();
    vpnshop_bot::cli::jobs::write(&db, shop.app.clock.now(), &mut out)
        .await
        .unwrap();
    let table = String::from_utf8(out).unwrap();
    assert!(
        table.contains("usage_sync") && table.contains("de-1"),
        "{table}"
    );
    assert!(table.lines().next().unwrap().starts_with("JOB"), "{table}");
}
