//! The customer's journeys end to end: the real bot talking HTTP to the fake Telegram server and
//! a fake Marzban panel, in Persian and English — trial, buying with Stars and from the wallet,
//! topping up, renewing with carry-over, adding traffic, support tickets answered from the staff
//! chat, and every stale, forged or doubled press changing nothing.
use chrono::{Duration, Utc};
use vpnshop_core::catalog::{self, NewPlan};
use vpnshop_core::customers;
use vpnshop_core::ids::{CustomerId, TelegramId};
use vpnshop_core::ledger;
use vpnshop_core::money::Currency;
use vpnshop_core::orders::{self, OrderStatus};
use vpnshop_core::promo::{self, Discount, NewPromo};
use vpnshop_core::provisioning;
use vpnshop_tests::assert_says;
use vpnshop_tests::telegram::{BotMessage, FakeUser, Payment};

use crate::shop::{ADMIN, STAFF_CHAT, Shop, ShopBuilder};
use crate::support::{irt, t0, top_up};

const GB: u64 = 1 << 30;

/// A shop selling a 30-day, 50 GB plan in Germany for 150,000 toman (1 Star = 1,000 toman), a
/// 1-day trial, 10 and 20 GB packs at 2,000 toman per GB, on a healthy fake Marzban.
async fn open_shop() -> Shop {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| {
            s.sales.trial_plan = Some("trial".into());
            s.sales.stars_rate = Some("1,000".into());
            s.sales.stars_top_up = vec![100, 350];
            s.sales.traffic_packs_gb = vec![10, 20];
            s.sales.traffic_price_per_gb = Some("2,000".into());
            s.sales.usage_max_age_minutes = 0;
            s.points.earn_per = Some("10,000".into());
            s.points.value = Some("1,000".into());
            s.referral.reward_wallet = Some("10,000".into());
            s.run.shutdown_seconds = 1;
        })
        .open()
        .await;
    let db = &shop.app.db.db;
    catalog::add_plan(
        db,
        NewPlan {
            code: "trial".into(),
            name: "Trial".into(),
            location: shop.plan.as_ref().unwrap().location_id,
            duration_days: 1,
            traffic_bytes: Some(1 << 30),
            is_trial: true,
            sort_order: 9,
            prices: vec![],
        },
        t0(),
    )
    .await
    .unwrap();
    shop
}

/// A customer who picked `lang` and sees the main menu.
async fn customer_at_menu(shop: &Shop, id: i64, name: &str, lang: &str) -> (FakeUser, BotMessage) {
    let u = shop.app.user(id, name, Some(lang));
    u.send("/start");
    let picker = u.next().await;
    let label = match lang {
        "fa" => "فارسی",
        "ru" => "Русский",
        _ => "English",
    };
    u.press(&picker, label);
    u.next().await; // "language set"
    let menu = u.next().await;
    (u, menu)
}

/// An English-speaking customer at the menu with `money` in their wallet.
async fn with_wallet(
    shop: &Shop,
    id: i64,
    name: &str,
    money: vpnshop_core::money::Money,
) -> (FakeUser, BotMessage) {
    let (u, menu) = customer_at_menu(shop, id, name, "en").await;
    let db = &shop.app.db.db;
    let c = customers::by_telegram_id(db, TelegramId::new(u.id))
        .await
        .unwrap()
        .unwrap();
    top_up(db, &c, money).await;
    (u, menu)
}

async fn press(u: &FakeUser, m: &BotMessage, label: &str) -> BotMessage {
    u.press(m, label);
    u.next().await
}

/// Main menu → Germany → the 1-month plan: the preview of its pending order.
async fn to_preview(u: &FakeUser, menu: &BotMessage, buy: &str) -> BotMessage {
    let locations = press(u, menu, buy).await;
    let plans = press(u, &locations, "Germany").await;
    press(u, &plans, "1 month").await
}

/// The ledger audit reads balances and entries in two queries, so a rewards job committing in
/// between looks like drift for one read; a real drift stays.
async fn assert_audit_clean(db: &vpnshop_core::sea_orm::DatabaseConnection) {
    let mut audit = ledger::audit(db).await.unwrap();
    for _ in 0..20 {
        if audit.is_clean() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        audit = ledger::audit(db).await.unwrap();
    }
    panic!("the ledger does not add up: {audit:?}");
}

async fn wallet_of(shop: &Shop, telegram: i64) -> i64 {
    let c = customer(shop, telegram).await;
    ledger::wallet_balance(&shop.app.db.db, c, Currency::Irt)
        .await
        .unwrap()
        .minor()
}

async fn customer(shop: &Shop, telegram: i64) -> CustomerId {
    customers::by_telegram_id(&shop.app.db.db, TelegramId::new(telegram))
        .await
        .unwrap()
        .unwrap()
        .customer_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_customer_takes_the_trial_then_buys_with_stars_in_english() {
    let shop = open_shop().await;
    let (john, menu) = customer_at_menu(&shop, 7_100_000_001, "John", "en").await;
    assert!(menu.button_labels().contains(&"🎁 Free trial".to_string()));

    let started = press(&john, &menu, "Free trial").await;
    assert_says!(started, "Your free trial is being set up");
    let ready = john.next().await;
    assert_says!(ready, "Your trial #1 is ready!");
    assert_says!(ready, "1 GB until");
    assert_says!(ready, "/sub/");
    let qr = john.next().await;
    assert!(qr.photo.as_ref().is_some_and(|p| p.is_png), "{qr:?}");
    assert_says!(qr, "Scan this");
    assert!(qr.button_labels().contains(&"🤖 Android".to_string()));

    // One trial per customer: the button is gone, and a replayed press takes nothing.
    john.send("/start");
    let menu = john.next().await;
    assert!(!menu.button_labels().contains(&"🎁 Free trial".to_string()));
    john.press_data(menu.message_id, "t");
    assert!(
        john.next()
            .await
            .text
            .contains("already used your free trial")
    );

    // Buy: location → plan → preview → Stars.
    let locations = press(&john, &menu, "Buy a subscription").await;
    let plans = press(&john, &locations, "Germany").await;
    assert!(plans.button_labels()[0].contains("1 month · 30 days · 50 GB · 150,000 toman"));
    let preview = press(&john, &plans, "1 month").await;
    assert_says!(preview, "Plan: 1 month (30 days · 50 GB)");
    assert_says!(preview, "To pay: 150,000 toman");
    let invoice_msg = press(&john, &preview, "Pay 150 Stars").await;
    let invoice = invoice_msg.invoice.clone().expect("an invoice");
    assert_eq!(
        (invoice.currency.as_str(), invoice.total_amount),
        ("XTR", 150)
    );

    // Paid from two devices: both pre-checkouts approved while the invoice was still open.
    assert_eq!(john.pre_checkout(&invoice).await, Ok(()));
    let Payment::Paid { .. } = john.pay(&invoice).await else {
        panic!("the pre-checkout was refused")
    };
    assert_says!(john.next().await, "✅ Paid!");
    let ready = john.next().await;
    assert_says!(ready, "Subscription #2 is ready!");
    assert_says!(ready, "50 GB until");
    assert!(john.next().await.photo.is_some());

    // The second device's payment arrives: refunded automatically, credited nothing.
    let charge_id = john.complete_payment(&invoice);
    assert!(
        john.next()
            .await
            .text
            .contains("second payment is being refunded")
    );
    assert_says!(john.next().await, "150 Stars were refunded");
    assert_eq!(shop.app.tg.refunds(), vec![(john.id, charge_id)]);
    // And once it is paid, the pre-checkout of the same invoice is refused.
    assert_eq!(
        john.pre_checkout(&invoice).await,
        Err("This invoice is already paid.".to_string())
    );

    let db = &shop.app.db.db;
    let c = customer(&shop, john.id).await;
    assert_eq!(provisioning::of_customer(db, c).await.unwrap().len(), 2);
    assert_eq!(shop.panel().user_count(), 2);
    assert_eq!(wallet_of(&shop, john.id).await, 0, "Stars paid the order");
    assert_audit_clean(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persian_customer_tops_up_buys_renews_with_carry_over_and_adds_traffic() {
    let shop = open_shop().await;
    let (sara, menu) = customer_at_menu(&shop, 7_100_000_002, "سارا", "fa").await;

    // Top up 350 Stars = 350,000 toman.
    let wallet = press(&sara, &menu, "کیف پول").await;
    assert_says!(wallet, "موجودی کیف پول شما: 0 تومان");
    let options = press(&sara, &wallet, "شارژ کیف پول").await;
    assert_says!(options, "هر ⭐ = 1,000 تومان");
    let invoice = press(&sara, &options, "350 ⭐").await.invoice.unwrap();
    assert_eq!(invoice.total_amount, 350);
    assert!(matches!(sara.pay(&invoice).await, Payment::Paid { .. }));
    let credited = sara.next().await;
    assert!(
        credited
            .text
            .contains("350,000 تومان به کیف پول شما اضافه شد"),
        "{}",
        credited.text
    );

    // Buy from the wallet.
    sara.send("/buy");
    let locations = sara.next().await;
    let plans = press(&sara, &locations, "Germany").await;
    let preview = press(&sara, &plans, "1 month").await;
    assert_says!(preview, "مبلغ قابل پرداخت: 150,000 تومان");
    let paid = press(&sara, &preview, "پرداخت 150,000 تومان از کیف پول").await;
    assert_says!(paid, "پرداخت شد");
    let ready = sara.next().await;
    assert!(
        ready.text.contains("اشتراک <b>#1</b>") || ready.text.contains("اشتراک #1 آماده است"),
        "{}",
        ready.text
    );
    assert!(sara.next().await.photo.is_some());

    // Renew: 30 more days on top of what is left, and 50 GB more.
    let db = &shop.app.db.db;
    let c = customer(&shop, sara.id).await;
    let sub = provisioning::of_customer(db, c).await.unwrap().remove(0);
    let renewed_until = (sub.expires_at.unwrap() + Duration::days(30))
        .format("%Y-%m-%d")
        .to_string();
    sara.send("/subscriptions");
    let list = sara.next().await;
    assert_says!(list, "0 مگابایت از 50 گیگابایت");
    let detail = press(&sara, &list, "#1").await;
    assert_says!(detail, "لینک اشتراک");
    let renewal = press(&sara, &detail, "تمدید").await;
    assert_says!(
        renewal,
        &format!("<b>100 گیگابایت</b> حجم تا تاریخ <b>{renewed_until}</b>")
            .replace("<b>", "")
            .replace("</b>", "")
    );
    press(&sara, &renewal, "از کیف پول").await;
    let renewed = sara.next().await;
    assert_says!(renewed, "تمدید شد");
    assert_says!(renewed, &renewed_until);

    // Add traffic: 4 GB used, 10 GB bought, the unused 96 GB kept → 106 GB left.
    shop.panel().use_traffic(&sub.panel_account, 4 * GB);
    // The figures are read from the panel by a job: the detail shows them once it has run.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let detail = loop {
        sara.send("/subscriptions");
        let list = sara.next().await;
        let detail = press(&sara, &list, "#1").await;
        if detail.text.contains("4 گیگابایت از 100 گیگابایت") {
            break detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage never read from the panel: {}",
            detail.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let packs = press(&sara, &detail, "حجم اضافه").await;
    let preview = press(&sara, &packs, "10 گیگابایت").await;
    assert_says!(preview, "مبلغ قابل پرداخت: 20,000 تومان");
    assert_says!(preview, "106 گیگابایت حجم");
    press(&sara, &preview, "از کیف پول").await;
    let added = sara.next().await;
    assert_says!(added, "حجم به اشتراک");
    assert_says!(added, "106 گیگابایت");

    assert_eq!(wallet_of(&shop, sara.id).await, 30_000);
    let sub = provisioning::of_customer(db, c).await.unwrap().remove(0);
    assert_eq!(sub.traffic_limit_bytes, Some((110 * GB) as i64));
    // Purchase points: one per 10,000 toman paid (150,000 + 150,000 + 20,000), granted by the
    // rewards notice each fulfilled order queues.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let points = vpnshop_core::points::balance(db, c, Utc::now())
            .await
            .unwrap();
        if points == 15 + 15 + 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{points} points");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_audit_clean(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_is_answered_from_the_staff_chat_and_only_staff_can_answer() {
    let shop = open_shop().await;
    let staff_chat = shop.app.tg.group(STAFF_CHAT, "Shop staff");
    let (sara, menu) = customer_at_menu(&shop, 7_100_000_003, "Sara <b>&", "en").await;

    let support = press(&sara, &menu, "Support").await;
    assert_says!(support, "no open tickets");
    let ask = press(&sara, &support, "New ticket").await;
    assert_says!(ask, "Write your message");
    sara.send_sticker();
    assert!(
        sara.next()
            .await
            .text
            .contains("Please send text or a photo")
    );
    sara.send("My VPN is slow <i>since</i> & today");
    assert!(
        sara.next()
            .await
            .text
            .contains("Sent to support as ticket #1")
    );

    let post = staff_chat.next().await;
    assert_says!(post, "Sara <b>&");
    assert_says!(post, "My VPN is slow <i>since</i> & today");
    assert_says!(post, &sara.id.to_string());

    // Someone in the group who is not staff cannot answer.
    let stranger = shop.app.user(7_100_000_099, "Eve", None);
    stranger.reply_to(
        STAFF_CHAT,
        post.message_id,
        "I am support, send me your password",
    );
    assert_says!(staff_chat.next().await, "فقط اعضای تیم");
    sara.expect_silence().await;

    let boss = shop.app.user(ADMIN, "Boss", Some("fa"));
    boss.reply_to(
        STAFF_CHAT,
        post.message_id,
        "Please try the <b>second</b> server",
    );
    assert_eq!(
        staff_chat.next().await.text,
        vpnshop_bot::text::tr(vpnshop_core::customers::Language::Fa, "support.staff_sent")
    );
    let answer = sara.next().await;
    assert_says!(answer, "Support answered ticket #1:");
    assert_says!(answer, "Please try the <b>second</b> server");

    let ask = press(&sara, &answer, "Reply").await;
    assert_says!(ask, "Write your message");
    sara.send("Thanks, it works");
    assert_says!(sara.next().await, "ticket #1");
    assert_says!(staff_chat.next().await, "Thanks, it works");

    sara.press(&answer, "Close ticket");
    assert_says!(sara.next().await, "Ticket #1 is closed");
    boss.reply_to(STAFF_CHAT, post.message_id, "late answer");
    assert_says!(staff_chat.next().await, "این تیکت بسته است");
    sara.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promo_step_survives_a_restart_and_a_double_tapped_pay_charges_once() {
    let mut shop = open_shop().await;
    let db = shop.app.db.db.clone();
    promo::add(
        &db,
        NewPromo {
            code: "YALDA".into(),
            discount: Discount::Percent(20),
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
    let (ali, menu) = customer_at_menu(&shop, 7_100_000_004, "علی", "fa").await;
    let c = customers::by_telegram_id(&db, TelegramId::new(ali.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(200_000)).await;

    let preview = to_preview(&ali, &menu, "خرید اشتراک").await;
    let ask = press(&ali, &preview, "کد تخفیف").await;
    assert_says!(ask, "کد تخفیف خود را بفرستید");

    shop.app.restart().await;
    ali.send_sticker();
    assert!(
        ali.next()
            .await
            .text
            .contains("لطفاً کد تخفیف را به صورت متن")
    );
    ali.send("NOPE");
    assert_says!(ali.next().await, "چنین کد تخفیفی وجود ندارد");
    ali.send("/wallet_of_someone");
    assert_says!(ali.next().await, "در میانه یک مرحله هستید");
    ali.send("YALDA");
    let discounted = ali.next().await;
    assert_says!(discounted, "کد تخفیف: −30,000 تومان");
    assert_says!(discounted, "مبلغ قابل پرداخت: 120,000 تومان");

    // The first preview's order was replaced: its pay button is out of date.
    ali.press(&preview, "از کیف پول");
    assert_says!(ali.next().await, "اعتبار این قیمت تمام شده");

    // Two taps on pay: one charge, one account.
    ali.press(&discounted, "از کیف پول");
    ali.press(&discounted, "از کیف پول");
    let mut texts = vec![ali.next().await.text, ali.next().await.text];
    texts.sort();
    assert!(texts.iter().any(|t| t.contains("پرداخت شد!")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("قبلاً پرداخت شده")),
        "{texts:?}"
    );
    let ready = ali.next().await;
    assert_says!(ready, "آماده است");

    assert_eq!(wallet_of(&shop, ali.id).await, 80_000);
    let paid: Vec<_> = orders::of_customer(&db, c.customer_id())
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.state() == OrderStatus::Fulfilled)
        .collect();
    assert_eq!(paid.len(), 1);
    assert_eq!(shop.panel().user_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_buttons_answer_politely_and_change_nothing() {
    let shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let (sara, menu) = customer_at_menu(&shop, 7_100_000_005, "Sara", "en").await;
    press(&sara, &menu, "Free trial").await;
    sara.next().await;
    sara.next().await;
    let sara_id = customer(&shop, sara.id).await;
    let sub = provisioning::of_customer(&db, sara_id)
        .await
        .unwrap()
        .remove(0);
    let trial_order = orders::of_customer(&db, sara_id).await.unwrap().remove(0);

    let (eve, menu) = customer_at_menu(&shop, 7_100_000_006, "Eve", "fa").await;
    let c = customers::by_telegram_id(&db, TelegramId::new(eve.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(500_000)).await;
    for data in [
        format!("s:{}", sub.id),
        format!("sq:{}", sub.id),
        format!("sr:{}", sub.id),
        format!("sp:{}:10", sub.id),
        format!("ow:{}", trial_order.id),
        format!("os:{}", trial_order.id),
        format!("oc:{}", trial_order.id),
        "ow:1:price=0".to_string(),
        "u:99999".to_string(),
    ] {
        let q = eve.press_data(menu.message_id, &data);
        let answer = eve.answer_to(&q).await;
        let reply = match answer {
            Some(a) => a,
            None => eve.next().await.text,
        };
        assert!(reply.contains("این دکمه دیگر فعال نیست"), "{data}: {reply}");
    }
    eve.expect_silence().await;
    assert_eq!(wallet_of(&shop, eve.id).await, 500_000);
    assert!(
        orders::of_customer(&db, c.customer_id())
            .await
            .unwrap()
            .is_empty()
    );
    // Sara's subscription is untouched.
    let after = provisioning::of_customer(&db, sara_id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(after.expires_at, sub.expires_at);
    assert_eq!(after.traffic_limit_bytes, sub.traffic_limit_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stars_for_an_order_paid_meanwhile_from_the_wallet_are_refused_at_pre_checkout() {
    let shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let (john, menu) = customer_at_menu(&shop, 7_100_000_007, "John", "en").await;
    let preview = to_preview(&john, &menu, "Buy a subscription").await;
    let invoice = press(&john, &preview, "Pay 150 Stars")
        .await
        .invoice
        .unwrap();

    // Meanwhile the wallet is topped up and the order paid from it.
    let c = customers::by_telegram_id(&db, TelegramId::new(john.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(150_000)).await;
    let order = orders::of_customer(&db, c.customer_id())
        .await
        .unwrap()
        .remove(0);
    orders::pay_with_wallet(&db, order.order_id(), c.customer_id(), Utc::now())
        .await
        .unwrap();

    assert_eq!(
        john.pre_checkout(&invoice).await,
        Err("This order is no longer open. Please start again from the menu.".to_string())
    );
    assert!(matches!(john.pay(&invoice).await, Payment::Refused { .. }));
    assert_eq!(wallet_of(&shop, john.id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referrer_is_rewarded_once_when_the_friend_first_buys() {
    let shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let (sara, menu) = customer_at_menu(&shop, 7_100_000_008, "Sara", "en").await;
    let invite = press(&sara, &menu, "Invite").await;
    assert_says!(invite, "You get 10,000 toman in your wallet");
    let link = invite
        .text
        .split_whitespace()
        .find(|w| w.starts_with("https://t.me/"))
        .unwrap()
        .to_string();
    let payload = link.split("?start=").nth(1).unwrap().to_string();

    let ali = shop.app.user(7_100_000_009, "Ali", Some("en"));
    ali.send(&format!("/start {payload}"));
    let picker = ali.next().await;
    ali.press(&picker, "English");
    ali.next().await;
    let menu = ali.next().await;
    let c = customers::by_telegram_id(&db, TelegramId::new(ali.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(300_000)).await;
    // Telegram fails the first message to Sara: her reward message must still come.
    shop.app.tg.fail_next_sends_to(sara.id, 1);
    for _ in 0..2 {
        let preview = to_preview(&ali, &menu, "Buy a subscription").await;
        press(&ali, &preview, "from wallet").await;
        assert_says!(ali.next().await, "is ready");
        ali.next().await; // QR
    }
    // The failed send is retried after its backoff, which the clock jumps over.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let reward = loop {
        if let Some(m) = sara.try_next() {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reward message never came"
        );
        shop.app.clock.jump(Duration::minutes(1));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_says!(reward, "You earned 10,000 toman");
    sara.expect_silence().await;
    assert_eq!(
        wallet_of(&shop, sara.id).await,
        10_000,
        "rewarded once, not per purchase"
    );
    sara.send("/start");
    let menu = sara.next().await;
    let invite = press(&sara, &menu, "Invite").await;
    assert_says!(invite, "Friends who joined: 1");
    assert_says!(invite, "Friends who bought: 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_that_never_works_refunds_the_order_once_and_tells_customer_and_staff() {
    use vpnshop_core::entities::jobs;
    use vpnshop_core::jobs::JobStatus;
    use vpnshop_core::sea_orm::sea_query::Expr;
    use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let shop = open_shop().await;
    let staff_chat = shop.app.tg.group(STAFF_CHAT, "Shop staff");
    let db = shop.app.db.db.clone();
    let (john, menu) = customer_at_menu(&shop, 7_100_000_010, "John", "en").await;
    let c = customers::by_telegram_id(&db, TelegramId::new(john.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(150_000)).await;
    shop.panel().faults.fail_next(100_000);

    let preview = to_preview(&john, &menu, "Buy a subscription").await;
    assert!(
        press(&john, &preview, "from wallet")
            .await
            .text
            .contains("✅ Paid!")
    );

    // The first attempt fails; rather than wait out the backoff, make the next one the last.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let job = loop {
        let job = jobs::Entity::find()
            .filter(jobs::Column::Kind.eq(vpnshop_core::orders::PROVISION_JOB))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        if job.attempts >= 1 && job.status == JobStatus::Queued {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt: {job:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    jobs::Entity::update_many()
        .col_expr(jobs::Column::Attempts, Expr::value(job.max_attempts - 1))
        .col_expr(
            jobs::Column::RunAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .filter(jobs::Column::Id.eq(job.id))
        .filter(jobs::Column::Status.eq(JobStatus::Queued))
        .exec(&db)
        .await
        .unwrap();

    let told = john.next().await;
    assert!(
        told.text
            .contains("We could not set up your account. 150,000 toman is back in your wallet"),
        "{}",
        told.text
    );
    let staff = staff_chat.next().await;
    assert_says!(staff, "سفارش #1 بازپرداخت شد");
    assert_says!(staff, "panel de-1");
    john.expect_silence().await;

    assert_eq!(wallet_of(&shop, john.id).await, 150_000, "refunded once");
    let order = orders::of_customer(&db, c.customer_id())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(order.state(), OrderStatus::Refunded);
    assert!(
        provisioning::of_customer(&db, c.customer_id())
            .await
            .unwrap()
            .is_empty()
    );
    assert_audit_clean(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_persian_a_customer_takes_the_trial_buys_with_wallet_and_stars_and_gets_a_ticket_answered()
 {
    let shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let staff_chat = shop.app.tg.group(STAFF_CHAT, "Shop staff");
    let (maryam, menu) = customer_at_menu(&shop, 7_100_000_011, "مریم", "fa").await;

    let started = press(&maryam, &menu, "تست رایگان").await;
    assert_says!(started, "در حال ساخت است");
    let ready = maryam.next().await;
    assert_says!(ready, "اشتراک تست #1 آماده است");
    assert_says!(ready, "1 گیگابایت حجم تا تاریخ");
    let qr = maryam.next().await;
    assert!(qr.photo.as_ref().is_some_and(|p| p.is_png));
    assert!(qr.button_labels().contains(&"🤖 اندروید".to_string()));

    // 50,000 toman in the wallet, the other 100,000 in Stars.
    let c = customers::by_telegram_id(&db, TelegramId::new(maryam.id))
        .await
        .unwrap()
        .unwrap();
    top_up(&db, &c, irt(50_000)).await;
    maryam.send("/buy");
    let locations = maryam.next().await;
    let plans = press(&maryam, &locations, "Germany").await;
    assert!(plans.button_labels()[0].contains("30 روز · 50 گیگابایت · 150,000 تومان"));
    let preview = press(&maryam, &plans, "1 month").await;
    let invoice = press(&maryam, &preview, "کیف پول 50,000 تومان + 100 استارز")
        .await
        .invoice
        .unwrap();
    assert_eq!(invoice.total_amount, 100);
    assert!(matches!(maryam.pay(&invoice).await, Payment::Paid { .. }));
    assert_says!(maryam.next().await, "پرداخت شد!");
    assert_says!(maryam.next().await, "اشتراک #2 آماده است");
    assert!(maryam.next().await.photo.is_some());
    assert_eq!(wallet_of(&shop, maryam.id).await, 0);

    // A ticket with a photo, answered from the staff chat.
    maryam.send("/support");
    let support = maryam.next().await;
    let ask = press(&maryam, &support, "تیکت جدید").await;
    assert_says!(ask, "پیام خود را بنویسید");
    maryam.send_photo(Some("اتصال در آیفون قطع می‌شود"));
    assert_says!(maryam.next().await, "شماره تیکت #1");
    let post = staff_chat.next_past("🛒").await;
    assert!(post.photo.is_some(), "the photo reaches staff: {post:?}");
    assert_says!(post, "اتصال در آیفون قطع می‌شود");
    assert_says!(post, "#2");
    let boss = shop.app.user(ADMIN, "Boss", Some("fa"));
    boss.reply_to(
        STAFF_CHAT,
        post.message_id,
        "لطفاً برنامه Streisand را امتحان کنید",
    );
    staff_chat.next().await;
    let answer = maryam.next().await;
    assert_says!(answer, "پاسخ پشتیبانی به تیکت #1");
    assert_says!(answer, "Streisand");
}

/// `docker stop` while an account is being made on a panel that hangs: the bot stops within
/// its grace time and gives the job back (the attempt not counted), and the next process makes
/// the account at once instead of waiting five minutes for the lease to run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_mid_provisioning_hands_the_job_to_the_next_process() {
    use vpnshop_core::entities::jobs;
    use vpnshop_core::jobs::JobStatus;
    use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let mut shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let (john, menu) = with_wallet(&shop, 7_100_000_030, "John", irt(150_000)).await;
    shop.panel().faults.only_paths("/api/user");
    shop.panel().faults.hang_next(100_000);
    let preview = to_preview(&john, &menu, "Buy a subscription").await;
    assert!(
        press(&john, &preview, "from wallet")
            .await
            .text
            .contains("✅ Paid!")
    );
    let provision = || async {
        jobs::Entity::find()
            .filter(jobs::Column::Kind.eq(vpnshop_core::orders::PROVISION_JOB))
            .one(&db)
            .await
            .unwrap()
            .unwrap()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while provision().await.status != JobStatus::Running {
        assert!(tokio::time::Instant::now() < deadline, "never leased");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    shop.app.stop().await;
    let job = provision().await;
    assert_eq!(job.status, JobStatus::Queued, "given back");
    assert_eq!(job.leased_by, None);
    assert_eq!(job.attempts, 0, "the interrupted attempt is not counted");

    shop.panel().faults.hang_next(0);
    shop.app.start().await;
    let ready = john.next().await;
    assert_says!(ready, "ready");
    assert_eq!(shop.panel().user_count(), 1);
}

/// The panel hangs, and one customer's client fires their subscription button a thousand
/// times: presses are answered from what the database knows (the figures are read by a job),
/// the surplus beyond what a person can press is dropped unread, and another customer's /start
/// is answered at once — nobody waits on the dead panel or behind the flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_panel_and_a_thousand_presses_hold_up_nobody() {
    let shop = open_shop().await;
    let (john, menu) = with_wallet(&shop, 7_100_000_040, "John", irt(150_000)).await;
    let preview = to_preview(&john, &menu, "Buy a subscription").await;
    press(&john, &preview, "from wallet").await;
    assert_says!(john.next().await, "is ready");
    john.next().await; // QR
    john.send("/subscriptions");
    let list = john.next().await;
    let open = list
        .buttons
        .iter()
        .flatten()
        .find(|(label, _)| label.contains("#1"))
        .map(|(_, data)| data.clone())
        .expect("a button for the subscription");

    shop.panel().faults.hang_next(100_000);
    let presses: Vec<String> = (0..1_000)
        .map(|_| john.press_data(list.message_id, &open))
        .collect();
    let started = std::time::Instant::now();
    let ali = shop.app.user(7_100_000_041, "Ali", Some("en"));
    ali.send("/start");
    let picker = ali.next().await;
    assert_says!(picker, "language");
    let waited = started.elapsed();
    // About 0.2 s here; 4 s without the flood guard, with the dispatcher stuck behind John.
    assert!(
        waited < std::time::Duration::from_secs(2),
        "another customer waited {waited:?}"
    );
    // John's first presses are answered, none after a panel timeout; beyond what a person
    // can press, the surplus is dropped before any work is done on it.
    for q in presses.iter().take(20) {
        john.answer_to(q).await;
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the presses waited on the panel"
    );
}

/// Someone tries promo codes one after another hoping to hit a real one: after ten that do not
/// exist in an hour, the bot asks them to wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_promo_codes_is_stopped_after_ten_misses_an_hour() {
    let shop = open_shop().await;
    let (john, menu) = with_wallet(&shop, 7_100_000_050, "John", irt(150_000)).await;
    let preview = to_preview(&john, &menu, "Buy a subscription").await;
    press(&john, &preview, "Promo code").await;
    for n in 0..10 {
        john.send(&format!("GUESS{n}"));
        let answer = john.next().await;
        assert_says!(answer, "no such promo code");
    }
    john.send("GUESS10");
    let stopped = john.next().await;
    assert_eq!(
        stopped.text,
        vpnshop_bot::text::tr(
            vpnshop_core::customers::Language::En,
            "promo.too_many_tries"
        )
    );
}

/// A heavy buyer with twelve subscriptions writes a long photo ticket full of `&`, then blocks
/// the bot. The list pages, the staff post stays within Telegram's limits (cut as text, never in
/// the middle of an `&amp;`, "…and 9 more" instead of every subscription), staff are told the
/// answer is queued — and then that it could not be delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_and_long_tickets_stay_within_telegrams_limits() {
    use vpnshop_core::entities::subscriptions as rows;
    use vpnshop_core::sea_orm::{ActiveValue::Set, EntityTrait};
    let shop = open_shop().await;
    let db = shop.app.db.db.clone();
    let staff = shop.app.tg.group(STAFF_CHAT, "Shop staff");
    let (sara, _menu) = customer_at_menu(&shop, 7_100_000_060, "Sara", "en").await;
    let c = customers::by_telegram_id(&db, TelegramId::new(sara.id))
        .await
        .unwrap()
        .unwrap();
    let panel = vpnshop_core::panels::panels(&db).await.unwrap().remove(0);
    let plan = vpnshop_core::catalog::all_plans(&db)
        .await
        .unwrap()
        .remove(0);
    for n in 0..12 {
        rows::Entity::insert(rows::ActiveModel {
            customer_id: Set(c.id),
            plan_id: Set(plan.id),
            panel_id: Set(panel.id),
            panel_account: Set(format!("vsx_{}_{n}", c.id)),
            status: Set(vpnshop_core::subscriptions::SubscriptionStatus::Active),
            is_trial: Set(false),
            traffic_limit_bytes: Set(Some(50 << 30)),
            used_bytes: Set(0),
            expires_at: Set(Some(Utc::now() + Duration::days(30))),
            subscription_url: Set(None),
            usage_synced_at: Set(Some(Utc::now())),
            account_uuid: Set(None),
            account_sub_id: Set(None),
            updated_at: Set(Utc::now()),
            created_at: Set(Utc::now()),
            ..Default::default()
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    sara.send("/subscriptions");
    let first = sara.next().await;
    assert_says!(first, "(page 1 of 3)");
    let second = press(&sara, &first, "Older").await;
    assert_says!(second, "(page 2 of 3)");

    // A photo ticket whose text is far longer than a caption, full of `&`.
    sara.send("/support");
    let support = sara.next().await;
    press(&sara, &support, "New ticket").await;
    let long = "Tom & Jerry ".repeat(150);
    sara.send_photo(Some(&long));
    sara.next().await; // "ticket sent"
    let post = staff.next().await;
    assert!(post.photo.is_some());
    // Staff read the shop's default language (Persian).
    let fa = vpnshop_core::customers::Language::Fa;
    let more = vpnshop_bot::text::tr_with(fa, "staff.subs_more", &[("count", "9")]);
    assert_says!(post, &more);
    assert!(post.text.chars().count() <= 1_024);

    sara.block_bot();
    let admin = shop.app.user(ADMIN, "Admin", Some("en"));
    admin.reply_to(STAFF_CHAT, post.message_id, "Please restart the app");
    let queued = staff.next().await;
    assert_eq!(queued.text, vpnshop_bot::text::tr(fa, "support.staff_sent"));
    let undelivered = staff.next().await;
    assert_eq!(
        undelivered.text,
        vpnshop_bot::text::tr_with(fa, "staff.undelivered", &[("id", "1")])
    );
}
