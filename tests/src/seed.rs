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

/// `n` customers with Telegram ids from `first`, speaking Persian, each given a subscription on
/// `plan` at `panel` ending when `ends(i)` says (none when it says `None`). Inserted in bulk, as
/// a shop that moved to vpnshop with its customers would have them.
pub async fn crowd(
    db: &DatabaseConnection,
    first: i64,
    n: i64,
    (plan, panel): (&Plan, vpnshop_core::ids::PanelId),
    ends: impl Fn(i64) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    use vpnshop_core::entities::{customers, subscriptions};
    use vpnshop_core::ids::TelegramId;
    use vpnshop_core::subscriptions::SubscriptionStatus;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        customers::Entity::insert_many(chunk.iter().map(|i| customers::ActiveModel {
            telegram_id: Set(TelegramId::new(first + i)),
            username: Set(None),
            first_name: Set(format!("c{i}")),
            language: Set(Some("fa".into())),
            referral_code: Set(format!("crowd{}", first + i)),
            referred_by: Set(None),
            trial_used: Set(false),
            banned: Set(false),
            blocked_bot: Set(false),
            last_seen_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    let ids: Vec<(i64, vpnshop_core::ids::CustomerId)> = {
        use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
        let rows: Vec<(vpnshop_core::ids::CustomerId, TelegramId)> = customers::Entity::find()
            .select_only()
            .column(customers::Column::Id)
            .column(customers::Column::TelegramId)
            .filter(customers::Column::TelegramId.gte(first))
            .filter(customers::Column::TelegramId.lt(first + n))
            .into_tuple()
            .all(db)
            .await
            .unwrap();
        rows.into_iter()
            .map(|(c, t)| (t.get() - first, c))
            .collect()
    };
    let subs: Vec<_> = ids
        .iter()
        .filter_map(|(i, c)| ends(*i).map(|at| (*i, *c, at)))
        .collect();
    for chunk in subs.chunks(500) {
        subscriptions::Entity::insert_many(chunk.iter().map(|(i, c, at)| {
            subscriptions::ActiveModel {
                customer_id: Set(*c),
                plan_id: Set(plan.id),
                panel_id: Set(panel),
                panel_account: Set(format!("crowd_{}", first + i)),
                status: Set(SubscriptionStatus::Active),
                is_trial: Set(false),
                traffic_limit_bytes: Set(Some(50 << 30)),
                used_bytes: Set(0),
                expires_at: Set(Some(*at)),
                subscription_url: Set(None),
                usage_synced_at: Set(None),
                account_uuid: Set(None),
                account_sub_id: Set(None),
                updated_at: Set(now),
                created_at: Set(now),
                ..Default::default()
            }
        }))
        .exec_without_returning(db)
        .await
        .unwrap();
    }
}
