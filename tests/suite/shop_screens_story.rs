//! The catalog and panels screens: an owner stops and restarts selling a plan with a button, sees
//! each panel's health, load and version, runs its doctor, disables it (customers then find
//! nothing on sale) and caps it — each change audited like the typed command; support pressing a
//! forged panel button changes nothing.
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::customers::Language;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};
use vpnshop_tests::assert_says;

use crate::admin_journeys::buys_from_wallet;
use crate::shop::{ADMIN, ShopBuilder};
use crate::support::{at_menu, label, press, t0};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_runs_the_catalog_and_the_panels_from_buttons() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    let en = Language::En;
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/admin");
    let menu = owner.next().await;

    // Catalog: the plan is on sale; stop it, and a customer sees no plan; sell it again.
    let catalog = press(&owner, &menu, "Catalog").await;
    assert_says!(catalog, "🟢 🇩🇪 Germany (de)");
    assert_says!(catalog, "🟢 1 month (m1)");
    let stopped = press(&owner, &catalog, "Stop selling 1 month").await;
    assert_says!(stopped, "1 month is no longer sold");
    assert_says!(stopped, "⏸ 1 month (m1)");
    let (sara, home) = at_menu(&shop.app, 7_960_000_001, "Sara", en).await;
    let locations = press(&sara, &home, &label(en, "menu.buy")).await;
    let plans = press(&sara, &locations, "Germany").await;
    assert!(
        !plans.button_labels().iter().any(|l| l.contains("1 month")),
        "{:?}",
        plans.button_labels()
    );
    let again = press(&owner, &stopped, "Sell 1 month again").await;
    assert_says!(again, "1 month is on sale again");

    // Panels: health, load and version; the doctor; disable and enable; capacity.
    owner.send("/admin");
    let menu = owner.next().await;
    let panels = press(&owner, &menu, "Panels").await;
    assert_says!(panels, "de-1");
    assert_says!(panels, "Accounts: 0 / no limit");
    let panel = press(&owner, &panels, "de-1").await;
    let checked = press(&owner, &panel, "Check").await;
    assert_says!(checked, "✓");
    assert_says!(checked, "healthy");
    assert!(
        !checked.text.contains("marzban ?"),
        "the version is shown: {}",
        checked.text
    );
    let off = press(&owner, &checked, "Disable").await;
    assert_says!(off, "no new accounts go to this panel");
    sara.send("/buy");
    assert_says!(sara.next().await, "Nothing is on sale right now");
    let on = press(&owner, &off, "Enable").await;
    assert_says!(on, "Enabled");

    // A capacity of one: after one sale the panel is full and Germany is off sale.
    press(&owner, &on, "Capacity").await;
    owner.send("zero");
    assert_says!(owner.next().await, "positive number");
    owner.send("1");
    let capped = owner.next().await;
    assert_says!(capped, "Capacity saved");
    assert_says!(capped, "Accounts: 0 / 1");
    buys_from_wallet(&shop.app, 7_960_000_002, |_| {}).await;
    sara.send("/buy");
    assert_says!(sara.next().await, "Nothing is on sale right now");

    // Support may not touch panels: a forged Disable changes nothing and is recorded.
    let support = TelegramId::new(9_700_000_001);
    staff::put(db, support, Role::Support, t0()).await.unwrap();
    let sam = shop.app.user(support.get(), "Sam", Some("en"));
    sam.send("/admin");
    let theirs = sam.next().await;
    assert!(!theirs.button_labels().iter().any(|l| l.contains("Panels")));
    let panel_id = vpnshop_core::panels::panel_by_name(db, "de-1")
        .await
        .unwrap()
        .id;
    let q = sam.press_data(theirs.message_id, &format!("ape:{panel_id}:0"));
    assert_says!(sam.next().await, "Your role (support) does not allow this");
    sam.answer_to(&q).await;
    assert!(
        vpnshop_core::panels::panel_by_name(db, "de-1")
            .await
            .unwrap()
            .enabled
    );

    let filter = Filter::default();
    let (rows, _) = audit::latest(db, &filter, 0, 50).await.unwrap();
    let actions: Vec<(String, String)> = rows
        .into_iter()
        .rev()
        .filter(|r| r.action.starts_with("panel.") || r.action.starts_with("catalog."))
        .map(|r| (r.action, r.details))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("catalog.plan".to_string(), "disable m1".to_string()),
            ("catalog.plan".to_string(), "enable m1".to_string()),
            ("panel.disable".to_string(), String::new()),
            ("panel.enable".to_string(), String::new()),
            ("panel.capacity".to_string(), String::new()),
        ]
    );
}

/// An owner adds a first-purchase bonus code with a typed command, sees it on the promo codes
/// screen, a new customer gets seven more days for the same price, and a stopped code works no
/// more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bonus_code_gives_a_new_customer_more_days_until_the_owner_stops_it() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let en = Language::En;
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/promo add WEEK --extra-days 7 --first-purchase");
    assert_says!(owner.next().await, "added promo code WEEK");
    owner.send("/admin");
    let menu = owner.next().await;
    let promos = press(&owner, &menu, "Promo codes").await;
    assert_says!(promos, "WEEK");
    assert_says!(promos, "+7 days first purchase");

    let (sara, home) = at_menu(&shop.app, 7_960_000_101, "Sara", en).await;
    let locations = press(&sara, &home, &label(en, "menu.buy")).await;
    let plans = press(&sara, &locations, "Germany").await;
    let preview = press(&sara, &plans, "1 month").await;
    press(&sara, &preview, "Promo code").await;
    sara.send("week");
    let bonus = sara.next().await;
    assert_says!(bonus, "+7 days for the same price");
    assert_says!(bonus, "37 days");
    assert_says!(bonus, "150,000");

    let stopped = press(&owner, &promos, "Stop WEEK").await;
    assert_says!(stopped, "no longer works");
    let plans = press(&sara, &locations, "Germany").await;
    let preview = press(&sara, &plans, "1 month").await;
    press(&sara, &preview, "Promo code").await;
    sara.send("week");
    assert_says!(sara.next().await, "no such promo code");
}

/// The payments screen: the shop's card with how often it was shown and paid to, the receipt
/// waiting for staff with a link to its post; the owner stops the card and customers are no
/// longer offered card-to-card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payments_screen_shows_cards_and_waiting_receipts_and_stops_a_card() {
    let shop = ShopBuilder::new()
        .with_plan()
        .with_card_of("Ali Rezaei", "Melli")
        .open()
        .await;
    let en = Language::En;
    let (sara, home) = at_menu(&shop.app, 7_960_000_201, "Sara", en).await;
    let wallet = press(&sara, &home, &label(en, "menu.wallet")).await;
    let options = press(&sara, &wallet, &label(en, "wallet.top_up")).await;
    press(&sara, &options, &label(en, "pay.method.card")).await;
    sara.send("200000");
    assert_says!(sara.next().await, "Ali Rezaei");
    let (_, post) = sara.send_receipt(&shop.staff).await;

    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/admin");
    let menu = owner.next().await;
    let payments = press(&owner, &menu, "Payments").await;
    assert_says!(payments, "··4455 · Ali Rezaei (Melli) · shown 1 · paid 0");
    assert_says!(payments, "Receipts waiting for staff: 1");
    assert_says!(payments, "Sara");
    let link = format!("https://t.me/c/1234/{}", post.message_id);
    assert!(
        payments
            .buttons
            .iter()
            .flatten()
            .any(|(_, url)| *url == link),
        "{:?}",
        payments.buttons
    );

    // Finance sees the receipts waiting, but may not stop a card.
    let finance = TelegramId::new(9_700_000_002);
    staff::put(&shop.app.db.db, finance, Role::Finance, t0())
        .await
        .unwrap();
    let fatemeh = shop.app.user(finance.get(), "Fatemeh", Some("en"));
    fatemeh.send("/admin");
    let theirs = press(&fatemeh, &fatemeh.next().await, "Payments").await;
    assert_says!(theirs, "Receipts waiting for staff: 1");
    assert!(
        !theirs
            .button_labels()
            .iter()
            .any(|l| l.contains("Stop card"))
    );

    let stopped = press(&owner, &payments, "Stop card ··4455").await;
    assert_says!(stopped, "⏸ #1 ··4455");
    // The card was the only way to top up: the wallet offers none now.
    let wallet = press(&sara, &home, &label(en, "menu.wallet")).await;
    assert!(
        !wallet
            .button_labels()
            .iter()
            .any(|l| l.contains(&label(en, "wallet.top_up"))),
        "{:?}",
        wallet.button_labels()
    );
}

/// An IRT shop takes CryptoBot invoices in dollars at the rate the owner sets: not offered until
/// a rate exists, priced at it (rounded up to the cent), credited in toman, and the rate's age is
/// flagged once it is older than a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toman_shop_takes_dollar_invoices_at_the_rate_the_owner_sets() {
    let shop = ShopBuilder::new()
        .with_plan()
        .with_cryptobot()
        .settings(|s| {
            if let Some(cb) = s.payments.cryptobot.as_mut() {
                cb.charge_in = Some("USD".into());
            }
        })
        .open()
        .await;
    let en = Language::En;
    let (sara, home) = at_menu(&shop.app, 7_960_000_301, "Sara", en).await;
    let wallet = press(&sara, &home, &label(en, "menu.wallet")).await;
    assert!(
        !wallet
            .button_labels()
            .iter()
            .any(|l| l.contains(&label(en, "wallet.top_up"))),
        "no rate yet, so no way to top up: {:?}",
        wallet.button_labels()
    );

    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/rate");
    let screen = owner.next().await;
    assert_says!(screen, "no rate for USD yet");
    owner.send("/rate USD 95,000");
    let set = owner.next().await;
    assert_says!(set, "Rate saved: 1 USD = 95,000 toman");
    assert_says!(set, "1 USD = 95,000 toman, set 0 minutes ago");

    // 150,000 toman at 95,000 a dollar: 1.5789… → 1.58 dollars; the wallet gets 150,000 toman.
    let wallet = press(&sara, &home, &label(en, "menu.wallet")).await;
    let options = press(&sara, &wallet, &label(en, "wallet.top_up")).await;
    press(&sara, &options, &label(en, "pay.method.cryptobot")).await;
    sara.send("150000");
    let how = sara.next().await;
    assert_says!(how, "1.58");
    assert_says!(how, "your wallet is credited 150,000 toman");
    let cb = shop.cb.as_ref().unwrap();
    let invoice = cb.invoice_ids().pop().unwrap();
    let asked = cb.invoice(invoice).unwrap();
    assert_eq!(asked["fiat"], "USD");
    assert_eq!(asked["amount"], "1.58");
    cb.pay(invoice);
    assert_eq!(cb.last_callback().unwrap().deliver().await, 200);
    crate::support::wallet_reaches(
        &shop.app,
        sara.id,
        vpnshop_core::money::Currency::Irt,
        150_000,
    )
    .await;

    // A day and more later the owner is told to check the rate.
    shop.app.clock.jump(chrono::Duration::hours(25));
    owner.send("/rate");
    assert_says!(owner.next().await, "older than 24 h");
}
