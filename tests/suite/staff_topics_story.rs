//! A staff chat that is a forum: each kind of notice goes to its own topic, once, and the group's
//! limit (20 posts in any minute) holds across a restart — the pace is kept in the database, so
//! the process that starts after a busy minute does not post a second burst into it.
use chrono::Duration;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderKind, PointsRules, QuoteRequest};
use vpnshop_tests::assert_says;

use crate::shop::{STAFF_CHAT, ShopBuilder};
use crate::support::{at_menu, customer, irt, press, top_up};

const SALES: i64 = 11;
const TICKETS: i64 = 13;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_go_to_their_topics_once_and_the_pace_holds_across_a_restart() {
    let mut shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| {
            s.shop.staff_topics.sales = Some(SALES as i32);
            s.shop.staff_topics.tickets = Some(TICKETS as i32);
            s.shop.staff_topics.alerts = Some(16);
            s.run.shutdown_seconds = 1;
        })
        .open()
        .await;
    shop.app
        .tg
        .make_forum(STAFF_CHAT, &[SALES, 12, TICKETS, 14, 15, 16]);
    let db = shop.app.db.db.clone();
    let plan = shop.plan.clone().unwrap();

    // A question goes to the tickets topic.
    let (sara, menu) = at_menu(
        &shop.app,
        7_970_000_001,
        "Sara",
        vpnshop_core::customers::Language::En,
    )
    .await;
    let support = press(&sara, &menu, "Support").await;
    press(&sara, &support, "New ticket").await;
    sara.send("Which server is fastest?");
    sara.next().await;
    let post = shop.staff.next().await;
    assert_says!(post, "Which server is fastest?");
    assert_eq!(post.thread, Some(TICKETS));

    // Twenty-five sales at once: nineteen posts go now, in the sales topic (with the ticket's,
    // twenty in this minute).
    for i in 0..25 {
        let c = customer(&db, 7_970_100_000 + i).await;
        top_up(&db, &c, irt(150_000)).await;
        let req = QuoteRequest {
            customer: c.customer_id(),
            plan: plan.plan_id(),
            currency: Currency::Irt,
            promo_code: None,
            points: 0,
            location: None,
        };
        // Priced and paid now: the bot's housekeeping expires quotes older than their half hour.
        let now = chrono::Utc::now();
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
        orders::pay_with_wallet(&db, order.order_id(), c.customer_id(), now)
            .await
            .unwrap();
    }
    let mut sales = Vec::new();
    while sales.len() < 19 {
        let m = shop.staff.next().await;
        assert_eq!(m.thread, Some(SALES), "{}", m.text);
        sales.push(m.text);
    }
    // The next ones wait for the minute: the bot stops and starts again meanwhile, and the
    // new process keeps the pace the old one set.
    shop.staff.expect_silence().await;
    shop.app.stop().await;
    shop.app.start().await;
    shop.staff.expect_silence().await;
    shop.app.clock.jump(Duration::seconds(61));
    while sales.len() < 25 {
        let m = shop.staff.next().await;
        assert_eq!(m.thread, Some(SALES), "{}", m.text);
        sales.push(m.text);
    }
    shop.staff.expect_silence().await;
    // Each sale once.
    let mut orders: Vec<String> = sales
        .iter()
        .map(|t| t.split_whitespace().nth(2).unwrap_or_default().to_string())
        .collect();
    orders.sort();
    orders.dedup();
    assert_eq!(orders.len(), 25, "{sales:#?}");
}
