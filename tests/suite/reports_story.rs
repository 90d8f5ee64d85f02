//! The owner asks for the month's report: four charts arrive as PNG photos with the figures in
//! Persian in their captions, and the orders and customers come as CSV files a spreadsheet
//! opens (UTF-8 with a BOM) and that parse back to what the shop holds. Support staff get no
//! report.
use vpnshop_core::customers::Language;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Grant, Role};
use vpnshop_tests::telegram::{BotMessage, FakeUser};

use crate::shop::{ADMIN, ShopBuilder};
use crate::support::{buys, label, t0};

/// The admin's next message that carries a photo or a document.
async fn next_file(admin: &FakeUser) -> BotMessage {
    for _ in 0..10 {
        let m = admin.next().await;
        if m.photo.is_some() || m.document.is_some() {
            return m;
        }
    }
    panic!("no file came");
}

fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .expect("a UTF-8 byte-order mark first");
    csv::Reader::from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_gets_the_months_charts_and_csv_exports_that_parse_back() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let app = &shop.app;
    buys(app, 501).await;
    buys(app, 502).await;

    let fa = Language::Fa;
    let admin = &shop.admin;
    admin.send("/report");
    let screen = admin.next().await;
    assert!(screen.button_labels().len() >= 5, "{:?}", screen.buttons);
    admin.press(&screen, &label(fa, "report.days_30"));
    let mut photos = Vec::new();
    for _ in 0..4 {
        photos.push(next_file(admin).await);
    }
    for p in &photos {
        let photo = p.photo.as_ref().unwrap();
        assert!(photo.is_png, "a PNG image");
        assert!(photo.bytes > 5_000, "a real chart: {} bytes", photo.bytes);
    }
    // Two purchases of 150,000 toman, said in Persian in the caption.
    assert!(photos[0].text.contains("درآمد"), "{}", photos[0].text);
    assert!(photos[0].text.contains("300,000"), "{}", photos[0].text);
    assert!(photos[2].text.contains("1 month"), "{}", photos[2].text);
    assert!(photos[3].text.contains("کیف پول"), "{}", photos[3].text);

    // Orders as CSV, for a date range typed with the command.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    admin.send(&format!("/report orders 2020-01-01 {today}"));
    let file = next_file(admin).await;
    let doc = file.document.unwrap();
    assert!(doc.file_name.ends_with(".csv"), "{}", doc.file_name);
    let rows = parse_csv(&doc.bytes);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r[3] == "fulfilled" && r[12] == "150000")
    );

    // Customers with Persian names come back as written.
    let persian = vpnshop_core::customers::register(
        &app.db.db,
        &vpnshop_core::customers::Contact {
            telegram_id: TelegramId::new(503),
            username: None,
            first_name: "مریم".into(),
        },
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let _ = persian;
    admin.send("/report customers");
    let doc = next_file(admin).await.document.unwrap();
    let rows = parse_csv(&doc.bytes);
    assert!(rows.iter().any(|r| r[3] == "مریم"), "{rows:?}");
    let buyer = rows.iter().find(|r| r[1] == "501").unwrap();
    assert_eq!((buyer[11].as_str(), buyer[12].as_str()), ("1", "150000"));

    // A bad range is explained, not guessed at.
    admin.send("/report orders 2026-12-31 2026-01-01");
    let usage = admin.next().await;
    assert!(usage.text.contains("/report"), "{}", usage.text);

    // Support staff are refused (and nothing is sent).
    let support = app.user(600, "Reza", Some("fa"));
    let owner = staff::access_of(&app.db.db, TelegramId::new(ADMIN))
        .await
        .unwrap()
        .unwrap();
    staff::grant(
        &app.db.db,
        &owner,
        TelegramId::new(600),
        Grant::Role(Role::Support),
        t0(),
    )
    .await
    .unwrap();
    support.send("/report 30");
    let refused = support.next().await;
    assert!(refused.photo.is_none() && refused.document.is_none());
}
