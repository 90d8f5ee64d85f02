//! Buying from the wallet: quote, order, pay once, provisioning job enqueued, no way back.
use chrono::Duration;
use vpnshop_core::jobs;
use vpnshop_core::ledger;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderError, OrderKind, OrderStatus, PointsRules, QuoteRequest};
use vpnshop_core::points;
use vpnshop_core::promo::{self, Discount, NewPromo, PromoError};
use vpnshop_core::sea_orm::{EntityTrait, TransactionTrait};
use vpnshop_tests::db::fresh_db;

use crate::support::{customer, irt, plan_30d, t0, top_up};

/// Places a purchase order for `quote`, valid for half an hour.
async fn place(
    db: &vpnshop_core::sea_orm::DatabaseConnection,
    c: &vpnshop_core::customers::Customer,
    quote: &orders::Quote,
) -> orders::Order {
    orders::place(
        db,
        c.customer_id(),
        OrderKind::Purchase,
        quote,
        None,
        Duration::minutes(30),
        t0(),
    )
    .await
    .unwrap()
}

/// The plan in toman, no promo code, no points.
fn plain_request(
    c: &vpnshop_core::customers::Customer,
    plan: &vpnshop_core::catalog::Plan,
) -> QuoteRequest {
    QuoteRequest {
        customer: c.customer_id(),
        plan: plan.plan_id(),
        currency: Currency::Irt,
        promo_code: None,
        points: 0,
        location: None,
    }
}

fn rules() -> PointsRules {
    PointsRules {
        value_minor: vec![(Currency::Irt, 100)],
        max_share_percent: 50,
    }
}

#[tokio::test]
async fn a_paid_order_cannot_move_backwards() {
    let t = fresh_db().await;
    let c = customer(&t.db, 1).await;
    let plan = plan_30d(&t.db).await;
    top_up(&t.db, &c, irt(200_000)).await;
    let req = plain_request(&c, &plan);
    let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
    assert_eq!(quote.total, irt(150_000));
    let order = place(&t.db, &c, &quote).await;

    let paid = orders::pay_with_wallet(&t.db, order.order_id(), c.customer_id(), t0())
        .await
        .unwrap();
    assert_eq!(paid.state(), OrderStatus::Paid);

    // A late cancel, a second "pay" (double tap) and a late expiry change nothing.
    assert!(
        !orders::cancel(&t.db, order.order_id(), c.customer_id(), t0())
            .await
            .unwrap()
    );
    assert!(matches!(
        orders::pay_with_wallet(&t.db, order.order_id(), c.customer_id(), t0()).await,
        Err(OrderError::NotPending(OrderStatus::Paid))
    ));
    assert_eq!(
        orders::expire_stale(&t.db, t0() + Duration::days(1))
            .await
            .unwrap(),
        0
    );
    assert!(
        !orders::transition(&t.db, order.order_id(), OrderStatus::PendingPayment, t0())
            .await
            .unwrap()
    );
    let now = orders::get(&t.db, order.order_id()).await.unwrap().unwrap();
    assert_eq!(now.state(), OrderStatus::Paid);
    assert_eq!(
        ledger::wallet_balance(&t.db, c.customer_id(), Currency::Irt)
            .await
            .unwrap(),
        irt(50_000)
    );

    // Exactly one provisioning job, and the order moves on only forward.
    let provision: Vec<_> = vpnshop_core::entities::jobs::Entity::find()
        .all(&t.db)
        .await
        .unwrap();
    assert_eq!(provision.len(), 1);
    assert_eq!(provision[0].kind, orders::PROVISION_JOB);
    assert!(
        orders::transition(&t.db, order.order_id(), OrderStatus::Provisioning, t0())
            .await
            .unwrap()
    );
    assert!(
        orders::transition(&t.db, order.order_id(), OrderStatus::Fulfilled, t0())
            .await
            .unwrap()
    );
    assert!(
        !orders::transition(&t.db, order.order_id(), OrderStatus::Refunded, t0())
            .await
            .unwrap()
    );
    assert!(
        !orders::transition(&t.db, order.order_id(), OrderStatus::Paid, t0())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_order_the_wallet_cannot_cover_stays_pending_and_nothing_moves() {
    let t = fresh_db().await;
    let c = customer(&t.db, 2).await;
    let plan = plan_30d(&t.db).await;
    top_up(&t.db, &c, irt(100_000)).await;
    let req = plain_request(&c, &plan);
    let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
    let order = place(&t.db, &c, &quote).await;
    let err = orders::pay_with_wallet(&t.db, order.order_id(), c.customer_id(), t0())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        OrderError::Ledger(ledger::LedgerError::InsufficientBalance {
            available: 100_000,
            required: 150_000
        })
    ));
    let still = orders::get(&t.db, order.order_id()).await.unwrap().unwrap();
    assert_eq!(still.state(), OrderStatus::PendingPayment);
    assert_eq!(
        ledger::wallet_balance(&t.db, c.customer_id(), Currency::Irt)
            .await
            .unwrap(),
        irt(100_000)
    );
    assert!(
        vpnshop_core::entities::jobs::Entity::find()
            .all(&t.db)
            .await
            .unwrap()
            .is_empty()
    );

    // Someone else cannot pay (or cancel) it; an expired quote cannot be paid.
    let other = customer(&t.db, 3).await;
    assert!(matches!(
        orders::pay_with_wallet(&t.db, order.order_id(), other.customer_id(), t0()).await,
        Err(OrderError::NotYours)
    ));
    assert!(matches!(
        orders::cancel(&t.db, order.order_id(), other.customer_id(), t0()).await,
        Err(OrderError::NotYours)
    ));
    top_up(&t.db, &c, irt(100_000)).await;
    assert!(matches!(
        orders::pay_with_wallet(
            &t.db,
            order.order_id(),
            c.customer_id(),
            t0() + Duration::hours(1)
        )
        .await,
        Err(OrderError::QuoteExpired)
    ));
    assert_eq!(
        orders::expire_stale(&t.db, t0() + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_promo_code_and_points_lower_the_price_and_are_consumed_once_paid() {
    let t = fresh_db().await;
    let c = customer(&t.db, 4).await;
    let plan = plan_30d(&t.db).await;
    promo::add(
        &t.db,
        NewPromo {
            code: "yalda".into(),
            discount: Discount::Percent(20),
            plan: None,
            max_uses: Some(1),
            per_customer_limit: 1,
            valid_until: None,
            location: None,
            first_purchase_only: false,
        },
        t0(),
    )
    .await
    .unwrap();
    let txn = t.db.begin().await.unwrap();
    points::earn(
        &txn,
        c.customer_id(),
        300,
        Some(t0() + Duration::days(90)),
        Default::default(),
        t0(),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();

    let req = QuoteRequest {
        customer: c.customer_id(),
        plan: plan.plan_id(),
        currency: Currency::Irt,
        promo_code: Some(" Yalda ".into()),
        points: 1_000,
        location: None,
    };
    let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
    // 150,000 − 20 % = 120,000; 300 points × 100 = 30,000 (under the 50 % cap) → 90,000.
    assert_eq!(quote.discount_minor, 30_000);
    assert_eq!(quote.points_used, 300);
    assert_eq!(quote.total, irt(90_000));

    top_up(&t.db, &c, irt(90_000)).await;
    let order = place(&t.db, &c, &quote).await;
    orders::pay_with_wallet(&t.db, order.order_id(), c.customer_id(), t0())
        .await
        .unwrap();
    assert_eq!(
        points::balance(&t.db, c.customer_id(), t0()).await.unwrap(),
        0
    );
    assert_eq!(
        ledger::wallet_balance(&t.db, c.customer_id(), Currency::Irt)
            .await
            .unwrap(),
        irt(0)
    );

    // The code had one use: the next customer is told it is used up.
    let d = customer(&t.db, 5).await;
    let req = QuoteRequest {
        customer: d.customer_id(),
        promo_code: Some("YALDA".into()),
        points: 0,
        ..req
    };
    assert!(matches!(
        orders::quote(&t.db, &req, &rules(), t0()).await,
        Err(OrderError::Promo(PromoError::UsedUp))
    ));
    let req = QuoteRequest {
        promo_code: Some("nope".into()),
        ..req
    };
    assert!(matches!(
        orders::quote(&t.db, &req, &rules(), t0()).await,
        Err(OrderError::Promo(PromoError::Unknown))
    ));
    assert_eq!(
        ledger::audit(&t.db).await.unwrap(),
        ledger::Audit::default()
    );
}

#[tokio::test]
async fn points_expire_and_leave_the_ledger_balanced() {
    let t = fresh_db().await;
    let c = customer(&t.db, 6).await;
    let txn = t.db.begin().await.unwrap();
    points::earn(
        &txn,
        c.customer_id(),
        100,
        Some(t0() + Duration::days(1)),
        Default::default(),
        t0(),
    )
    .await
    .unwrap();
    points::earn(&txn, c.customer_id(), 50, None, Default::default(), t0())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        points::balance(&t.db, c.customer_id(), t0()).await.unwrap(),
        150
    );
    let later = t0() + Duration::days(2);
    assert_eq!(
        points::balance(&t.db, c.customer_id(), later)
            .await
            .unwrap(),
        50
    );
    assert_eq!(points::expire_due(&t.db, later).await.unwrap(), 1);
    assert_eq!(points::expire_due(&t.db, later).await.unwrap(), 0);
    let account = ledger::points_account(&t.db, c.customer_id(), later)
        .await
        .unwrap();
    assert_eq!(ledger::balance(&t.db, account).await.unwrap(), 50);
    assert_eq!(
        ledger::audit(&t.db).await.unwrap(),
        ledger::Audit::default()
    );
    let _ = jobs::backoff(1);
}

/// A once-per-customer code typed into two previews (two tabs, or a preview kept open while
/// buying again): only the first payment gets the discount, even when both pay at once.
#[tokio::test]
async fn a_once_per_customer_promo_code_discounts_one_payment_only() {
    let t = fresh_db().await;
    let c = customer(&t.db, 9).await;
    let plan = plan_30d(&t.db).await;
    promo::add(
        &t.db,
        NewPromo {
            code: "WELCOME".into(),
            discount: Discount::Percent(50),
            plan: None,
            max_uses: None,
            per_customer_limit: 1,
            valid_until: None,
            location: None,
            first_purchase_only: false,
        },
        t0(),
    )
    .await
    .unwrap();
    top_up(&t.db, &c, irt(1_000_000)).await;
    let req = QuoteRequest {
        customer: c.customer_id(),
        plan: plan.plan_id(),
        currency: Currency::Irt,
        promo_code: Some("welcome".into()),
        points: 0,
        location: None,
    };
    // Six previews, all showing the discount before any is paid.
    let mut orders_open = Vec::new();
    for _ in 0..6 {
        let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
        assert_eq!(quote.total, irt(75_000));
        orders_open.push(place(&t.db, &c, &quote).await.order_id());
    }
    // Two paid one after the other: the second is refused with the reason.
    orders::pay_with_wallet(&t.db, orders_open[0], c.customer_id(), t0())
        .await
        .unwrap();
    assert!(matches!(
        orders::pay_with_wallet(&t.db, orders_open[1], c.customer_id(), t0()).await,
        Err(OrderError::Promo(PromoError::AlreadyUsed))
    ));
    // A fresh customer races four payments of one code: one wins.
    let d = customer(&t.db, 10).await;
    top_up(&t.db, &d, irt(1_000_000)).await;
    let req = QuoteRequest {
        customer: d.customer_id(),
        ..req
    };
    let mut racing = Vec::new();
    for _ in 0..4 {
        let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
        racing.push(place(&t.db, &d, &quote).await.order_id());
    }
    let paid = futures::future::join_all(
        racing
            .iter()
            .map(|&o| orders::pay_with_wallet(&t.db, o, d.customer_id(), t0())),
    )
    .await
    .into_iter()
    .filter(Result::is_ok)
    .count();
    assert_eq!(paid, 1, "one discounted payment per customer");
    for who in [&c, &d] {
        assert_eq!(
            ledger::wallet_balance(&t.db, who.customer_id(), Currency::Irt)
                .await
                .unwrap(),
            irt(925_000),
            "charged once"
        );
    }
    assert_eq!(
        ledger::audit(&t.db).await.unwrap(),
        ledger::Audit::default()
    );
}

/// An admin runs `vpnshop` commands (another process, another connection to the same file)
/// while customers buy: every purchase goes through, none gets "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_while_customers_buy_break_nothing() {
    let t = fresh_db().await;
    let plan = plan_30d(&t.db).await;
    let admin = vpnshop_core::db::open(&t.url).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // What `vpnshop location add` and `vpnshop card add` do.
                let new = vpnshop_core::catalog::NewLocation {
                    code: format!("x{n}"),
                    name: "Somewhere".into(),
                    flag: "🏳".into(),
                    sort_order: 0,
                };
                vpnshop_core::catalog::add_location(&admin, new, t0())
                    .await
                    .expect("the admin's command is not refused either");
                n += 1;
            }
            n
        })
    };
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(customer(&t.db, 500 + i).await);
    }
    for c in &buyers {
        top_up(&t.db, c, irt(150_000)).await;
        let req = QuoteRequest {
            customer: c.customer_id(),
            plan: plan.plan_id(),
            currency: Currency::Irt,
            promo_code: None,
            points: 0,
            location: None,
        };
        let quote = orders::quote(&t.db, &req, &rules(), t0()).await.unwrap();
        let order = place(&t.db, c, &quote).await;
        orders::pay_with_wallet(&t.db, order.order_id(), c.customer_id(), t0())
            .await
            .expect("the purchase is never refused because the admin wrote");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 0, "the admin really wrote meanwhile");
    assert_eq!(
        ledger::audit(&t.db).await.unwrap(),
        ledger::Audit::default()
    );
}

/// A bonus code gives more at the full price; a code can be for one location only, or for a
/// customer's first purchase only — checked when the preview is priced and again when paying.
#[tokio::test]
async fn bonus_codes_give_more_days_or_traffic_and_narrow_codes_refuse_politely() {
    let t = fresh_db().await;
    let c = customer(&t.db, 41).await;
    let plan = plan_30d(&t.db).await;
    let germany = plan.location_id;
    let code = |code: &str, discount, location, first_purchase_only| NewPromo {
        code: code.into(),
        discount,
        plan: None,
        max_uses: None,
        per_customer_limit: 5,
        valid_until: None,
        location,
        first_purchase_only,
    };
    promo::add(
        &t.db,
        code("WEEK", Discount::ExtraDays(7), None, false),
        t0(),
    )
    .await
    .unwrap();
    promo::add(&t.db, code("GIG", Discount::ExtraGb(10), None, false), t0())
        .await
        .unwrap();
    let finland = vpnshop_core::catalog::add_location(
        &t.db,
        vpnshop_core::catalog::NewLocation {
            code: "fi".into(),
            name: "Finland".into(),
            flag: "🇫🇮".into(),
            sort_order: 2,
        },
        t0(),
    )
    .await
    .unwrap();
    promo::add(
        &t.db,
        code(
            "HELSINKI",
            Discount::Percent(10),
            Some(finland.location_id()),
            false,
        ),
        t0(),
    )
    .await
    .unwrap();
    promo::add(
        &t.db,
        code("HELLO", Discount::Percent(30), None, true),
        t0(),
    )
    .await
    .unwrap();
    let with = |promo: &str| QuoteRequest {
        promo_code: Some(promo.into()),
        location: germany,
        ..plain_request(&c, &plan)
    };

    // Seven more days, ten more GB: the full price either way.
    let q = orders::quote(&t.db, &with("week"), &rules(), t0())
        .await
        .unwrap();
    assert_eq!((q.duration_days, q.total.minor()), (37, 150_000));
    let q = orders::quote(&t.db, &with("gig"), &rules(), t0())
        .await
        .unwrap();
    assert_eq!(q.traffic_bytes, Some(60 << 30));
    assert_eq!(q.discount_minor, 0);

    // A Finland code in Germany is refused.
    assert!(matches!(
        orders::quote(&t.db, &with("helsinki"), &rules(), t0()).await,
        Err(OrderError::Promo(PromoError::OtherLocation))
    ));

    // A first-purchase code works until the customer has bought once.
    let q = orders::quote(&t.db, &with("hello"), &rules(), t0())
        .await
        .unwrap();
    assert_eq!(q.total.minor(), 105_000);
    top_up(&t.db, &c, irt(500_000)).await;
    let first = place(&t.db, &c, &q).await;
    orders::pay_with_wallet(&t.db, first.order_id(), c.customer_id(), t0())
        .await
        .unwrap();
    assert!(matches!(
        orders::quote(&t.db, &with("hello"), &rules(), t0()).await,
        Err(OrderError::Promo(PromoError::NotFirstPurchase))
    ));
}
