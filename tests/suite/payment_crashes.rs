//! Every paid order ends fulfilled or refunded (invariant 4): a Persian customer buys a plan
//! through Zarinpal while the bot is killed and restarted between every two steps, the gateway
//! is down when it is asked, the panel is down when the order is paid and dies half-way through
//! creating the account; another's panel never comes back and the order is refunded.
use std::time::Duration;
use vpnshop_tests::assert_says;

use vpnshop_bot::text::tr;
use vpnshop_core::customers::{self, Language};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::ledger;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, Order, OrderStatus};
use vpnshop_tests::app::{TestApp, spawn_app_after, spawn_app_with};
use vpnshop_tests::gateways::zarinpal::FakeZarinpal;
use vpnshop_tests::telegram::{BotMessage, FakeUser};

use crate::shop::{Shop, ShopBuilder};
use crate::support::{at_menu, label, press, wallet};
use vpnshop_tests::panels::marzban::FakeMarzban;

/// A toman shop taking Zarinpal (asked in toman), reconciling every second, with the plan on a
/// Marzban the story breaks.
async fn shop_with_zarinpal() -> (TestApp, FakeZarinpal, FakeMarzban) {
    let Shop {
        app, zp, marzban, ..
    } = ShopBuilder::new()
        .with_zarinpal("IRT")
        .with_plan()
        .settings(|s| s.payments.reconcile_seconds = 1)
        .open()
        .await;
    (app, zp.unwrap(), marzban.unwrap())
}

/// The customer's only order, as it is now.
async fn the_order(app: &TestApp, u: &FakeUser) -> Order {
    let db = &app.db.db;
    let c = customers::by_telegram_id(db, TelegramId::new(u.id))
        .await
        .unwrap()
        .unwrap();
    let mut all = orders::of_customer(db, c.customer_id()).await.unwrap();
    assert_eq!(all.len(), 1, "one order");
    all.remove(0)
}

/// Waits (up to 60 s) until the order is in `state`, jumping the bot's clock `jump` ahead on
/// each look (so retries and leases come due without waiting for them).
async fn order_reaches(app: &TestApp, u: &FakeUser, state: OrderStatus, jump: chrono::Duration) {
    for _ in 0..600 {
        if the_order(app, u).await.state() == state {
            return;
        }
        app.clock.jump(jump);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(the_order(app, u).await.state(), state);
}

/// Messages until one contains `needle` (at most `n`); all of them, joined.
async fn until(u: &FakeUser, needle: &str, n: usize) -> String {
    let mut seen = String::new();
    for _ in 0..n {
        seen.push_str(&u.next().await.text);
        seen.push('\n');
        if seen.contains(needle) {
            return seen;
        }
    }
    panic!("`{needle}` never came; got: {seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zarinpal_purchase_survives_a_kill_between_every_two_steps_and_is_fulfilled_once() {
    let (mut app, zp, marzban) = shop_with_zarinpal().await;
    let fa = Language::Fa;
    let zarinpal = label(fa, "pay.method.zarinpal");

    let (ali, menu) = at_menu(&app, 7_600_000_001, "علی", fa).await;
    app.restart().await;
    let locations = press(&ali, &menu, &label(fa, "menu.buy")).await;
    app.restart().await;
    let plans = press(&ali, &locations, "Germany").await;
    app.restart().await;
    let preview = press(&ali, &plans, "1 month").await;
    assert_eq!(
        the_order(&app, &ali).await.state(),
        OrderStatus::PendingPayment
    );
    app.restart().await;

    // Zarinpal is down: the customer is told, nothing is charged or opened.
    zp.faults.fail_next(1);
    let down = press(&ali, &preview, &zarinpal).await;
    assert_says!(down, &tr(fa, "pay.gateway_down"));
    assert!(zp.authorities().is_empty());
    app.restart().await;

    // Killed while Zarinpal is answering: the customer never got a link, so nothing can be
    // paid there; pressing again opens a new payment.
    zp.faults.hang_next(1);
    let calls = zp.faults.calls();
    ali.press(&preview, &zarinpal);
    for _ in 0..100 {
        if zp.faults.calls() > calls {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.kill().await;
    app.start().await;
    ali.expect_silence().await;
    let how = press(&ali, &preview, &zarinpal).await;
    assert_says!(how, "150,000");
    app.restart().await;

    // The customer pays while the bot is down: the browser's return finds nobody.
    let authority = zp.authorities().pop().unwrap();
    zp.pay(&authority);
    let back = zp.last_callback().expect("the browser returns");
    app.kill().await;
    assert_eq!(back.deliver().await, 0, "the bot is down");
    // Back up, but Zarinpal cannot be reached to verify (from before the restart, so no sweep
    // gets through first): the page says "pending", nothing moves.
    zp.faults.fail_next(1_000);
    app.start().await;
    assert_eq!(back.deliver().await, 200);
    assert_eq!(
        the_order(&app, &ali).await.state(),
        OrderStatus::PendingPayment
    );
    assert_eq!(zp.verified_count(&authority), 0);

    // Zarinpal answers again but the panel is down: reconciliation verifies and pays the order,
    // provisioning waits for the panel. The customer hears of the payment once.
    marzban.faults.fail_next(1_000);
    zp.faults.fail_next(0);
    order_reaches(
        &app,
        &ali,
        OrderStatus::Provisioning,
        chrono::Duration::zero(),
    )
    .await;
    let received = ali.next().await;
    assert_says!(received, "150,000");
    app.restart().await;

    // The panel is back; the bot dies after the panel created the account and before it heard
    // so. The next process waits out the dead one's lease and finds the account made.
    marzban.faults.fail_next(0);
    marzban.faults.only_writes(true);
    marzban.faults.only_paths("/api/user");
    marzban.faults.apply_then_hang_next(1);
    for _ in 0..200 {
        if marzban.user_count() == 1 {
            break;
        }
        app.clock.jump(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(marzban.user_count(), 1, "the panel made the account");
    app.kill().await;
    app.start().await;
    order_reaches(
        &app,
        &ali,
        OrderStatus::Fulfilled,
        chrono::Duration::minutes(1),
    )
    .await;
    until(&ali, "/sub/", 4).await;

    assert_eq!(marzban.user_count(), 1, "one account, not two");
    assert_eq!(wallet(&app, ali.id, Currency::Irt).await, 0);
    assert_eq!(zp.status(&authority), Some("VERIFIED"));
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_whose_panel_never_comes_back_is_refunded_to_the_wallet_once() {
    let (mut app, zp, marzban) = shop_with_zarinpal().await;
    marzban.faults.fail_next(100_000);
    let fa = Language::Fa;
    let (sara, menu) = at_menu(&app, 7_600_000_002, "سارا", fa).await;
    let locations = press(&sara, &menu, &label(fa, "menu.buy")).await;
    let plans = press(&sara, &locations, "Germany").await;
    let preview = press(&sara, &plans, "1 month").await;
    press(&sara, &preview, &label(fa, "pay.method.zarinpal")).await;
    let authority = zp.authorities().pop().unwrap();
    zp.pay(&authority);
    assert_eq!(zp.last_callback().unwrap().deliver().await, 200);
    until(&sara, "150,000", 2).await;

    // Every retry fails; the bot is killed between them; the last one refunds.
    for _ in 0..3 {
        app.clock.jump(chrono::Duration::hours(1));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        app.restart().await;
    }
    order_reaches(
        &app,
        &sara,
        OrderStatus::Refunded,
        chrono::Duration::hours(1),
    )
    .await;
    until(&sara, "150,000", 3).await;
    app.restart().await;
    sara.expect_silence().await;

    assert_eq!(wallet(&app, sara.id, Currency::Irt).await, 150_000);
    assert_eq!(marzban.user_count(), 0);
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
}

/// Wallet → Top up, in Persian.
async fn top_up_menu(u: &FakeUser, menu: &BotMessage) -> BotMessage {
    let w = press(u, menu, &label(Language::Fa, "menu.wallet")).await;
    press(u, &w, &label(Language::Fa, "wallet.top_up")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stars_whose_payment_update_never_came_are_found_in_the_star_transactions_once() {
    let mut app = spawn_app_with(|s| {
        s.payments.reconcile_seconds = 1;
        s.sales.stars_rate = Some("1,000".into());
        s.sales.stars_top_up = vec![100, 350];
    })
    .await;
    let fa = Language::Fa;

    // Sara's payment arrives as usual; Reza's update is lost (the bot was down for a day).
    let (sara, menu) = at_menu(&app, 7_600_000_003, "سارا", fa).await;
    let options = top_up_menu(&sara, &menu).await;
    let invoice = press(&sara, &options, "100 ⭐").await.invoice.unwrap();
    sara.pay(&invoice).await;
    assert_says!(sara.next().await, "100,000");

    let (reza, menu) = at_menu(&app, 7_600_000_004, "رضا", fa).await;
    let options = top_up_menu(&reza, &menu).await;
    let invoice = press(&reza, &options, "350 ⭐").await.invoice.unwrap();
    app.kill().await;
    app.start().await;
    reza.pay_without_update(&invoice).await;
    // For two minutes the update may still come: reconciliation leaves it alone.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(wallet(&app, reza.id, Currency::Irt).await, 0);
    app.clock.jump(chrono::Duration::minutes(3));

    // The next sweeps read the transactions: Reza is credited once and told; Sara's payment,
    // read there too, is not counted again.
    let told = reza.next().await;
    assert_says!(told, "350,000");
    app.restart().await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    reza.expect_silence().await;
    sara.expect_silence().await;
    assert_eq!(wallet(&app, reza.id, Currency::Irt).await, 350_000);
    assert_eq!(wallet(&app, sara.id, Currency::Irt).await, 100_000);
    assert_eq!(
        vpnshop_core::payments::stars::transactions_scanned(&app.db.db)
            .await
            .unwrap(),
        Some(2),
        "each transaction read once, not every sweep from the start"
    );
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
}

/// Waits (generously: the machine may be busy) until reconciliation has read `n` transactions.
async fn scanned_reaches(app: &TestApp, n: u32) {
    for _ in 0..600 {
        if vpnshop_core::payments::stars::transactions_scanned(&app.db.db)
            .await
            .unwrap()
            == Some(n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("reconciliation never read {n} transactions");
}

/// A seller moves a bot that sold Stars before to vpnshop. Its earlier payments are not the
/// shop's: the new database starts after them. A later payment the shop never invoiced (another
/// service on the token, or by someone who is no customer) is skipped and written down, never
/// refunded, and reconciliation carries on past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stars_the_shop_never_invoiced_are_skipped_never_refunded() {
    let app = spawn_app_after(
        |tg| {
            // The old bot's sales, one with a payload that looks like the shop's own.
            tg.star_payment_from_elsewhere(7_600_000_010, 500, "stars:1");
            tg.star_payment_from_elsewhere(7_600_000_011, 250, "premium-month");
            tg.star_payment_from_elsewhere(7_600_000_012, 100, "stars:zz9zz:4");
        },
        |s| {
            s.payments.reconcile_seconds = 1;
            s.sales.stars_rate = Some("1,000".into());
            s.sales.stars_top_up = vec![100, 350];
        },
    )
    .await;
    scanned_reaches(&app, 3).await;

    // A customer pays as usual.
    let fa = Language::Fa;
    let (sara, menu) = at_menu(&app, 7_600_000_013, "سارا", fa).await;
    let options = top_up_menu(&sara, &menu).await;
    let invoice = press(&sara, &options, "100 ⭐").await.invoice.unwrap();
    sara.pay(&invoice).await;
    assert_says!(sara.next().await, "100,000");

    // Then the other service sells again on the same token, once to Sara herself.
    app.tg
        .star_payment_from_elsewhere(7_600_000_011, 250, "premium-month");
    app.tg.star_payment_from_elsewhere(sara.id, 50, "stars:2");
    app.clock.jump(chrono::Duration::minutes(3));
    scanned_reaches(&app, 6).await;
    // And the shop's own sales are still found after them.
    let invoice = press(&sara, &top_up_menu(&sara, &menu).await, "350 ⭐")
        .await
        .invoice
        .unwrap();
    sara.pay_without_update(&invoice).await;
    app.clock.jump(chrono::Duration::minutes(3));
    assert_says!(sara.next().await, "350,000");
    scanned_reaches(&app, 7).await;

    assert!(app.tg.refunds().is_empty(), "nothing refunded");
    assert_eq!(wallet(&app, sara.id, Currency::Irt).await, 450_000);
    use vpnshop_core::sea_orm::EntityTrait;
    let skipped = vpnshop_core::entities::audit_log::Entity::find()
        .all(&app.db.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "stars.payment.skipped")
        .count();
    assert_eq!(skipped, 2, "each foreign payment written down once");
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
}
