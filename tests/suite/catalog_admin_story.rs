//! A seller sets up what customers buy from the terminal: locations and plans, with errors
//! that name the wrong option.
use vpnshop_bot::cli::catalog::{self as catalog_admin, LocationCommand, PlanCommand, PlanTerms};
use vpnshop_core::catalog;
use vpnshop_core::ids::LocationId;
use vpnshop_core::money::Currency;
use vpnshop_tests::db::fresh_db;

use crate::support::t0;

fn terms(location: &str, days: i32, traffic: &str, prices: &[&str]) -> PlanTerms {
    PlanTerms {
        name: Some("1 month".into()),
        location: Some(location.into()),
        days: Some(days),
        traffic: Some(traffic.into()),
        prices: prices.iter().map(|p| p.to_string()).collect(),
        sort: None,
    }
}

#[tokio::test]
async fn a_seller_adds_edits_and_disables_locations_and_plans() {
    let t = fresh_db().await;
    let db = &t.db;
    let mut out = Vec::new();
    catalog_admin::location(
        db,
        LocationCommand::Add {
            code: "de".into(),
            name: "Germany".into(),
            flag: "🇩🇪".into(),
            sort: 0,
        },
        t0(),
        &mut out,
    )
    .await
    .unwrap();
    catalog_admin::plan(
        db,
        PlanCommand::Add {
            code: "m1".into(),
            terms: terms("de", 30, "50", &["150,000:IRT", "150:XTR"]),
            trial: false,
        },
        t0(),
        &mut out,
    )
    .await
    .unwrap();
    let offers = catalog::offers(db, LocationId::new(1), Currency::Irt)
        .await
        .unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].price.minor(), 150_000);
    assert_eq!(offers[0].plan.traffic_bytes, Some(50 << 30));

    // Wrong options are named, and nothing changes.
    for (bad, named) in [
        (
            terms("de", 30, "50", &["150000:BTC"]),
            "--price `150000:BTC`",
        ),
        (terms("de", 30, "lots", &["1:IRT"]), "--traffic `lots`"),
        (terms("nl", 30, "50", &["1:IRT"]), "no location `nl`"),
        (terms("de", 0, "50", &["1:IRT"]), "at least one day"),
    ] {
        let e = catalog_admin::plan(
            db,
            PlanCommand::Add {
                code: "x".into(),
                terms: bad,
                trial: false,
            },
            t0(),
            &mut out,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains(named), "{e}");
    }
    assert_eq!(catalog::all_plans(db).await.unwrap().len(), 1);

    let mut edit = terms("de", 60, "unlimited", &["250000:IRT"]);
    edit.name = None;
    catalog_admin::plan(
        db,
        PlanCommand::Edit {
            code: "m1".into(),
            terms: edit,
        },
        t0(),
        &mut out,
    )
    .await
    .unwrap();
    let plan = catalog::plan_by_code(db, "m1").await.unwrap().unwrap();
    assert_eq!(
        (plan.duration_days, plan.traffic_bytes, plan.name.as_str()),
        (60, None, "1 month")
    );

    let mut listing = Vec::new();
    catalog_admin::plan(db, PlanCommand::List, t0(), &mut listing)
        .await
        .unwrap();
    let listing = String::from_utf8(listing).unwrap();
    assert!(listing.contains("unlimited"), "{listing}");
    assert!(listing.contains("250,000 IRT, 150 XTR"), "{listing}");

    catalog_admin::plan(
        db,
        PlanCommand::Disable { code: "m1".into() },
        t0(),
        &mut out,
    )
    .await
    .unwrap();
    assert!(
        catalog::offers(db, LocationId::new(1), Currency::Irt)
            .await
            .unwrap()
            .is_empty()
    );
    let e = catalog_admin::location(
        db,
        LocationCommand::Disable { code: "xx".into() },
        t0(),
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no location `xx`"), "{e}");
}
