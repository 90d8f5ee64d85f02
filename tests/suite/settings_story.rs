//! Settings an owner changes from the bot while the shop runs: a channel customers must join
//! before buying or taking the trial (checked with Telegram, "I have joined" works at once, staff
//! are never held), the free trial switched off and back, and their own help text — each change
//! audited; support, without the settings permission, is refused.
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::catalog::{self, NewPlan};
use vpnshop_core::customers::Language;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};
use vpnshop_tests::assert_says;

use crate::shop::{ADMIN, ShopBuilder};
use crate::support::{at_menu, label, press, t0};

/// The audit rows of the settings kind, oldest first, as `(action, before, after)`.
async fn settings_changes(
    db: &vpnshop_core::sea_orm::DatabaseConnection,
) -> Vec<(String, String, String)> {
    let filter = Filter {
        kind: Some("settings".into()),
        ..Filter::default()
    };
    let (rows, _) = audit::latest(db, &filter, 0, 50).await.unwrap();
    rows.into_iter()
        .rev()
        .map(|r| {
            (
                r.action,
                r.before.unwrap_or_default(),
                r.after.unwrap_or_default(),
            )
        })
        .collect()
}

/// The locations screen, with the shop's one location.
fn offers_germany(m: &vpnshop_tests::telegram::BotMessage) -> bool {
    m.button_labels().iter().any(|l| l.contains("Germany"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_join_the_required_channel_before_buying_and_staff_are_never_held() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    let en = Language::En;
    shop.app.tg.open_channel("@vpn_news");
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));

    owner.send("/settings");
    let screen = owner.next().await;
    assert_says!(screen, "Required channel: none");
    let ask = press(&owner, &screen, "Set the required channel").await;
    assert_says!(ask, "@username or t.me link");
    owner.send("vpn news");
    assert_says!(owner.next().await, "not a public channel");
    owner.send("https://t.me/vpn_news");
    let set = owner.next().await;
    assert_says!(set, "must now join @vpn_news");
    assert_says!(set, "Required channel: @vpn_news");

    // Sara is not in the channel: Buy asks her to join, with a button that opens it.
    let (sara, menu) = at_menu(&shop.app, 7_900_000_001, "Sara", en).await;
    let asked = press(&sara, &menu, &label(en, "menu.buy")).await;
    assert_says!(asked, "join our channel @vpn_news");
    assert!(
        asked
            .buttons
            .iter()
            .flatten()
            .any(|(_, url)| url == "https://t.me/vpn_news"),
        "{:?}",
        asked.buttons
    );
    // "I have joined" before joining: asked again. After joining: the shop opens.
    let again = press(&sara, &asked, "I have joined").await;
    assert_says!(again, "You are not in @vpn_news yet");
    shop.app.tg.join_channel("@vpn_news", sara.id);
    let locations = press(&sara, &again, "I have joined").await;
    assert!(offers_germany(&locations));
    // Found in the channel once, she is not asked about again for a while.
    let checks = shop.app.tg.channel_checks();
    let plans = press(&sara, &locations, "Germany").await;
    assert_says!(plans, "Plans in Germany");
    assert_eq!(shop.app.tg.channel_checks(), checks);

    // Typing /buy is held the same way; staff are never held.
    let (omid, _) = at_menu(&shop.app, 7_900_000_002, "Omid", en).await;
    omid.send("/buy");
    assert_says!(omid.next().await, "join our channel");
    owner.send("/buy");
    assert!(offers_germany(&owner.next().await));

    // The owner lifts the requirement: Omid buys freely.
    owner.send("/settings");
    let screen = owner.next().await;
    let cleared = press(&owner, &screen, "No required channel").await;
    assert_says!(cleared, "No channel is required any more");
    omid.send("/buy");
    assert!(offers_germany(&omid.next().await));

    assert_eq!(
        settings_changes(db).await,
        vec![
            (
                "settings.required_channel".into(),
                "default".into(),
                "@vpn_news".into()
            ),
            (
                "settings.required_channel".into(),
                "@vpn_news".into(),
                "default".into()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_turns_the_trial_off_and_writes_the_help_text_and_support_may_not() {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| s.sales.trial_plan = Some("trial".into()))
        .open()
        .await;
    let db = &shop.app.db.db;
    let en = Language::En;
    catalog::add_plan(
        db,
        NewPlan {
            code: "trial".into(),
            name: "Trial day".into(),
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
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send("/settings");
    let screen = owner.next().await;
    assert_says!(screen, "Free trial: Trial day");
    assert_says!(screen, "(from the config)");

    // A new customer sees the trial button; the owner turns the trial off; the next menu has none.
    let (sara, menu) = at_menu(&shop.app, 7_900_000_011, "Sara", en).await;
    assert!(
        menu.button_labels()
            .iter()
            .any(|l| l.contains("Free trial"))
    );
    let plans = press(&owner, &screen, "Choose the free trial").await;
    assert_eq!(
        plans.button_labels(),
        vec![
            "🎁 Trial day",
            "🚫 No free trial",
            "⚙️ As in the config",
            "⚙️ Settings"
        ]
    );
    let off = press(&owner, &plans, "No free trial").await;
    assert_says!(off, "Saved");
    assert_says!(off, "Free trial: off");
    sara.send("/start");
    let menu = sara.next().await;
    assert!(
        !menu
            .button_labels()
            .iter()
            .any(|l| l.contains("Free trial")),
        "{:?}",
        menu.button_labels()
    );
    // The old trial button, pressed anyway, gives nothing.
    sara.press_data(menu.message_id, "t");
    assert_says!(sara.next().await, "no free trial");

    // The owner writes the English help text; Persian customers keep the built-in one.
    let ask = press(&owner, &off, "Help (en)").await;
    assert_says!(ask, "Send the help text");
    owner.send("Our servers: Germany & Finland. Write to @shop_help <anytime>.");
    let saved = owner.next().await;
    assert_says!(saved, "The help text (en) is saved");
    assert_says!(saved, "en: your own");
    sara.send("/help");
    let help = sara.next().await;
    assert_says!(
        help,
        "Our servers: Germany & Finland. Write to @shop_help <anytime>."
    );
    assert!(!help.text.contains("Questions people ask"), "{}", help.text);
    let (reza, _) = at_menu(&shop.app, 7_900_000_012, "Reza", Language::Fa).await;
    reza.send("/help");
    assert!(!reza.next().await.text.contains("Our servers"));

    // Support may not change settings: the command and a forged button are refused.
    let support = TelegramId::new(9_500_000_001);
    staff::put(db, support, Role::Support, t0()).await.unwrap();
    let sam = shop.app.user(support.get(), "Sam", Some("en"));
    sam.send("/settings");
    assert_says!(sam.next().await, "Your role (support) does not allow this");
    let forged = sam.press_data(saved.message_id, "agm:1");
    assert_says!(sam.next().await, "Your role (support) does not allow this");
    sam.answer_to(&forged).await;
    assert!(!vpnshop_core::maintenance::is_on(db).await.unwrap());

    assert_eq!(
        settings_changes(db).await,
        vec![
            ("settings.trial_plan".into(), "default".into(), "off".into()),
            (
                "settings.help.en".into(),
                "default".into(),
                "62 characters".into()
            ),
        ]
    );
}
