//! From a customer's card, staff make good: points given with a reason after a preview (and
//! refused when they would go below zero), a subscription extended by days and traffic through
//! the provisioning job (the panel changes, the customer is told), a message written to the
//! customer — each audited, once. Support sees none of these buttons and a forged one is refused.
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};
use vpnshop_core::{ledger, points, provisioning};
use vpnshop_tests::assert_says;

use crate::admin_journeys::buys_from_wallet;
use crate::shop::{ADMIN, ShopBuilder};
use crate::support::t0;

const GB: i64 = 1 << 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_gives_points_extends_a_subscription_and_writes_to_the_customer() {
    let shop = ShopBuilder::new().with_plan().open().await;
    let db = &shop.app.db.db;
    let (sara, c) = buys_from_wallet(&shop.app, 7_950_000_001, |_| {}).await;
    let sub = provisioning::of_customer(db, c.customer_id())
        .await
        .unwrap()
        .remove(0);
    let owner = shop.app.user(ADMIN, "Boss", Some("en"));
    owner.send(&format!("/find {}", sara.id));
    let card = owner.next().await;

    // Points: +500 with a reason, previewed, confirmed once; then too many taken is refused.
    let ask = crate::support::press(&owner, &card, "Adjust points").await;
    assert_says!(ask, "number of points");
    owner.send("+500 birthday gift");
    let preview = owner.next().await;
    assert_says!(preview, "Give 500 points to");
    assert_says!(preview, "points 0 → 500");
    let done = crate::support::press(&owner, &preview, "Confirm").await;
    assert_says!(done, "Done: points 0 → 500");
    owner.press(&preview, "Confirm");
    owner.next().await; // the preview is used up
    assert_eq!(
        points::balance(db, c.customer_id(), chrono::Utc::now())
            .await
            .unwrap(),
        500
    );
    let ask = crate::support::press(&owner, &done, "Adjust points").await;
    assert_says!(ask, "number of points");
    owner.send("-600 oops");
    assert_says!(owner.next().await, "has only 500 points");

    // Extend: 7 days and 10 GB for an outage, previewed with the new expiry and limit.
    owner.send(&format!("/find {}", sara.id));
    let card = owner.next().await;
    let ask = crate::support::press(&owner, &card, "Extend").await;
    assert_says!(ask, "7d 10gb");
    owner.send("7d 10gb outage on the 3rd");
    let preview = owner.next().await;
    assert_says!(preview, "+7 days and +10 GB");
    assert_says!(preview, "Reason: outage on the 3rd");
    let (expire_before, limit_before) = shop.panel().limits_of(&sub.panel_account).unwrap();
    let given = crate::support::press(&owner, &preview, "Confirm").await;
    assert_says!(given, "gives it");
    // The customer hears it once the job has changed the panel (after the QR code of her
    // purchase, still in her chat).
    let mut told = sara.next().await;
    while !told.text.contains("renewed") {
        told = sara.next().await;
    }
    assert_says!(told, &format!("Subscription #{} renewed", sub.id));
    assert_says!(told, "60 GB");
    let (expire_after, limit_after) = shop.panel().limits_of(&sub.panel_account).unwrap();
    assert_eq!(
        expire_after.unwrap() - expire_before.unwrap(),
        7 * 24 * 3600
    );
    assert_eq!(limit_after.unwrap() - limit_before.unwrap(), 10 * GB as u64);

    // A message to Sara, with a Support button under it.
    owner.send(&format!("/find {}", sara.id));
    let card = owner.next().await;
    crate::support::press(&owner, &card, "Message").await;
    owner.send("Your server moves to Finland tonight <b>no action needed</b>");
    assert_says!(owner.next().await, "on its way");
    let note = sara.next().await;
    assert_says!(note, "A message from support:");
    assert_says!(
        note,
        "Your server moves to Finland tonight <b>no action needed</b>"
    );
    assert!(note.button_labels().iter().any(|l| l.contains("Support")));

    // Support sees none of these, and a forged Extend changes nothing.
    let support = TelegramId::new(9_600_000_001);
    staff::put(db, support, Role::Support, t0()).await.unwrap();
    let sam = shop.app.user(support.get(), "Sam", Some("en"));
    sam.send(&format!("/find {}", sara.id));
    let theirs = sam.next().await;
    for hidden in ["Adjust points", "Extend", "Message"] {
        assert!(
            !theirs.button_labels().iter().any(|l| l.contains(hidden)),
            "{hidden}: {:?}",
            theirs.button_labels()
        );
    }
    let q = sam.press_data(theirs.message_id, &format!("acg:{}", sub.id));
    assert_says!(sam.next().await, "Your role (support) does not allow this");
    sam.answer_to(&q).await;

    // One audit row each, and the ledger adds up.
    let filter = Filter {
        customer: Some(c.customer_id()),
        ..Filter::default()
    };
    let (rows, _) = audit::latest(db, &filter, 0, 50).await.unwrap();
    let actions: Vec<String> = rows.into_iter().rev().map(|r| r.action).collect();
    for (action, times) in [
        ("points.adjust", 1),
        ("subscription.gift", 1),
        ("customer.message", 1),
    ] {
        assert_eq!(
            actions.iter().filter(|a| *a == action).count(),
            times,
            "{actions:?}"
        );
    }
    assert!(ledger::audit(db).await.unwrap().is_clean());
}
