//! Paying as customers and staff really do, end to end: the real bot on the fake Telegram
//! server, talking HTTP to faithful fakes of the gateways, which deliver their callbacks twice,
//! two hundred times at once, late, forged, stale or never. Card-to-card in Persian with staff
//! approving and rejecting from the staff chat; YooKassa in Russian; Zarinpal in Persian;
//! NOWPayments and CryptoBot in English. No secret ever reaches the log.
use std::time::Duration;
use vpnshop_tests::assert_says;

use vpnshop_bot::text::tr;
use vpnshop_core::customers::{self, Language};
use vpnshop_core::entities::audit_log;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::ledger;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderStatus};
use vpnshop_core::payments::card::{self, CardNumber};
use vpnshop_core::sea_orm::EntityTrait;
use vpnshop_tests::app::{TestApp, logs, spawn_app_after};
use vpnshop_tests::gateways::yookassa::FakeYooKassa;
use vpnshop_tests::telegram::{BotMessage, FakeUser};

use crate::shop::{
    ADMIN, CB_TOKEN, NP_IPN, NP_KEY, NP_PASSWORD, STAFF_CHAT, Shop, ShopBuilder, YK_SECRET,
    ZP_MERCHANT,
};
use crate::support::{at_menu, label, press, t0, wallet, wallet_reaches};

async fn audit_actions(app: &TestApp) -> Vec<String> {
    audit_log::Entity::find()
        .all(&app.db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

/// How the bot answered a button press (waits up to 10 s).
async fn answer(app: &TestApp, query: &str) -> Option<String> {
    for _ in 0..100 {
        if let Some(a) = app.tg.callback_answer(query) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the press {query} was never answered");
}

fn assert_never_logged(secrets: &[&str]) {
    let all = logs();
    for s in secrets {
        assert!(!all.contains(s), "a secret reached the log: {s}");
    }
}

/// A ruble shop with a staff chat and YooKassa, whose notices reach the bot.
async fn ruble_shop_with_yookassa() -> (FakeYooKassa, TestApp) {
    let Shop { app, yk, .. } = ShopBuilder::new()
        .selling_in("RUB")
        .with_yookassa()
        .open()
        .await;
    (yk.unwrap(), app)
}

/// Wallet → Top up → a method → the amount: the bot's instructions.
async fn top_up_via(
    u: &FakeUser,
    menu: &BotMessage,
    lang: Language,
    method: &str,
    amount: &str,
) -> BotMessage {
    let w = press(u, menu, &label(lang, "menu.wallet")).await;
    let options = press(u, &w, &label(lang, "wallet.top_up")).await;
    let ask = press(u, &options, &label(lang, &format!("pay.method.{method}"))).await;
    assert!(
        ask.text
            .contains(&tr(lang, &format!("pay.method.{method}"))),
        "{}",
        ask.text
    );
    u.send(amount);
    u.next().await
}

/// The URL behind the "open the payment page" button.
fn pay_url(m: &BotMessage, lang: Language) -> String {
    m.buttons
        .iter()
        .flatten()
        .find(|(l, _)| *l == tr(lang, "pay.open_gateway"))
        .unwrap_or_else(|| panic!("no payment link on {:?}", m.text))
        .1
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_to_card_in_persian_staff_approve_reject_and_a_forged_approve_changes_nothing() {
    let shop = ShopBuilder::new()
        .with_plan()
        .with_card_of("علی رضایی", "ملی")
        .settings(|s| s.payments.card.max_offset = "999".into())
        .open()
        .await;
    let (app, staff, admin) = (&shop.app, &shop.staff, &shop.admin);
    let db = &app.db.db;
    let fa = Language::Fa;

    // Top up 200,000 toman by card: the amount to send is made unique (200,001).
    let (sara, menu) = at_menu(app, 7_200_000_001, "سارا", fa).await;
    let how = top_up_via(&sara, &menu, fa, "card", "۲۰۰٬۰۰۰").await;
    assert_says!(how, "200,001 تومان");
    assert_says!(how, "6037-9911-2233-4455");
    assert_says!(how, "علی رضایی");
    let (received, receipt) = sara.send_receipt(staff).await;
    assert_says!(received, tr(fa, "pay.receipt_received"));
    assert!(receipt.photo.is_some(), "{receipt:?}");
    assert_says!(receipt, "200,001 تومان");
    assert_says!(receipt, "سارا");

    // The customer herself presses a forged Approve in the staff chat: refused, nothing moves.
    let forged = sara.press_in_group(&receipt, "تأیید");
    assert_eq!(
        answer(app, &forged).await.as_deref(),
        Some(tr(fa, "receipt.not_allowed").as_str())
    );
    assert_eq!(wallet(app, sara.id, Currency::Irt).await, 0);
    assert!(
        audit_actions(app)
            .await
            .contains(&"receipt.approve.denied".to_string())
    );

    // The admin approves; a second press changes nothing.
    let q = admin.press_in_group(&receipt, "تأیید");
    assert_eq!(
        answer(app, &q).await.as_deref(),
        Some(tr(fa, "receipt.answer_approved").as_str())
    );
    let edited = staff.next().await;
    assert!(
        edited.edited && edited.text.contains("تأیید شد توسط Admin"),
        "{}",
        edited.text
    );
    assert!(edited.buttons.is_empty());
    let credited = sara.next().await;
    assert_says!(credited, "200,001 تومان");
    let again = admin.press_data_in_group(STAFF_CHAT, receipt.message_id, &receipt.buttons[0][0].1);
    assert_eq!(
        answer(app, &again).await.as_deref(),
        Some(tr(fa, "receipt.already_decided").as_str())
    );
    assert_eq!(wallet(app, sara.id, Currency::Irt).await, 200_001);

    // Another customer buys by card: the first receipt is rejected with a reason, the second
    // approved, and the order is paid and provisioned.
    let (reza, menu) = at_menu(app, 7_200_000_002, "رضا", fa).await;
    let locations = press(&reza, &menu, &label(fa, "menu.buy")).await;
    let plans = press(&reza, &locations, "Germany").await;
    let preview = press(&reza, &plans, "1 month").await;
    let how = press(&reza, &preview, &label(fa, "pay.method.card")).await;
    assert_says!(how, "150,00");
    let (_, receipt) = reza.send_receipt(staff).await;
    let q = admin.press_in_group(&receipt, "رد");
    answer(app, &q).await;
    let mut asked = staff.next().await;
    if asked.edited {
        asked = staff.next().await;
    }
    assert_eq!(asked.reply_to, Some(receipt.message_id), "{asked:?}");
    admin.reply_to(
        STAFF_CHAT,
        receipt.message_id,
        "واریزی با این مبلغ پیدا نشد",
    );
    let told = reza.next().await;
    assert_says!(told, "واریزی با این مبلغ پیدا نشد");
    let order = orders::of_customer(
        db,
        customers::by_telegram_id(db, TelegramId::new(reza.id))
            .await
            .unwrap()
            .unwrap()
            .customer_id(),
    )
    .await
    .unwrap()
    .remove(0);
    assert_eq!(order.state(), OrderStatus::PendingPayment);

    let how = press(&reza, &preview, &label(fa, "pay.method.card")).await;
    assert_says!(how, "6037");
    let (_, receipt) = reza.send_receipt(staff).await;
    let q = admin.press_in_group(&receipt, "تأیید");
    answer(app, &q).await;
    let mut seen = String::new();
    for _ in 0..3 {
        seen.push_str(&reza.next().await.text);
        if seen.contains("/sub/") {
            break;
        }
    }
    assert!(
        seen.contains("/sub/"),
        "the subscription link arrives: {seen}"
    );
    let order = orders::get(db, order.order_id()).await.unwrap().unwrap();
    assert_eq!(order.state(), OrderStatus::Fulfilled);
    assert!(ledger::audit(db).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yookassa_in_russian_two_hundred_notices_the_return_page_and_reconciliation_credit_once() {
    let Shop { app, yk, .. } = ShopBuilder::new()
        .selling_in("RUB")
        .with_yookassa()
        .settings(|s| s.payments.reconcile_seconds = 1)
        .open()
        .await;
    let yk = yk.unwrap();
    let ru = Language::Ru;
    let (ivan, menu) = at_menu(&app, 7_300_000_001, "Иван", ru).await;
    let how = top_up_via(&ivan, &menu, ru, "yookassa", "500").await;
    assert_says!(how, "500.00 ₽");
    let url = pay_url(&how, ru);
    assert!(url.contains("/checkout/"), "{url}");
    let id = yk.payment_ids().pop().unwrap();

    // A notice claiming success before anything was paid: the API says pending, nothing moves.
    let early = vpnshop_tests::gateways::Sent {
        method: reqwest::Method::POST,
        url: format!("{}/pay/yookassa/notify", app.http),
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&serde_json::json!({
            "type": "notification", "event": "payment.succeeded",
            "object": { "id": id, "status": "succeeded", "paid": true,
                        "amount": { "value": "500.00", "currency": "RUB" } }
        }))
        .unwrap(),
    };
    assert_eq!(early.deliver().await, 200);
    assert_eq!(wallet(&app, ivan.id, Currency::Rub).await, 0);

    // Paid: the notice arrives 200 times at once, the browser returns, reconciliation runs.
    let back = yk
        .return_url(&id)
        .expect("the return URL given at creation");
    yk.pay(&id);
    let notice = yk.last_callback().expect("a payment.succeeded notice");
    // Without its token the page knows nothing, and asks YooKassa nothing.
    let asked = yk.calls("/payments/");
    let guessed = reqwest::get(format!("{}/pay/yookassa/return?payment=1", app.http))
        .await
        .unwrap();
    assert_eq!(guessed.status(), 404);
    assert_eq!(yk.calls("/payments/"), asked);
    let (statuses, page) = tokio::join!(notice.deliver_times(200), async {
        reqwest::get(&back).await.unwrap().text().await.unwrap()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        page.contains(&tr(Language::Fa, "web.paid")) || page.contains("✅"),
        "{page}"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await; // a reconciliation pass or two
    assert_eq!(wallet(&app, ivan.id, Currency::Rub).await, 50_000);
    let told = ivan.next().await;
    assert_says!(told, "500.00 ₽");
    ivan.expect_silence().await;

    // A late "canceled" changes nothing; a notice for a payment that is not ours is acknowledged.
    // (YooKassa never cancels a succeeded payment; a forged or replayed "canceled" notice is
    // re-fetched and found succeeded.)
    let late = notice.tampered(|v| {
        v["event"] = "payment.canceled".into();
        v["object"]["status"] = "canceled".into();
    });
    assert_eq!(late.deliver().await, 200);
    let foreign =
        early.tampered(|v| v["object"]["id"] = "2f000000-000f-5000-8000-000000000000".into());
    assert_eq!(foreign.deliver().await, 200);
    assert_eq!(wallet(&app, ivan.id, Currency::Rub).await, 50_000);
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
    assert_never_logged(&[YK_SECRET]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yookassa_payment_for_less_is_settled_by_staff_from_the_staff_chat() {
    let (yk, app) = ruble_shop_with_yookassa().await;
    let staff = app.tg.group(STAFF_CHAT, "Staff");
    let admin = app.user(ADMIN, "Admin", Some("fa"));
    let (fa, ru) = (Language::Fa, Language::Ru);
    let (olga, menu) = at_menu(&app, 7_300_000_002, "Ольга", ru).await;
    top_up_via(&olga, &menu, ru, "yookassa", "500").await;
    let id = yk.payment_ids().pop().unwrap();

    // 400 ₽ arrive for 500 asked: nothing is credited; staff are asked, the customer told.
    yk.pay_amount(&id, "400.00");
    assert_eq!(yk.last_callback().unwrap().deliver().await, 200);
    let waiting = olga.next().await;
    assert_says!(waiting, &tr(ru, "payment.review_customer"));
    let review = staff.next().await;
    // Staff read the shop's default language (Persian here).
    assert_says!(review, "400.00 روبل");
    assert_says!(review, "500.00 روبل");
    assert_eq!(review.buttons.len(), 3, "{:?}", review.button_labels());
    assert_eq!(wallet(&app, olga.id, Currency::Rub).await, 0);

    // The customer forges the staff button: refused.
    let credit_received = review.buttons[0][0].1.clone();
    let forged = olga.press_data_in_group(STAFF_CHAT, review.message_id, &credit_received);
    assert_eq!(
        answer(&app, &forged).await.as_deref(),
        Some(tr(fa, "payment.review_not_allowed").as_str())
    );
    assert_eq!(wallet(&app, olga.id, Currency::Rub).await, 0);

    // The admin credits what arrived; a second press changes nothing.
    let q = admin.press_in_group(&review, "400.00");
    assert_eq!(
        answer(&app, &q).await.as_deref(),
        Some(tr(fa, "payment.review_answer_credited").as_str())
    );
    let decided = staff.next().await;
    assert!(decided.edited && decided.buttons.is_empty(), "{decided:?}");
    assert_says!(decided, "Admin");
    let told = olga.next().await;
    assert_says!(told, "400.00 ₽");
    let again = admin.press_data_in_group(STAFF_CHAT, review.message_id, &credit_received);
    assert_eq!(
        answer(&app, &again).await.as_deref(),
        Some(tr(fa, "payment.review_already").as_str())
    );
    assert_eq!(wallet(&app, olga.id, Currency::Rub).await, 40_000);
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarinpal_in_persian_buys_a_plan_through_the_return_page() {
    let shop = ShopBuilder::new()
        .with_zarinpal("IRR")
        .with_plan()
        .open()
        .await;
    let (app, zp) = (&shop.app, shop.zp.as_ref().unwrap());
    let fa = Language::Fa;
    let (ali, menu) = at_menu(app, 7_400_000_001, "علی", fa).await;
    let locations = press(&ali, &menu, &label(fa, "menu.buy")).await;
    let plans = press(&ali, &locations, "Germany").await;
    let preview = press(&ali, &plans, "1 month").await;
    let how = press(&ali, &preview, &label(fa, "pay.method.zarinpal")).await;
    // The shop sells in toman; Zarinpal is asked in rial.
    assert!(
        how.text.contains("1,500,000 ریال") || how.text.contains("1,500,000"),
        "{}",
        how.text
    );
    assert!(pay_url(&how, fa).contains("/pg/StartPay/"));
    let authority = zp.authorities().pop().unwrap();
    zp.pay(&authority);
    let back = zp.last_callback().expect("the browser returns");
    assert_eq!(back.deliver().await, 200);
    assert_eq!(back.deliver().await, 200, "a reload of the return page");
    assert_eq!(
        zp.verified_count(&authority),
        2,
        "verified once, then answered 101"
    );
    let mut seen = String::new();
    for _ in 0..3 {
        seen.push_str(&ali.next().await.text);
        if seen.contains("/sub/") {
            break;
        }
    }
    assert!(seen.contains("/sub/"), "{seen}");
    assert_eq!(wallet(app, ali.id, Currency::Irt).await, 0);
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
    assert_never_logged(&[ZP_MERCHANT]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_in_english_forged_stale_and_lost_callbacks() {
    let shop = ShopBuilder::new()
        .selling_in("USD")
        .with_nowpayments()
        .with_cryptobot()
        .settings(|s| s.payments.reconcile_seconds = 1)
        .open()
        .await;
    let (app, np, cb) = (
        &shop.app,
        shop.np.as_ref().unwrap(),
        shop.cb.as_ref().unwrap(),
    );
    let en = Language::En;
    let (john, menu) = at_menu(app, 7_500_000_001, "John", en).await;

    // NOWPayments: a forged IPN (amount raised, signature kept) is refused and audited.
    let how = top_up_via(&john, &menu, en, "nowpayments", "12.50").await;
    assert_says!(how, "12.50");
    let invoice = np.invoice_ids().pop().unwrap();
    np.pay(&invoice, "finished");
    let ipn = np.last_callback().unwrap();
    let forged = ipn.tampered(|v| v["price_amount"] = serde_json::json!(1250));
    assert_eq!(forged.deliver().await, 401);
    assert_eq!(wallet(app, john.id, Currency::Usd).await, 0);
    assert!(
        audit_actions(app)
            .await
            .contains(&"payment.callback.refused.nowpayments".to_string())
    );
    // The real one, twice, then a late "failed": credited once.
    assert_eq!(ipn.deliver_times(2).await, vec![200, 200]);
    wallet_reaches(app, john.id, Currency::Usd, 1_250).await;
    np.pay(&invoice, "failed");
    assert_eq!(np.last_callback().unwrap().deliver().await, 200);
    assert_eq!(wallet(app, john.id, Currency::Usd).await, 1_250);
    john.next().await;

    // CryptoBot: a stale update is refused; the callback that never came is found by
    // reconciliation.
    let menu = {
        john.send("/start");
        john.next().await
    };
    let how = top_up_via(&john, &menu, en, "cryptobot", "3").await;
    assert_says!(how, "3.00");
    let id = cb.invoice_ids().pop().unwrap();
    cb.pay_at(id, chrono::Utc::now() - chrono::Duration::hours(3));
    let stale = cb.last_callback().unwrap();
    assert_eq!(stale.deliver().await, 400);
    // Dropped: no fresh webhook is delivered at all.
    wallet_reaches(app, john.id, Currency::Usd, 1_550).await;
    assert!(ledger::audit(&app.db.db).await.unwrap().is_clean());
    assert_never_logged(&[
        NP_KEY,
        NP_IPN,
        NP_PASSWORD,
        CB_TOKEN,
        ipn.header("x-nowpayments-sig").unwrap_or("none"),
    ]);
}

/// "I have paid" answers from what really happened to the payment: never "confirmed" for one
/// staff declined, never "nothing was charged" when the gateway merely could not be asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i_have_paid_answers_from_the_payments_real_state() {
    let (yk, app) = ruble_shop_with_yookassa().await;
    let staff = app.tg.group(STAFF_CHAT, "Staff");
    let admin = app.user(ADMIN, "Admin", Some("fa"));
    let ru = Language::Ru;
    let (olga, menu) = at_menu(&app, 7_300_000_009, "Ольга", ru).await;
    let how = top_up_via(&olga, &menu, ru, "yookassa", "500").await;
    let id = yk.payment_ids().pop().unwrap();

    // She says she paid, but YooKassa cannot be asked right now.
    yk.faults.fail_next(1_000);
    let unsure = press(&olga, &how, &tr(ru, "pay.check")).await;
    assert_eq!(unsure.text, tr(ru, "pay.check_unreachable"));
    assert!(
        !unsure.text.contains("не списаны"),
        "never 'nothing was charged'"
    );
    yk.faults.fail_next(0);

    // Only 400 ₽ of 500 really arrived, and staff decline it.
    yk.pay_amount(&id, "400.00");
    assert_eq!(yk.last_callback().unwrap().deliver().await, 200);
    olga.next().await; // "staff are checking it"
    let review = staff.next().await;
    let decline = review.buttons[2][0].1.clone();
    admin.press_data_in_group(STAFF_CHAT, review.message_id, &decline);
    staff.next().await; // the post names who declined
    olga.next().await; // "not credited"
    let answer = press(&olga, &how, &tr(ru, "pay.check")).await;
    assert_eq!(answer.text, tr(ru, "pay.declined"), "not 'confirmed'");
    assert_eq!(wallet(&app, olga.id, Currency::Rub).await, 0);
}

/// The seller set a staff chat the bot was taken out of: `vpnshop check` and start-up say what
/// to fix, and meanwhile customers are offered neither card-to-card nor support — a receipt or
/// a question nobody would ever see. Once the bot is back in the group, the next sweep notices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_staff_chat_that_works_card_payments_and_support_are_not_offered() {
    use vpnshop_bot::staff_chat::{self, Problem};
    let app = spawn_app_after(
        |tg| {
            tg.group(STAFF_CHAT, "Staff");
            tg.remove_bot_from(STAFF_CHAT);
        },
        |s| {
            s.shop.staff_chat_id = Some(STAFF_CHAT);
            s.payments.reconcile_seconds = 1;
        },
    )
    .await;
    let card = CardNumber::parse("6037 9911 2233 4455").unwrap();
    card::add_card(&app.db.db, &card, "Ali Rezaei", "Melli", t0())
        .await
        .unwrap();
    let bot =
        vpnshop_bot::app::build_bot(&vpnshop_tests::app::settings_for(&app.tg, &app.db)).unwrap();
    assert_eq!(
        staff_chat::verify(&bot, STAFF_CHAT).await,
        Err(Problem::NotMember(STAFF_CHAT))
    );
    assert_eq!(
        staff_chat::verify(&bot, -100_999).await,
        Err(Problem::NotFound(-100_999))
    );
    assert!(
        Problem::NotFound(-100_999)
            .to_string()
            .contains("add the bot to the staff group")
    );

    let en = Language::En;
    let (u, menu) = at_menu(&app, 7_300_000_020, "Dana", en).await;
    let support = press(&u, &menu, &label(en, "menu.support")).await;
    assert_eq!(support.text, tr(en, "support.unavailable"));
    // A card is set up, but it was the only way to top up: there is none now.
    u.send("/wallet");
    let w = u.next().await;
    assert!(
        !w.button_labels().contains(&label(en, "wallet.top_up")),
        "{:?}",
        w.button_labels()
    );

    // The admin adds the bot back: within a sweep, support works again.
    app.tg.group(STAFF_CHAT, "Staff");
    app.tg.readd_bot_to(STAFF_CHAT);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        u.send("/support");
        let answer = u.next().await;
        if answer.text != tr(en, "support.unavailable") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never noticed");
        app.clock.jump(chrono::Duration::seconds(5));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Telegram kept failing the receipt's post to the staff chat until its job gave up. The next
/// reminder posts the receipt itself again, photo and Approve / Reject included, and staff can
/// decide it from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_whose_post_never_arrived_is_posted_again_with_its_buttons() {
    use vpnshop_core::entities::jobs;
    use vpnshop_core::jobs::JobStatus;
    use vpnshop_core::sea_orm::sea_query::Expr;
    use vpnshop_core::sea_orm::{ColumnTrait, QueryFilter};
    let shop = ShopBuilder::new()
        .with_card()
        .settings(|s| {
            s.payments.reconcile_seconds = 1;
            s.payments.card.remind_minutes = 30;
        })
        .open()
        .await;
    let (app, staff) = (&shop.app, &shop.staff);
    let db = &app.db.db;
    let admin = app.user(ADMIN, "Admin", Some("en"));
    let en = Language::En;
    let (sam, menu) = at_menu(app, 7_200_000_050, "Sam", en).await;
    top_up_via(&sam, &menu, en, "card", "200000").await;
    app.tg.fail_next_sends_to(STAFF_CHAT, 1_000);
    sam.send_photo(None);
    assert!(
        sam.next()
            .await
            .text
            .contains(&tr(en, "pay.receipt_received"))
    );
    // The posting job fails and, as after its last attempt, gives up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let given_up = jobs::Entity::update_many()
            .col_expr(jobs::Column::Status, Expr::value("failed"))
            .filter(jobs::Column::Kind.eq(vpnshop_core::notices::JOB))
            .filter(jobs::Column::Payload.contains("receipt_to_staff"))
            .filter(jobs::Column::Attempts.gte(1))
            .filter(jobs::Column::Status.eq(JobStatus::Queued))
            .exec(db)
            .await
            .unwrap()
            .rows_affected;
        if given_up == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the post was never tried"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.tg.fail_next_sends_to(STAFF_CHAT, 0);
    staff.expect_silence().await;

    // Half an hour later the reminder comes: the receipt itself, with its buttons.
    app.clock.jump(chrono::Duration::minutes(31));
    let again = staff.next().await;
    assert!(again.photo.is_some(), "{again:?}");
    assert_says!(again, "200,001");
    // Staff read the shop's default language (Persian).
    let fa = Language::Fa;
    let q = admin.press_in_group(&again, &label(fa, "receipt.approve"));
    assert_eq!(
        answer(app, &q).await.as_deref(),
        Some(tr(fa, "receipt.answer_approved").as_str())
    );
    wallet_reaches(app, sam.id, Currency::Irt, 200_001).await;
}
