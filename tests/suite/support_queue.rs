//! The support queue: a ticket's post in the staff chat can be taken (the others see by whom)
//! and closed; support answers it from `/tickets` in private as well as by replying in the
//! chat; a ticket left unanswered is recalled to the staff chat once per wait; when it closes
//! the customer rates the answer, once. Finance, who may not handle tickets, is refused.
use vpnshop_bot::text::tr;
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::customers::Language;
use vpnshop_core::ids::{TelegramId, TicketId};
use vpnshop_core::staff::{self, Role};
use vpnshop_core::tickets;
use vpnshop_tests::assert_says;

use crate::shop::ShopBuilder;
use crate::support::{at_menu, press, t0};

const SAM: i64 = 9_400_000_001;
const NINA: i64 = 9_400_000_002;
const FINANCE: i64 = 9_400_000_003;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_takes_answers_and_closes_a_ticket_and_the_customer_rates_the_answer() {
    let shop = ShopBuilder::new().open().await;
    let db = &shop.app.db.db;
    let fa = Language::Fa;
    for (who, role) in [
        (SAM, Role::Support),
        (NINA, Role::Support),
        (FINANCE, Role::Finance),
    ] {
        staff::put(db, TelegramId::new(who), role, t0())
            .await
            .unwrap();
    }
    let (sam, _) = at_menu(&shop.app, SAM, "Sam", Language::En).await;
    let (nina, _) = at_menu(&shop.app, NINA, "Nina", Language::En).await;

    // Sara writes to support.
    let (sara, menu) = at_menu(&shop.app, 7_800_000_001, "Sara", Language::En).await;
    let support = press(&sara, &menu, "Support").await;
    press(&sara, &support, "New ticket").await;
    sara.send("My VPN stopped working");
    assert_says!(sara.next().await, "ticket #1");
    let post = shop.staff.next().await;
    assert_says!(post, "My VPN stopped working");
    assert_eq!(
        post.button_labels(),
        vec![tr(fa, "support.take"), tr(fa, "support.staff_close")]
    );

    // Finance may not handle tickets: Take is refused and changes nothing.
    let fatemeh = shop.app.user(FINANCE, "Fatemeh", Some("en"));
    let q = fatemeh.press_in_group(&post, "✋");
    assert_eq!(
        fatemeh.answer_to(&q).await,
        Some(tr(fa, "support.staff_only"))
    );
    let ticket = tickets::get(db, TicketId::new(1)).await.unwrap().unwrap();
    assert_eq!(ticket.taken_by, None);

    // Sam takes it: the post now says so for everyone; Nina pressing it is told who has it.
    let q = sam.press_in_group(&post, "✋");
    assert_eq!(
        sam.answer_to(&q).await,
        Some(tr(fa, "support.taken_now").replace("%{id}", "1"))
    );
    let marked = shop.staff.next().await;
    assert!(marked.edited);
    assert_eq!(marked.button_labels()[0], "✋ Sam");
    let q = nina.press_in_group(&marked, "✋");
    let told = nina.answer_to(&q).await.unwrap_or_default();
    assert!(told.contains("Sam"), "{told}");

    // An hour passes without an answer: the staff chat is reminded, once.
    shop.app.clock.jump(chrono::Duration::minutes(61));
    let reminder = shop.staff.next().await;
    assert_says!(reminder, "⏰");
    assert_says!(reminder, "#1");
    assert_says!(reminder, "Sam");
    shop.app.clock.jump(chrono::Duration::minutes(6));
    shop.staff.expect_silence().await;

    // Sam answers from the queue in private.
    sam.send("/tickets");
    let queue = sam.next().await;
    assert_says!(queue, "open tickets: 1");
    assert_says!(queue, "taken by Sam");
    assert_says!(queue, "waiting 6"); // 61 + 6 minutes, and the seconds the test took
    let ticket = press(&sam, &queue, "#1").await;
    assert_says!(ticket, "My VPN stopped working");
    press(&sam, &ticket, "Reply").await;
    sam.send("Please update the app and reconnect");
    let shown = sam.next().await;
    assert_says!(shown, "Queued for the customer");
    let answer = sara.next().await;
    assert_says!(answer, "Please update the app and reconnect");

    // Answered: no longer waiting, and no reminder however long it stays open.
    shop.app.clock.jump(chrono::Duration::minutes(120));
    shop.staff.expect_silence().await;

    // Sam closes it; Sara is asked to rate the answer, and rates it once.
    let closed = press(&sam, &shown, "Close").await;
    assert_says!(closed, "Ticket #1 closed");
    assert_says!(closed, "open tickets: 0");
    let asked = sara.next().await;
    assert_says!(asked, "Support closed ticket #1");
    let thanks = press(&sara, &asked, "⭐⭐⭐⭐").await;
    assert_says!(thanks, "Thank you for your rating");
    let again = press(&sara, &asked, "⭐⭐⭐⭐⭐").await;
    assert_says!(again, "already rated");
    let ticket = tickets::get(db, TicketId::new(1)).await.unwrap().unwrap();
    assert_eq!(ticket.rating, Some(4));

    // Every step Sam took is in the audit log, in order.
    let filter = Filter {
        kind: Some("ticket".into()),
        ..Filter::default()
    };
    let (rows, _) = audit::latest(db, &filter, 0, 10).await.unwrap();
    let steps: Vec<(Option<i64>, String)> = rows
        .into_iter()
        .rev()
        .map(|r| (r.actor_telegram_id.map(TelegramId::get), r.action))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Some(SAM), "ticket.take".to_string()),
            (Some(SAM), "ticket.answer".to_string()),
            (Some(SAM), "ticket.close".to_string()),
        ]
    );
}
