//! Running the shop from Telegram: the owner (from the config) opens `/admin`, sees a sale in
//! `/stats` and in the audit log, adds a finance member from the bot; finance sees sales but
//! cannot manage staff; support sees no sales; a customer forging an admin button changes
//! nothing and is recorded.
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::customers::{self, Language};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};
use vpnshop_tests::assert_says;
use vpnshop_tests::telegram::FakeUser;

use crate::shop::{ADMIN, STAFF_CHAT, ShopBuilder};
use crate::support::{at_menu, irt, label, press, top_up};

const FINANCE: i64 = 9_300_000_001;
const SUPPORT: i64 = 9_300_000_002;

/// The audit rows of `kind`, newest first, as `(actor, action, target, before, after)`.
async fn audited(
    db: &vpnshop_core::sea_orm::DatabaseConnection,
    kind: &str,
) -> Vec<(Option<i64>, String, String, String, String)> {
    let filter = Filter {
        kind: Some(kind.into()),
        ..Filter::default()
    };
    let (rows, _) = audit::latest(db, &filter, 0, 50).await.unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.actor_telegram_id.map(TelegramId::get),
                r.action,
                r.target.unwrap_or_default(),
                r.before.unwrap_or_default(),
                r.after.unwrap_or_default(),
            )
        })
        .collect()
}

/// An English-speaking customer who tops up 150,000 toman and buys the 1-month plan in Germany
/// from her wallet; returns once her subscription link arrived. `check_plans` looks at the plans
/// screen on the way.
pub(crate) async fn buys_from_wallet(
    app: &vpnshop_tests::app::TestApp,
    telegram: i64,
    check_plans: impl FnOnce(&vpnshop_tests::telegram::BotMessage),
) -> (FakeUser, vpnshop_core::customers::Customer) {
    let en = Language::En;
    let db = &app.db.db;
    let (u, home) = at_menu(app, telegram, "Sara", en).await;
    let c = customers::by_telegram_id(db, TelegramId::new(u.id))
        .await
        .unwrap()
        .unwrap();
    top_up(db, &c, irt(150_000)).await;
    let locations = press(&u, &home, &label(en, "menu.buy")).await;
    let plans = press(&u, &locations, "Germany").await;
    check_plans(&plans);
    let preview = press(&u, &plans, "1 month").await;
    u.press(&preview, "from wallet");
    let mut seen = String::new();
    for _ in 0..4 {
        seen.push_str(&u.next().await.text);
        if seen.contains("/sub/") {
            break;
        }
    }
    assert!(seen.contains("/sub/"), "{seen}");
    (u, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_adds_finance_from_the_bot_and_sees_the_sale_in_stats_and_the_audit_log() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    let owner: FakeUser = shop.app.user(ADMIN, "Boss", Some("en"));

    owner.send("/admin");
    let menu = owner.next().await;
    assert_says!(menu, "admin (owner)");
    assert_eq!(
        menu.button_labels(),
        vec![
            "📊 Stats",
            "🔎 Customers",
            "🎧 Support queue",
            "👥 Staff",
            "📦 Catalog",
            "💳 Payments",
            "🏷 Promo codes",
            "🖥 Panels",
            "📣 Broadcasts",
            "📈 Reports",
            "⚙️ Settings",
            "🗓 Jobs",
            "📜 Audit log"
        ]
    );
    let stats = press(&owner, &menu, "Stats").await;
    assert_says!(stats, "no sales yet");

    // A customer buys the 150,000-toman plan from her wallet.
    buys_from_wallet(&shop.app, 7_700_000_001, |_| {}).await;

    // The owner refreshes: the sale and the new customer are there.
    let stats = press(&owner, &stats, "Refresh").await;
    assert_says!(stats, "Customers: 2 ");
    assert_says!(stats, "Active subscriptions: 1");
    assert_says!(stats, "150,000");

    // Staff → Add → the id → Finance.
    let team = press(&owner, &stats, "Admin menu").await;
    let team = press(&owner, &team, "Staff").await;
    assert_says!(team, &ADMIN.to_string());
    assert_says!(team, "(from the config)");
    let ask = press(&owner, &team, "Add staff").await;
    assert_says!(ask, "Telegram id");
    owner.send(&FINANCE.to_string());
    let roles = owner.next().await;
    assert_eq!(
        roles.button_labels(),
        vec![
            "👑 Owner",
            "🛠 Admin",
            "💵 Finance",
            "🎧 Support",
            "⬅️ Admin menu"
        ]
    );
    let done = press(&owner, &roles, "Finance").await;
    assert_says!(done, &format!("{FINANCE} is now finance"));
    assert_eq!(
        audited(db, "staff").await[0],
        (
            Some(ADMIN),
            "staff.grant".into(),
            format!("staff:{FINANCE}"),
            "-".into(),
            "finance".into()
        )
    );

    // The audit screen shows it, with who did it.
    owner.send("/audit staff");
    let log = owner.next().await;
    assert_says!(log, "staff.grant");
    assert_says!(log, &format!("staff:{FINANCE} · - → finance"));

    // Finance sees sales, but no staff or audit screens — and typing /staff is refused,
    // recorded, and changes nothing.
    let finance = shop.app.user(FINANCE, "Fatemeh", Some("en"));
    finance.send("/stats");
    let theirs = finance.next().await;
    assert_says!(theirs, "150,000");
    finance.send("/admin");
    let menu = finance.next().await;
    assert_eq!(
        menu.button_labels(),
        vec!["📊 Stats", "🔎 Customers", "💳 Payments", "📈 Reports"]
    );
    finance.send("/staff");
    let refused = finance.next().await;
    assert_says!(refused, "Your role (finance) does not allow this");
    let denied = audited(db, "admin").await;
    assert_eq!(denied[0].0, Some(FINANCE));
    assert_eq!(denied[0].2, "staff.list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_sees_no_sales_and_a_customer_forging_admin_buttons_changes_nothing() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    staff::put(
        db,
        TelegramId::new(SUPPORT),
        Role::Support,
        crate::support::t0(),
    )
    .await
    .unwrap();
    let support = shop.app.user(SUPPORT, "Sam", Some("en"));
    support.send("/stats");
    let stats = support.next().await;
    assert_says!(stats, "Customers:");
    assert!(!stats.text.contains("Sales"), "{}", stats.text);
    // Support pressing a Staff button (forged, since their menu has none) is refused.
    let q = support.press_data(stats.message_id, "atg:9300000009:owner");
    let refused = support.next().await;
    assert_says!(refused, "Your role (support) does not allow this");
    support.answer_to(&q).await;
    assert!(
        staff::access_of(db, TelegramId::new(9_300_000_009))
            .await
            .unwrap()
            .is_none()
    );

    // A customer forges "make me owner": the button is stale to them, nothing changes, and
    // the attempt is in the log.
    let en = Language::En;
    let (eve, menu) = at_menu(&shop.app, 7_700_000_666, "Eve", en).await;
    let forged = format!("atg:{}:owner", eve.id);
    let q = eve.press_data(menu.message_id, &forged);
    assert_eq!(
        eve.answer_to(&q).await.as_deref(),
        Some("This button is no longer active.")
    );
    eve.send("/admin");
    let reply = eve.next().await;
    assert!(!reply.text.contains("admin ("), "{}", reply.text);
    assert!(
        staff::access_of(db, TelegramId::new(eve.id))
            .await
            .unwrap()
            .is_none()
    );
    let denied = audited(db, "admin").await;
    assert!(
        denied.iter().any(|d| d.0 == Some(eve.id) && d.2 == forged),
        "{denied:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finance_corrects_a_wallet_through_a_preview_support_cannot_and_a_ban_holds() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    for (id, role) in [(FINANCE, Role::Finance), (SUPPORT, Role::Support)] {
        staff::put(db, TelegramId::new(id), role, crate::support::t0())
            .await
            .unwrap();
    }
    let en = Language::En;
    let (ali, _) = at_menu(&shop.app, 7_700_000_010, "Ali", en).await;
    let ali_row = customers::by_telegram_id(db, TelegramId::new(ali.id))
        .await
        .unwrap()
        .unwrap();

    // Finance finds Ali by his Telegram id and credits 50,000 toman, with a reason, after
    // seeing exactly what will happen.
    let finance = shop.app.user(FINANCE, "Fatemeh", Some("en"));
    finance.send(&format!("/find {}", ali.id));
    let card = finance.next().await;
    assert_says!(card, &format!("Ali (#{})", ali_row.id));
    let ask = press(&finance, &card, "Adjust wallet").await;
    assert_says!(ask, "with a sign");
    finance.send("+50,000 refund for the outage");
    let preview = finance.next().await;
    assert_says!(preview, "Credit 50,000");
    assert_says!(preview, "→ 50,000");
    assert_says!(preview, "Reason: refund for the outage");
    assert!(
        !preview
            .buttons
            .iter()
            .flatten()
            .any(|(_, data)| data.contains("50000")),
        "the amount is never in a button: {:?}",
        preview.buttons
    );
    let done = press(&finance, &preview, "Confirm").await;
    assert_says!(done, "Done: balance");
    // Confirm pressed again: the preview is used up; nothing more moves.
    finance.press(&preview, "Confirm");
    finance.next().await;
    let wallet =
        vpnshop_core::ledger::wallet_balance(db, ali_row.id, vpnshop_core::money::Currency::Irt)
            .await
            .unwrap();
    assert_eq!(wallet.minor(), 50_000);
    assert!(vpnshop_core::ledger::audit(db).await.unwrap().is_clean());
    let adjusted = audited(db, "wallet").await;
    assert_eq!(adjusted.len(), 1, "{adjusted:?}");
    assert_eq!(adjusted[0].0, Some(FINANCE));
    assert_eq!(
        (adjusted[0].3.as_str(), adjusted[0].4.as_str()),
        ("0 IRT", "50,000 IRT")
    );

    // Support finds him too, but has no wallet button, and a forged one changes nothing.
    let support = shop.app.user(SUPPORT, "Sam", Some("en"));
    support.send(&format!("/find #{}", ali_row.id));
    let card = support.next().await;
    assert_says!(card, "Wallet: 50,000");
    assert!(
        !card.button_labels().iter().any(|l| l.contains("Adjust")),
        "{:?}",
        card.button_labels()
    );
    support.press_data(card.message_id, &format!("acw:{}", ali_row.id));
    let refused = support.next().await;
    assert_says!(refused, "Your role (support) does not allow this");
    support.press_data(card.message_id, &format!("acb:{}:1", ali_row.id));
    let refused = support.next().await;
    assert_says!(refused, "Your role (support) does not allow this");

    // The owner bans Ali: he is politely refused from then on.
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send(&format!("/find {}", ali.id));
    let card = owner.next().await;
    let banned = press(&owner, &card, "Ban").await;
    assert_says!(banned, "Banned");
    ali.send("/start");
    assert_says!(ali.next().await, "Your account is suspended");
    assert_eq!(audited(db, "customer").await[0].1, "customer.ban");
}

/// "Done when", as a new seller would try it: with only the token and a panel's address, the
/// owner sets up a location, the panel, two plans, a card and a promo code from the bot alone;
/// a customer buys; the owner sees the sale in `/stats` and the staff chat, and the setup in
/// `/audit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_sets_up_the_whole_shop_from_the_bot_and_a_customer_buys() {
    use vpnshop_tests::panels::marzban::{self as fake, FakeMarzban};
    let shop = ShopBuilder::new().open().await;
    let marzban = FakeMarzban::start().await;
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    let said = |m: vpnshop_tests::telegram::BotMessage| m.text;

    owner.send("/location add de --name Germany --flag 🇩🇪");
    assert!(said(owner.next().await).contains("added location de"));

    // The panel: the /panel line and the password are both deleted from the chat.
    let line = owner.send(&format!(
        "/panel add de-1 --kind marzban --url {} --username {} --location de",
        marzban.url,
        fake::USERNAME
    ));
    let ask = owner.next().await;
    assert_says!(ask, "send the password");
    let password = owner.send(fake::PASSWORD);
    let checked = owner.next().await;
    assert_says!(checked, "panel de-1 added");
    assert_eq!(shop.app.tg.deleted_in(ADMIN), vec![line, password]);

    owner.send(
        r#"/plan add m1 --name "1 month" --location de --days 30 --traffic 50 --price 150000:IRT"#,
    );
    assert!(said(owner.next().await).contains("added plan m1"));
    owner.send("/plan add m3 --name \u{201c}3 months\u{201d} —location de —days 90 —traffic 150 —price 400000:IRT");
    assert!(said(owner.next().await).contains("added plan m3"));
    owner.send(r#"/card add "6037-9911-2233-4455" --holder "Ali Rezaei" --bank Melli"#);
    assert!(said(owner.next().await).contains("added card"));
    owner.send("/promo add OFF10 --percent 10 --uses 100");
    assert!(said(owner.next().await).contains("added promo code OFF10"));
    // A wrong line is refused with what was wrong, and changes nothing.
    owner.send("/plan add m6 --days 180");
    assert_says!(owner.next().await, "did not work; nothing was changed");

    // A customer buys the 1-month plan from her wallet.
    let db = &shop.app.db.db;
    let (sara, c) = buys_from_wallet(&shop.app, 7_700_000_101, |plans| {
        assert_eq!(
            plans.buttons.len(),
            3,
            "two plans and back: {:?}",
            plans.button_labels()
        );
    })
    .await;
    assert_eq!(marzban.user_count(), 1);

    // The sale in the staff chat, in /stats; the setup in /audit.
    let sale = shop.staff.next().await;
    assert_says!(sale, "🛒");
    assert_says!(sale, "150,000");
    owner.send("/stats");
    assert_says!(owner.next().await, "150,000");
    // Sara lost her phone: the owner finds her and re-sends her link.
    owner.send(&format!("/find {}", sara.id));
    let card = owner.next().await;
    assert_says!(card, "Sara");
    let done = press(&owner, &card, "Re-send the link").await;
    assert_says!(done, "was sent to the customer again");
    let again = sara.next().await;
    assert!(again.photo.is_some(), "{again:?}");
    assert_says!(again, "/sub/");

    // She asks for her money back: the owner refunds the order to her wallet, once.
    let preview = press(&owner, &done, "Refund order #1").await;
    assert_says!(preview, "Refund 150,000");
    assert_says!(preview, "wallet 0 toman → 150,000 toman");
    let refunded = press(&owner, &preview, "Confirm").await;
    assert_says!(refunded, "Order #1 refunded");
    let mut told = String::new();
    for _ in 0..3 {
        told = sara.next().await.text;
        if told.contains("is back in your wallet") {
            break;
        }
    }
    assert!(told.contains("Order #1 was refunded"), "{told}");
    let wallet = vpnshop_core::ledger::wallet_balance(db, c.id, vpnshop_core::money::Currency::Irt)
        .await
        .unwrap();
    assert_eq!(wallet.minor(), 150_000);
    owner.press(&preview, "Confirm");
    assert_says!(owner.next().await, "already refunded");
    assert!(vpnshop_core::ledger::audit(db).await.unwrap().is_clean());

    // The owner adds a finance member and a support member from /staff.
    for (who, role) in [(FINANCE, "Finance"), (SUPPORT, "Support")] {
        owner.send("/staff");
        let team = owner.next().await;
        press(&owner, &team, "Add staff").await;
        owner.send(&who.to_string());
        let roles = owner.next().await;
        press(&owner, &roles, role).await;
    }

    // A customer tops up by card; finance approves the receipt in the staff chat.
    let en = Language::En;
    let (reza, home) = at_menu(&shop.app, 7_700_000_102, "Reza", en).await;
    let wallet = press(&reza, &home, &crate::support::label(en, "menu.wallet")).await;
    let options = press(&reza, &wallet, &crate::support::label(en, "wallet.top_up")).await;
    press(
        &reza,
        &options,
        &crate::support::label(en, "pay.method.card"),
    )
    .await;
    reza.send("100000");
    assert_says!(reza.next().await, "Ali Rezaei");
    let (_, receipt) = reza.send_receipt(&shop.staff).await;
    let fatemeh = shop.app.user(FINANCE, "Fatemeh", Some("en"));
    let q = fatemeh.press_in_group(&receipt, "تأیید");
    assert_eq!(
        fatemeh.answer_to(&q).await,
        Some(vpnshop_bot::text::tr(
            Language::Fa,
            "receipt.answer_approved"
        ))
    );
    // Credited what he sent: 100,000 and the few toman that made the amount unique.
    let credited =
        crate::support::wallet(&shop.app, reza.id, vpnshop_core::money::Currency::Irt).await;
    assert!((100_000..101_000).contains(&credited), "{credited}");

    // Reza asks a question; support answers it from the staff chat, and cannot touch wallets.
    let support = press(&reza, &home, "Support").await;
    press(&reza, &support, "New ticket").await;
    reza.send("How do I connect on Windows?");
    assert_says!(reza.next().await, "ticket #1");
    let mut post = shop.staff.next().await;
    while !post.text.contains("How do I connect on Windows?") {
        post = shop.staff.next().await;
    }
    let sam = shop.app.user(SUPPORT, "Sam", Some("en"));
    sam.reply_to(
        STAFF_CHAT,
        post.message_id,
        "Install Hiddify and import the link",
    );
    let mut answer = reza.next().await;
    while !answer.text.contains("Support answered") {
        answer = reza.next().await;
    }
    assert_says!(answer, "Install Hiddify and import the link");
    sam.send(&format!("/find {}", reza.id));
    let card = sam.next().await;
    assert!(
        !card
            .button_labels()
            .iter()
            .any(|l| l.contains("Adjust wallet"))
    );
    let reza_id = customers::by_telegram_id(db, TelegramId::new(reza.id))
        .await
        .unwrap()
        .unwrap()
        .id;
    let q = sam.press_data(card.message_id, &format!("acw:{reza_id}"));
    assert_says!(sam.next().await, "Your role (support) does not allow this");
    sam.answer_to(&q).await;

    // The audit log, newest first, ten a page: the whole story, every step by who did it.
    owner.send("/audit");
    let mut log = owner.next().await;
    let mut seen = log.text.clone();
    while log.button_labels().iter().any(|l| l.contains("Older")) {
        log = press(&owner, &log, "Older").await;
        seen.push_str(&log.text);
    }
    for action in [
        "admin.denied wallet.adjust",
        "ticket.answer",
        "receipt.approve",
        "staff.grant",
        "order.refund",
        "subscription.resend",
        "order.paid",
        "catalog.location",
        "panel.add",
        "catalog.plan",
        "catalog.card",
        "catalog.promo",
    ] {
        assert!(seen.contains(action), "{action} is not in the log: {seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_maintenance_customers_see_their_subscriptions_but_cannot_buy_and_staff_keep_working() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    let en = Language::En;
    let (ali, home) = at_menu(&shop.app, 7_700_000_201, "Ali", en).await;

    owner.send("/maintenance on");
    assert_says!(owner.next().await, "Maintenance mode is on");

    // Buying is held back with a notice; the subscriptions screen still opens.
    let held = press(&ali, &home, &label(en, "menu.buy")).await;
    assert_says!(held, "under maintenance");
    let subs = press(&ali, &held, &label(en, "menu.subscriptions")).await;
    assert!(!subs.text.contains("under maintenance"), "{}", subs.text);
    ali.send("/wallet");
    assert_says!(ali.next().await, "under maintenance");

    // Staff are not held back.
    owner.send("/buy");
    let theirs = owner.next().await;
    assert!(
        !theirs.text.contains("under maintenance"),
        "{}",
        theirs.text
    );

    owner.send("/maintenance off");
    assert_says!(owner.next().await, "Maintenance mode is off");
    let locations = press(&ali, &home, &label(en, "menu.buy")).await;
    assert!(
        locations
            .button_labels()
            .iter()
            .any(|l| l.contains("Germany")),
        "{:?}",
        locations.button_labels()
    );
    let switched = audited(&shop.app.db.db, "settings").await;
    assert_eq!(switched.len(), 2);
    assert_eq!(
        (switched[1].3.as_str(), switched[1].4.as_str()),
        ("off", "on")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staff_chat_gets_the_days_summary_at_the_chosen_hour() {
    use chrono::{Duration, Timelike, Utc};
    // Half past the next hour: the hourly job's first run lands there, well inside that hour.
    let now = Utc::now();
    let next_hour = (now + Duration::hours(1))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .unwrap();
    let at = next_hour + Duration::minutes(30);
    let hour = at.hour();
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(move |s| s.shop.daily_summary_hour = Some(hour))
        .open()
        .await;
    shop.app.clock.jump(at - now);
    let summary = shop.staff.next().await;
    assert_says!(summary, "🗓");
    assert_says!(summary, &at.format("%Y-%m-%d").to_string());
    assert_says!(summary, "💵");
    shop.staff.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_the_staff_chat_cannot_take_is_told_to_the_owners_in_private() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let en = Language::En;
    let (owner, _) = at_menu(&shop.app, ADMIN, "Boss", en).await;
    // Telegram keeps failing every post to the staff group.
    shop.app.tg.fail_next_sends_to(STAFF_CHAT, 1_000_000);
    buys_from_wallet(&shop.app, 7_700_000_301, |_| {}).await;
    // The notice is retried with backoff; hours pass on the bot's clock until it gives up.
    let mut told = None;
    for _ in 0..120 {
        shop.app.clock.jump(chrono::Duration::hours(2));
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if let Some(m) = owner.try_next() {
            told = Some(m);
            break;
        }
    }
    let told = told.expect("the owner is told");
    assert_says!(told, "could not be posted in the staff chat");
    assert_says!(told, "SaleToStaff");
}
