//! An owner sends a broadcast from the bot to the customers whose subscription ended in the last
//! 30 days — in Persian, with a Renew button — watches it finish although the bot is killed
//! half-way, then edits it for everyone. Another is paused, resumed and cancelled.
use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use vpnshop_core::broadcasts::{self, BroadcastStatus, DeliveryStatus};
use vpnshop_core::customers::Language;
use vpnshop_core::entities::{broadcast_deliveries, broadcasts as table, panels};
use vpnshop_core::ids::{BroadcastId, TelegramId};
use vpnshop_core::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use vpnshop_tests::seed;
use vpnshop_tests::telegram::{BotMessage, FakeUser};

use crate::shop::{Shop, ShopBuilder};
use crate::support::label;

const FIRST: i64 = 7_000_000_000;

/// The shop's latest broadcast.
async fn latest(shop: &Shop) -> table::Model {
    table::Entity::find()
        .order_by_desc(table::Column::Id)
        .one(&shop.app.db.db)
        .await
        .unwrap()
        .expect("a broadcast")
}

/// Waits (generously: the machine may be busy) until `done` holds for the broadcast's
/// progress.
async fn until(
    shop: &Shop,
    id: BroadcastId,
    what: &str,
    done: impl Fn(&table::Model, &broadcasts::Progress) -> bool,
) -> broadcasts::Progress {
    let db = &shop.app.db.db;
    for _ in 0..1_200 {
        let b = broadcasts::get(db, id).await.unwrap();
        let p = broadcasts::progress(db, id).await.unwrap();
        if done(&b, &p) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the broadcast never got to {what}: {:?}",
        broadcasts::progress(db, id).await.unwrap()
    );
}

/// The admin's next message that has a button containing `label`.
async fn next_with(admin: &FakeUser, label: &str) -> BotMessage {
    for _ in 0..12 {
        let m = admin.next().await;
        if m.button_labels().iter().any(|l| l.contains(label)) {
            return m;
        }
    }
    panic!("no message with a `{label}` button");
}

/// How many copies of `text` each chat got (sent, not edits).
fn copies(shop: &Shop, chats: impl Iterator<Item = i64>, text: &str) -> HashMap<i64, usize> {
    chats
        .map(|c| {
            let n = shop
                .app
                .tg
                .messages_in(c)
                .iter()
                .filter(|m| !m.edited && m.text.contains(text))
                .count();
            (c, n)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_sends_a_persian_broadcast_to_those_who_expired_last_month_and_it_survives_a_crash()
 {
    let mut shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| {
            s.broadcasts.per_second = 150.0;
            s.run.job_lease_seconds = 20;
        })
        .open()
        .await;
    let db = shop.app.db.db.clone();
    let now = Utc::now();
    let plan = shop.plan.clone().unwrap();
    let panel = panels::Entity::find().one(&db).await.unwrap().unwrap();
    // 2,000 whose subscription ended 1–29 days ago, 200 whose ended 40 days ago, 200 active.
    seed::crowd(
        &db,
        FIRST,
        2_400,
        (&plan, panel.id),
        |i| {
            Some(match i {
                0..2_000 => now - chrono::Duration::days(1 + i % 29),
                2_000..2_200 => now - chrono::Duration::days(40),
                _ => now + chrono::Duration::days(10),
            })
        },
        now,
    )
    .await;
    shop.app.tg.know_users(FIRST..FIRST + 2_400);
    // One of them blocked the bot since.
    let gone = shop.app.user(FIRST + 7, "gone", Some("fa"));
    gone.block_bot();

    let fa = Language::Fa;
    let admin = &shop.admin;
    admin.send("/broadcast");
    let ask = admin.next().await;
    assert!(ask.text.contains("متن"), "{}", ask.text);
    admin.send("تخفیف ۲۰٪ برای بازگشت شما — فقط این هفته");
    let draft = next_with(admin, &label(fa, "broadcast.audience.expired")).await;
    admin.press(&draft, &label(fa, "broadcast.add_renew"));
    let draft = next_with(admin, &label(fa, "broadcast.audience.expired")).await;
    admin.press(&draft, &label(fa, "broadcast.audience.expired"));
    admin.next().await; // how many days?
    admin.send("۳۰");
    // The preview, exactly as customers will see it, then the count and Send.
    let preview = admin.next().await;
    assert!(preview.text.contains("تخفیف ۲۰٪"));
    assert_eq!(
        preview.button_labels(),
        vec![crate::support::tr_fa("broadcast.renew")]
    );
    let confirm = next_with(admin, "2000").await;
    assert!(confirm.text.contains("2000"), "{}", confirm.text);
    admin.press(&confirm, "2000");
    let progress = admin.next().await;
    let id = latest(&shop).await.id;
    until(&shop, id, "its progress message attached", |b, _| {
        b.progress_message == Some(progress.message_id)
    })
    .await;

    // The bot is killed with a third sent, and started again.
    until(&shop, id, "a third sent", |_, p| p.sent >= 700).await;
    shop.app.kill().await;
    let at_kill = broadcasts::progress(&db, id).await.unwrap();
    assert!(at_kill.left > 0, "it finished before the kill: {at_kill:?}");
    // Its job's lease runs out (the clock jumps past it) and the next process goes on.
    shop.app.clock.jump(chrono::Duration::minutes(2));
    shop.app.start().await;
    let done = until(&shop, id, "done", |b, _| b.status == BroadcastStatus::Done).await;

    // Everyone in the audience got it at most once; nobody else got it.
    let text = "تخفیف ۲۰٪";
    let got = copies(&shop, FIRST..FIRST + 2_000, text);
    assert!(got.values().all(|n| *n <= 1), "someone got it twice");
    // Those recorded as sent got it; a send the kill cut off between the call and its record
    // may have arrived too (counted as failed, never sent again).
    let reached = got.values().filter(|n| **n == 1).count() as u64;
    assert!(
        (done.sent..=done.sent + done.failed).contains(&reached),
        "{reached} reached, {done:?}"
    );
    assert!(
        copies(&shop, FIRST + 2_000..FIRST + 2_400, text)
            .values()
            .all(|n| *n == 0)
    );
    assert_eq!(done.total, 2_000);
    assert_eq!(done.blocked, 1);
    assert_eq!(done.sent + done.failed + done.blocked, 2_000);
    // Only sends cut off by the kill can have failed: at most the calls under way at once.
    assert!(done.failed <= 32, "{done:?}");
    let failed = broadcast_deliveries::Entity::find()
        .filter(broadcast_deliveries::Column::BroadcastId.eq(id))
        .filter(broadcast_deliveries::Column::Status.eq(DeliveryStatus::Failed))
        .all(&db)
        .await
        .unwrap();
    assert!(
        failed
            .iter()
            .all(|r| r.error.as_deref() == Some(broadcasts::INTERRUPTED))
    );
    // The customer who blocked the bot is marked, and left out of the next one.
    let c = vpnshop_core::customers::by_telegram_id(&db, TelegramId::new(FIRST + 7))
        .await
        .unwrap()
        .unwrap();
    assert!(c.blocked_bot);
    let expired = broadcasts::Audience::Expired { days: 30 };
    assert_eq!(
        broadcasts::count(&db, &expired, Utc::now(), Language::Fa)
            .await
            .unwrap(),
        1_999
    );

    // The progress message says it is done, with Edit for everyone.
    let admin_chat = shop.app.tg.messages_in(crate::shop::ADMIN);
    let last = admin_chat
        .iter()
        .rev()
        .find(|m| m.message_id == progress.message_id)
        .unwrap()
        .clone();
    assert!(
        last.text
            .contains(&crate::support::tr_fa("broadcast.status.done")),
        "{}",
        last.text
    );
    assert!(last.text.contains(&done.sent.to_string()));

    // Edited for everyone it reached.
    admin.press(&last, &label(fa, "broadcast.edit"));
    let ask = next_with(admin, "").await;
    let _ = ask;
    admin.send("تخفیف ۳۰٪ — تا جمعه");
    until(&shop, id, "edited", |b, p| {
        b.revision == 1 && p.revised == p.sent
    })
    .await;
    let edited = (FIRST..FIRST + 2_000)
        .filter(|c| {
            shop.app
                .tg
                .messages_in(*c)
                .iter()
                .any(|m| m.edited && m.text.contains("تخفیف ۳۰٪"))
        })
        .count() as u64;
    assert_eq!(edited, done.sent);
}

/// A shop sending `per_second`, with `n` customers who never bought (and who have talked to
/// the bot before).
async fn shop_with_newcomers(n: i64, per_second: f64) -> Shop {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(move |s| s.broadcasts.per_second = per_second)
        .open()
        .await;
    let db = &shop.app.db.db;
    let plan = shop.plan.clone().unwrap();
    let panel = panels::Entity::find().one(db).await.unwrap().unwrap();
    seed::crowd(db, FIRST, n, (&plan, panel.id), |_| None, Utc::now()).await;
    shop.app.tg.know_users(FIRST..FIRST + n);
    shop
}

/// The owner writes `text` with /broadcast and picks "never bought": the draft screen.
async fn compose_for_newcomers(admin: &FakeUser, text: &str) -> BotMessage {
    let fa = Language::Fa;
    admin.send("/broadcast");
    admin.next().await;
    admin.send(text);
    let draft = next_with(admin, &label(fa, "broadcast.audience.never_bought")).await;
    admin.press(&draft, &label(fa, "broadcast.audience.never_bought"));
    draft
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_is_paused_resumed_and_cancelled_from_its_progress_message() {
    let shop = shop_with_newcomers(300, 20.0).await;
    let db = shop.app.db.db.clone();
    let fa = Language::Fa;
    let admin = &shop.admin;
    compose_for_newcomers(admin, "Server maintenance tonight").await;
    // Everyone who never bought: the 300, and the owner himself.
    let confirm = next_with(admin, "301").await;
    admin.press(&confirm, "301");
    let progress = admin.next().await;
    let id = latest(&shop).await.id;

    until(&shop, id, "some sent", |_, p| p.sent >= 20).await;
    admin.press(&progress, &label(fa, "broadcast.pause"));
    until(&shop, id, "paused", |b, _| {
        b.status == BroadcastStatus::Paused
    })
    .await;
    // Nothing more goes out while paused (the calls under way may still land).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let paused = broadcasts::progress(&db, id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        broadcasts::progress(&db, id).await.unwrap().sent,
        paused.sent
    );

    let shown = shop.app.tg.messages_in(crate::shop::ADMIN);
    let progress = shown
        .iter()
        .rev()
        .find(|m| m.message_id == progress.message_id)
        .unwrap()
        .clone();
    admin.press(&progress, &label(fa, "broadcast.resume"));
    until(&shop, id, "more sent", |_, p| p.sent >= paused.sent + 20).await;
    admin.press(&progress, &label(fa, "broadcast.cancel"));
    let p = until(&shop, id, "cancelled", |b, p| {
        b.status == BroadcastStatus::Cancelled && p.left == 0
    })
    .await;
    assert!(p.cancelled > 0, "{p:?}");
    assert_eq!(p.sent + p.cancelled + p.failed, 301);
    let got = copies(&shop, FIRST..FIRST + 300, "Server maintenance");
    assert!(got.values().all(|n| *n <= 1));
    let sent_to_crowd = broadcast_deliveries::Entity::find()
        .filter(broadcast_deliveries::Column::BroadcastId.eq(id))
        .filter(broadcast_deliveries::Column::Status.eq(DeliveryStatus::Sent))
        .filter(broadcast_deliveries::Column::ChatId.gte(FIRST))
        .all(&db)
        .await
        .unwrap()
        .len();
    assert_eq!(got.values().sum::<usize>(), sent_to_crowd);

    // A customer pressing (or forging) the admin's buttons changes nothing.
    let customer = shop.app.user(FIRST + 1, "c1", Some("fa"));
    customer.press_data(progress.message_id, &format!("abc:{id}:r"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        broadcasts::get(&db, id).await.unwrap().status,
        BroadcastStatus::Cancelled
    );

    // Deleted from every chat it reached, after one confirmation.
    let latest_progress = || {
        shop.app
            .tg
            .messages_in(crate::shop::ADMIN)
            .iter()
            .rev()
            .find(|m| m.message_id == progress.message_id)
            .unwrap()
            .clone()
    };
    admin.press(&latest_progress(), &label(fa, "broadcast.delete"));
    until(&shop, id, "the question asked", |_, _| {
        latest_progress()
            .button_labels()
            .iter()
            .any(|l| l.contains(&label(fa, "broadcast.delete_sure")))
    })
    .await;
    admin.press(&latest_progress(), &label(fa, "broadcast.delete_sure"));
    let gone = until(&shop, id, "deleted", |_, p| p.sent == 0).await;
    assert_eq!(gone.deleted, p.sent);
    let reached: Vec<i64> = got
        .iter()
        .filter(|(_, n)| **n == 1)
        .map(|(c, _)| *c)
        .collect();
    for chat in reached {
        assert_eq!(shop.app.tg.deleted_in(chat).len(), 1, "chat {chat}");
    }
}

/// A draft whose preview Telegram refuses is dropped: the Send button shown before it no
/// longer sends anything. And Send pressed twice makes one broadcast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_previewed_draft_is_sent_and_only_once() {
    let shop = shop_with_newcomers(20, 50.0).await;
    let db = shop.app.db.db.clone();
    let fa = Language::Fa;
    let admin = &shop.admin;
    compose_for_newcomers(admin, "New servers in Germany").await;
    let confirm = next_with(admin, "21").await;
    // A link Telegram refuses (the fake, like Telegram, takes only http(s) links on buttons).
    admin.press(&confirm, &label(fa, "broadcast.add_url"));
    admin.next().await;
    admin.send("Channel | tg://resolve?domain=my_channel");
    let refused = next_with(admin, &label(fa, "broadcast.new")).await;
    assert!(refused.text.contains("⚠️"), "{}", refused.text);
    admin.press(&confirm, "21");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(table::Entity::find().one(&db).await.unwrap().is_none());

    // Composed again, and Send pressed twice.
    compose_for_newcomers(admin, "New servers in Germany").await;
    let confirm = next_with(admin, "21").await;
    admin.press(&confirm, "21");
    admin.press(&confirm, "21");
    let mut made = None;
    for _ in 0..300 {
        made = table::Entity::find().one(&db).await.unwrap();
        if made.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = made.expect("a broadcast").id;
    until(&shop, id, "done", |b, _| b.status == BroadcastStatus::Done).await;
    assert_eq!(table::Entity::find().all(&db).await.unwrap().len(), 1);
    let got = copies(&shop, FIRST..FIRST + 20, "New servers");
    assert!(got.values().all(|n| *n == 1), "{got:?}");
}
