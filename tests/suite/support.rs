//! Small builders the stories share.
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;
use vpnshop_bot::text::tr;
use vpnshop_core::catalog::{self, NewLocation, NewPlan, Plan};
use vpnshop_core::customers::Language;
use vpnshop_core::customers::{self, Contact, Customer};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::ledger::{self, Memo, SystemAccount, TxKind};
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_tests::app::TestApp;
use vpnshop_tests::telegram::{BotMessage, FakeUser};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

pub fn irt(amount: i64) -> Money {
    Money::new(amount, Currency::Irt).unwrap()
}

pub async fn customer(db: &DatabaseConnection, telegram_id: i64) -> Customer {
    let contact = Contact {
        telegram_id: TelegramId::new(telegram_id),
        username: None,
        first_name: format!("user{telegram_id}"),
    };
    customers::register(db, &contact, None, t0())
        .await
        .unwrap()
        .customer
}

/// Credits the wallet as an adjustment. The test writes through its own connection while the
/// bot writes through another, as a second process on the same file would: the write
/// transaction waits its turn (`BEGIN IMMEDIATE`) instead of being refused.
pub async fn top_up(db: &DatabaseConnection, c: &Customer, amount: Money) {
    let txn = vpnshop_core::db::begin(db).await.unwrap();
    ledger::credit_wallet(
        &txn,
        c.customer_id(),
        amount,
        &SystemAccount::Adjustments,
        TxKind::Adjustment,
        Memo::default(),
        t0(),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
}

/// A location with one 30-day, 50 GB plan priced 150,000 toman.
pub async fn plan_30d(db: &DatabaseConnection) -> Plan {
    plan_30d_priced(
        db,
        vec![irt(150_000), Money::new(150, Currency::Xtr).unwrap()],
    )
    .await
}

/// The same Germany location and 30-day, 50 GB plan, at `prices`.
pub async fn plan_30d_priced(db: &DatabaseConnection, prices: Vec<Money>) -> Plan {
    let loc = catalog::add_location(
        db,
        NewLocation {
            code: "de".into(),
            name: "Germany".into(),
            flag: "🇩🇪".into(),
            sort_order: 0,
        },
        t0(),
    )
    .await
    .unwrap();
    catalog::add_plan(
        db,
        NewPlan {
            code: "m1".into(),
            name: "1 month".into(),
            location: Some(loc.location_id()),
            duration_days: 30,
            traffic_bytes: Some(50 << 30),
            is_trial: false,
            sort_order: 0,
            prices,
        },
        t0(),
    )
    .await
    .unwrap()
}

/// A healthy fake Marzban serving the `de` location, so paid orders there are provisioned.
pub async fn marzban_for_germany(
    db: &DatabaseConnection,
) -> vpnshop_tests::panels::marzban::FakeMarzban {
    use vpnshop_tests::panels::marzban::{self as fake, FakeMarzban};
    let marzban = FakeMarzban::start().await;
    let (panel, _) = vpnshop_core::panels::add_panel(
        db,
        vpnshop_core::panels::NewPanel {
            name: "de-1".into(),
            kind: marzban_client::PanelKind::Marzban,
            base_url: marzban.url.clone(),
            username: fake::USERNAME.into(),
            secret: secrecy::SecretString::from(fake::PASSWORD.to_string()),
            proxy: None,
            options: marzban_client::PanelOptions::default(),
            location: "de".into(),
            capacity: None,
        },
        t0(),
    )
    .await
    .unwrap();
    vpnshop_core::panels::record_check(db, panel.id, None, None, t0())
        .await
        .unwrap();
    marzban
}

/// A customer who picked `lang` and sees the main menu.
pub async fn at_menu(app: &TestApp, id: i64, name: &str, lang: Language) -> (FakeUser, BotMessage) {
    let u = app.user(id, name, Some(lang.code()));
    u.send("/start");
    let picker = u.next().await;
    let label = match lang {
        Language::Fa => "فارسی",
        Language::Ru => "Русский",
        Language::En => "English",
    };
    u.press(&picker, label);
    u.next().await;
    let menu = u.next().await;
    (u, menu)
}

pub async fn press(u: &FakeUser, m: &BotMessage, label: &str) -> BotMessage {
    u.press(m, label);
    u.next().await
}

/// The label of `key` in `lang`, without its emoji (buttons are found by what they contain).
pub fn label(lang: Language, key: &str) -> String {
    let t = tr(lang, key);
    t.split_once(' ')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(t)
}

pub async fn wallet(app: &TestApp, telegram: i64, currency: Currency) -> i64 {
    let c = customers::by_telegram_id(&app.db.db, TelegramId::new(telegram))
        .await
        .unwrap()
        .unwrap();
    ledger::wallet_balance(&app.db.db, c.customer_id(), currency)
        .await
        .unwrap()
        .minor()
}

/// Waits (up to 10 s) until the wallet holds `minor`.
pub async fn wallet_reaches(app: &TestApp, telegram: i64, currency: Currency, minor: i64) {
    for _ in 0..100 {
        if wallet(app, telegram, currency).await == minor {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(wallet(app, telegram, currency).await, minor);
}

/// A customer who bought the 30-day plan from the wallet, read past the QR code that follows
/// the link.
pub async fn buys(app: &TestApp, telegram: i64) -> (vpnshop_tests::telegram::FakeUser, Customer) {
    let (u, c) = crate::admin_journeys::buys_from_wallet(app, telegram, |_| {}).await;
    loop {
        if u.next().await.photo.is_some() {
            return (u, c);
        }
    }
}

/// The main menu, reached with /start past whatever the bot said before.
pub async fn home(u: &vpnshop_tests::telegram::FakeUser) -> vpnshop_tests::telegram::BotMessage {
    u.send("/start");
    let wanted = label(Language::En, "menu.subscriptions");
    for _ in 0..6 {
        let m = u.next().await;
        if m.button_labels().iter().any(|l| l.contains(&wanted)) {
            return m;
        }
    }
    panic!("no main menu");
}

/// The Persian text of `key`, whole.
pub fn tr_fa(key: &str) -> String {
    tr(Language::Fa, key)
}
