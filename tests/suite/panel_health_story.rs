//! Panel health: the shop asks its panels every minute; one that stops answering is taken off
//! sale and staff hear it once, and once more when it answers again.
use chrono::Duration;
use vpnshop_core::customers::Language;
use vpnshop_tests::assert_says;

use crate::shop::ShopBuilder;
use crate::support::at_menu;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panel_that_stops_answering_is_off_sale_and_staff_hear_it_once_then_once_when_back() {
    let shop = ShopBuilder::new()
        .with_plan()
        .settings(|s| s.panels.health_check_seconds = 60)
        .open()
        .await;
    let (sara, _) = at_menu(&shop.app, 7_980_000_001, "Sara", Language::En).await;

    // The panel goes down: within the next check staff hear it, and Germany is off sale.
    shop.panel().faults.fail_next(10_000);
    shop.app.clock.jump(Duration::seconds(61));
    let down = shop.staff.next().await;
    assert_says!(down, "🔴");
    assert_says!(down, "de-1");
    sara.send("/buy");
    assert_says!(sara.next().await, "Nothing is on sale right now");

    // Still down a minute later: nothing more is said.
    shop.app.clock.jump(Duration::seconds(61));
    shop.staff.expect_silence().await;

    // It answers again: staff hear it, once, and Germany is for sale again.
    shop.panel().faults.fail_next(0);
    shop.app.clock.jump(Duration::seconds(61));
    let up = shop.staff.next().await;
    assert_says!(up, "🟢");
    assert_says!(up, "de-1");
    sara.send("/buy");
    let locations = sara.next().await;
    assert!(
        locations
            .button_labels()
            .iter()
            .any(|l| l.contains("Germany")),
        "{:?}",
        locations.button_labels()
    );
    shop.app.clock.jump(Duration::seconds(61));
    shop.staff.expect_silence().await;
}
