//! The shop the benchmarks and the chaos harness sell from, made in one place: Germany, one
//! plan, and Marzban panels that answer (fakes started here).
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use vpnshop_core::catalog::{self, Location, NewLocation, NewPlan, Plan};
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::panels::{self, NewPanel, Panel};

use crate::panels::marzban::{self as fake, FakeMarzban};

/// The location `de`, Germany.
pub async fn germany(db: &DatabaseConnection, now: DateTime<Utc>) -> Location {
    catalog::add_location(
        db,
        NewLocation {
            code: "de".into(),
            name: "Germany".into(),
            flag: "🇩🇪".into(),
            sort_order: 0,
        },
        now,
    )
    .await
    .unwrap()
}

/// A 50 GB plan of `days` days in `location` (everywhere when `None`) at `price` toman.
pub async fn plan(
    db: &DatabaseConnection,
    location: Option<&Location>,
    days: i32,
    price: i64,
    now: DateTime<Utc>,
) -> Plan {
    catalog::add_plan(
        db,
        NewPlan {
            code: "m1".into(),
            name: "1 month".into(),
            location: location.map(|l| l.location_id()),
            duration_days: days,
            traffic_bytes: Some(50 << 30),
            is_trial: false,
            sort_order: 0,
            prices: vec![Money::new(price, Currency::Irt).unwrap()],
        },
        now,
    )
    .await
    .unwrap()
}

/// A fake Marzban, added as panel `name` in `de` and marked healthy.
pub async fn marzban(
    db: &DatabaseConnection,
    name: &str,
    now: DateTime<Utc>,
) -> (FakeMarzban, Panel) {
    let marzban = FakeMarzban::start().await;
    let (panel, _) = panels::add_panel(
        db,
        NewPanel {
            name: name.into(),
            kind: marzban_client::PanelKind::Marzban,
            base_url: marzban.url.clone(),
            username: fake::USERNAME.into(),
            secret: secrecy::SecretString::from(fake::PASSWORD.to_string()),
            proxy: None,
            options: marzban_client::PanelOptions::default(),
            location: "de".into(),
            capacity: None,
        },
        now,
    )
    .await
    .unwrap();
    panels::record_check(db, panel.id, None, None, now)
        .await
        .unwrap();
    (marzban, panel)
}
