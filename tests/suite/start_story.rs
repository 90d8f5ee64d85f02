//! A new customer's first minutes: `/start`, pick a language, see the menu in it.
use vpnshop_core::customers;
use vpnshop_core::ids::TelegramId;
use vpnshop_tests::app::{TOKEN, logs, spawn_app};
use vpnshop_tests::assert_says;
use vpnshop_tests::telegram::BOT_USERNAME;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_picks_persian_and_is_not_asked_again() {
    let app = spawn_app().await;
    let sara = app.user(7_000_000_001, "سارا", Some("fa"));

    sara.send("/start");
    let picker = sara.next().await;
    assert_says!(picker, "لطفاً زبان خود را انتخاب کنید");
    assert_says!(picker, "Please choose your language");
    assert_eq!(
        picker.button_labels(),
        vec!["🇮🇷 فارسی", "🇬🇧 English", "🇷🇺 Русский"]
    );

    let q = sara.press(&picker, "فارسی");
    assert_eq!(sara.answer_to(&q).await, None);
    let confirmed = sara.next().await;
    assert!(confirmed.edited);
    assert_eq!(confirmed.text, "✅ زبان ربات فارسی شد.");
    let menu = sara.next().await;
    // The shop's name is escaped: it contains `<VPN> & Co`.
    assert!(
        menu.text
            .contains("سارا عزیز، به Test <VPN> & Co خوش آمدید"),
        "{}",
        menu.text
    );
    assert_eq!(
        menu.button_labels(),
        vec![
            "🛒 خرید اشتراک",
            "📦 اشتراک‌های من",
            "💰 کیف پول",
            "🪙 امتیازها",
            "👥 دعوت از دوستان",
            "🎧 پشتیبانی",
            "🌐 زبان",
            "❓ راهنما"
        ]
    );

    // Stored, and not asked again.
    let stored = customers::by_telegram_id(&app.db.db, TelegramId::new(sara.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.language.as_deref(), Some("fa"));
    sara.send("/start");
    let again = sara.next().await;
    assert_says!(again, "خوش آمدید");
    assert_eq!(again.button_labels()[0], "🛒 خرید اشتراک");

    // The wallet opens in place, in Persian.
    let q = sara.press(&again, "کیف پول");
    sara.answer_to(&q).await;
    let wallet = sara.next().await;
    assert!(wallet.edited);
    assert_says!(wallet, "موجودی کیف پول شما: 0 تومان");
    assert_says!(wallet, "هنوز تراکنشی ندارید");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_speaks_english_and_russian_and_the_language_can_be_switched() {
    let app = spawn_app().await;
    let john = app.user(101, "John", Some("en"));
    john.send("/start");
    let picker = john.next().await;
    john.press(&picker, "English");
    assert_eq!(john.next().await.text, "✅ Language set to English.");
    let menu = john.next().await;
    assert!(
        menu.text
            .starts_with("👋 Welcome to Test <VPN> & Co, John!"),
        "{}",
        menu.text
    );

    let q = john.press(&menu, "Language");
    john.answer_to(&q).await;
    let picker = john.next().await;
    john.press(&picker, "Русский");
    assert_eq!(john.next().await.text, "✅ Язык переключён на русский.");
    let menu = john.next().await;
    assert_says!(menu, "Добро пожаловать");
    assert_eq!(
        menu.button_labels(),
        vec![
            "🛒 Купить подписку",
            "📦 Мои подписки",
            "💰 Кошелёк",
            "🪙 Баллы",
            "👥 Пригласить друзей",
            "🎧 Поддержка",
            "🌐 Язык",
            "❓ Помощь"
        ]
    );

    john.send("/help");
    assert!(
        john.next()
            .await
            .text
            .contains("/cancel — отменить текущее действие")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friend_who_follows_a_referral_link_is_recorded_as_referred() {
    let app = spawn_app().await;
    let sara = app.user(201, "Sara", Some("en"));
    sara.send("/start");
    let picker = sara.next().await;
    sara.press(&picker, "English");
    sara.next().await;
    let menu = sara.next().await;
    sara.press(&menu, "Invite");
    let invite = sara.next().await;
    let link = invite
        .text
        .split_whitespace()
        .find(|w| w.starts_with("https://t.me/"))
        .expect("a link")
        .to_string();
    assert!(
        link.starts_with(&format!("https://t.me/{BOT_USERNAME}?start=ref_")),
        "{link}"
    );
    assert_says!(invite, "Friends who joined: 0");

    let payload = link.split("?start=").nth(1).unwrap();
    let ali = app.user(202, "Ali", None);
    ali.send(&format!("/start {payload}"));
    let picker = ali.next().await;
    assert_eq!(picker.buttons.len(), 1);

    let sara_row = customers::by_telegram_id(&app.db.db, TelegramId::new(201))
        .await
        .unwrap()
        .unwrap();
    let ali_row = customers::by_telegram_id(&app.db.db, TelegramId::new(202))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ali_row.referred_by, Some(sara_row.id));

    let q = sara.press(&invite, "Back");
    sara.answer_to(&q).await;
    let menu = sara.next().await;
    sara.press(&menu, "Invite");
    assert_says!(sara.next().await, "Friends who joined: 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_input_gets_a_hint_and_forged_buttons_change_nothing() {
    let app = spawn_app().await;
    let u = app.user(301, "<b>&", Some("ru"));
    u.send("/start");
    let picker = u.next().await;
    // A sticker or text where a language button is expected: a hint, and the step stays.
    u.send_sticker();
    let hint = u.next().await;
    assert!(
        hint.text.contains("Please pick a language") || hint.text.contains("выберите язык"),
        "{}",
        hint.text
    );
    u.send("hello");
    assert_says!(u.next().await, "выберите язык");

    // Forged or stale callback data: a polite answer and nothing else.
    let q = u.press_data(picker.message_id, "l:de");
    assert_eq!(
        u.answer_to(&q).await.as_deref(),
        Some("Эта кнопка больше не активна.")
    );
    let q = u.press_data(picker.message_id, "pay:1:amount=0");
    assert!(u.answer_to(&q).await.is_some());
    u.expect_silence().await;

    u.press(&picker, "Русский");
    u.next().await;
    let menu = u.next().await;
    // The user's name is shown as typed, not as markup.
    assert_says!(menu, "<b>&");
    u.send("what?");
    assert_says!(u.next().await, "Я не понял");
    u.send("/cancel");
    assert_eq!(u.next().await.text, "✖️ Отменено.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_publishes_its_commands_per_language_and_never_logs_its_token() {
    let app = spawn_app().await;
    let calls = app.tg.calls("setMyCommands");
    let langs: Vec<_> = calls
        .iter()
        .map(|c| c["language_code"].as_str().unwrap_or("").to_string())
        .collect();
    for l in ["fa", "en", "ru"] {
        assert!(langs.contains(&l.to_string()), "{langs:?}");
    }
    let fa = calls.iter().find(|c| c["language_code"] == "fa").unwrap();
    assert_eq!(fa["commands"][0]["description"], "منوی اصلی");

    let u = app.user(401, "Tok", Some("en"));
    u.send("/start");
    u.next().await;
    let secret = TOKEN.split(':').nth(1).unwrap();
    let logged = logs();
    assert!(logged.contains("vpnshop is serving"), "logs are captured");
    assert!(!logged.contains(secret), "the token leaked into the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_choosing_a_language_continues_the_dialogue() {
    let mut app = spawn_app().await;
    let u = app.user(501, "Reza", Some("fa"));
    u.send("/start");
    let picker = u.next().await;
    app.restart().await;
    // The new process remembers the chat is choosing a language.
    u.send("سلام");
    assert!(
        u.next()
            .await
            .text
            .contains("لطفاً زبان را با دکمه‌ها انتخاب کنید")
    );
    u.press(&picker, "فارسی");
    assert_eq!(u.next().await.text, "✅ زبان ربات فارسی شد.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_webhook_mode_telegram_posts_updates_and_forged_posts_are_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut app = vpnshop_tests::app::spawn_app_with(move |s| {
        s.telegram.mode = vpnshop_bot::config::UpdateMode::Webhook;
        s.telegram.webhook_url = Some(format!("http://127.0.0.1:{port}/telegram/hook"));
        s.telegram.webhook_secret = Some("s3cret-hook".to_string().into());
        s.http.listen = format!("127.0.0.1:{port}");
    })
    .await;
    let (url, secret) = app.tg.webhook().expect("the bot set its webhook");
    assert_eq!(url, format!("http://127.0.0.1:{port}/telegram/hook"));
    assert_eq!(secret.as_deref(), Some("s3cret-hook"));

    let u = app.user(601, "Nima", Some("en"));
    u.send("/start");
    let picker = u.next().await;
    u.press(&picker, "English");
    assert_eq!(u.next().await.text, "✅ Language set to English.");

    // A post without Telegram's secret is refused and does nothing.
    let forged = serde_json::json!({ "update_id": 999, "message": {
        "message_id": 1, "date": 0, "chat": { "id": 601, "type": "private", "first_name": "Nima" },
        "from": { "id": 601, "is_bot": false, "first_name": "Nima" }, "text": "/help" } });
    let status = reqwest::Client::new()
        .post(&url)
        .json(&forged)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    let health = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap();
    assert!(health.status().is_success());
    u.next().await; // the menu after choosing the language
    u.expect_silence().await;

    // A rolling deploy: the process stops (as on SIGTERM) and another starts. Nobody deletes
    // the webhook, the new one sets the same URL and secret, and updates keep coming.
    app.stop().await;
    assert!(
        app.tg.calls("deleteWebhook").is_empty(),
        "not deleted on stop"
    );
    app.start().await;
    assert!(app.tg.calls("deleteWebhook").is_empty(), "never deleted");
    assert_eq!(
        app.tg.webhook(),
        Some((url.clone(), Some("s3cret-hook".to_string())))
    );
    u.send("/help");
    assert!(!u.next().await.text.is_empty());
}

/// Webhook mode with no shared secret would give every process a random one of its own: the
/// configuration is refused, naming the key.
#[test]
fn webhook_mode_without_a_secret_is_refused() {
    let mut settings = vpnshop_bot::config::Settings::default();
    settings.telegram.token = Some("123:abc".to_string().into());
    settings.telegram.mode = vpnshop_bot::config::UpdateMode::Webhook;
    settings.telegram.webhook_url = Some("https://shop.example/hook".into());
    let problems = settings.validate();
    assert!(
        problems
            .iter()
            .any(|p| p.key == "telegram.webhook_secret" && p.message.contains("secret")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_database_fails_the_customer_gets_an_apology_not_an_error() {
    use vpnshop_core::sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    app.db
        .db
        .execute_unprepared("ALTER TABLE customers RENAME TO customers_gone")
        .await
        .unwrap();
    let u = app.user(701, "Mina", Some("en"));
    u.send("/start");
    let sorry = u.next().await;
    assert!(
        sorry
            .text
            .starts_with("⚠️ Something went wrong on our side"),
        "{}",
        sorry.text
    );
    assert!(
        !sorry.text.contains("customers"),
        "no internals shown: {}",
        sorry.text
    );
    assert_eq!(sorry.button_labels(), vec!["⬅️ Back to menu"]);
}

/// The SQLite file holds panel credentials and every customer's data: only its owner may read
/// it, from the moment it is created.
#[tokio::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("vpnshop-perm-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shop.db");
    let db = vpnshop_core::db::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    vpnshop_core::shop::identity(&db).await.unwrap();
    for file in ["shop.db", "shop.db-wal"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
    drop(db);
    std::fs::remove_dir_all(&dir).unwrap();
}
