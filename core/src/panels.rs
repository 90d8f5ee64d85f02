//! The panels the shop provisions accounts on: stored with their credentials, which only ever
//! leave the database wrapped (no `Debug`, listing or log shows them), and their last health.
use chrono::{DateTime, Utc};
use marzban_client::{PanelConfig, PanelKind, PanelOptions};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::audit::Entry;
use crate::catalog::{self, CatalogError, NewLocation};
use crate::entities::{panels, subscriptions};
use crate::ids::{LocationId, PanelId};
use crate::staff::{Access, Permission};

#[derive(Debug, thiserror::Error)]
pub enum PanelStoreError {
    #[error("a panel name is 1–32 letters, digits, `-` or `_`; `{0}` is not")]
    BadName(String),
    #[error("the panel address must be an http:// or https:// URL; `{0}` is not")]
    BadUrl(String),
    #[error("the proxy must be an http://, https:// or socks5:// URL")]
    BadProxy,
    #[error("the panel password or API key is empty")]
    NoSecret,
    #[error("{0} needs an admin username")]
    NoUsername(&'static str),
    #[error("no panel named `{0}`")]
    NoSuchPanel(String),
    #[error("stored panel `{0}` is unreadable: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What the operator gives to add (or change) a panel.
pub struct NewPanel {
    pub name: String,
    pub kind: PanelKind,
    pub base_url: String,
    pub username: String,
    pub secret: SecretString,
    pub proxy: Option<String>,
    pub options: PanelOptions,
    /// The location's code; created (named after the code) when the shop has none yet.
    pub location: String,
    /// How many active accounts the shop may put on it; `None`: no limit.
    pub capacity: Option<i32>,
}

/// A stored panel. `Debug` shows no secret.
#[derive(Clone, Debug)]
pub struct Panel {
    pub id: PanelId,
    pub name: String,
    pub location_id: LocationId,
    pub capacity: Option<i32>,
    pub enabled: bool,
    pub healthy: bool,
    pub checked_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// What it said it runs at its last check.
    pub version: Option<String>,
    pub config: PanelConfig,
}

/// Whether `add_panel` made a new panel or changed an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    Updated,
}

fn check_name(name: &str) -> Result<String, PanelStoreError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(PanelStoreError::BadName(name.to_string()))
    }
}

fn parse_url(s: &str) -> Result<Url, PanelStoreError> {
    match Url::parse(s.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(u),
        _ => Err(PanelStoreError::BadUrl(s.to_string())),
    }
}

/// Adds a panel, or changes the one with that name (new address, credentials, options).
pub async fn add_panel(
    db: &impl ConnectionTrait,
    new: NewPanel,
    now: DateTime<Utc>,
) -> Result<(Panel, Added), PanelStoreError> {
    let name = check_name(&new.name)?;
    let base_url = parse_url(&new.base_url)?;
    let proxy = match new
        .proxy
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match Url::parse(p) {
            Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => Some(u),
            _ => return Err(PanelStoreError::BadProxy),
        },
    };
    if new.secret.expose_secret().trim().is_empty() {
        return Err(PanelStoreError::NoSecret);
    }
    if new.kind != PanelKind::Hiddify && new.username.trim().is_empty() {
        return Err(PanelStoreError::NoUsername(new.kind.as_str()));
    }
    let location = match catalog::location_by_code(db, &new.location).await? {
        Some(l) => l,
        None => {
            catalog::add_location(
                db,
                NewLocation {
                    code: new.location.clone(),
                    name: new.location.clone(),
                    flag: "🌐".into(),
                    sort_order: 0,
                },
                now,
            )
            .await?
        }
    };
    let options = serde_json::to_string(&new.options).expect("plain struct");
    let existing = panels::Entity::find()
        .filter(panels::Column::Name.eq(&name))
        .one(db)
        .await?;
    let mut am = match &existing {
        Some(m) => panels::ActiveModel::from(m.clone()),
        None => panels::ActiveModel {
            name: Set(name.clone()),
            enabled: Set(true),
            healthy: Set(false),
            created_at: Set(now),
            ..Default::default()
        },
    };
    am.kind = Set(new.kind.as_str().to_string());
    am.base_url = Set(base_url.to_string());
    am.username = Set(Some(new.username.trim().to_string()).filter(|u| !u.is_empty()));
    am.secret = Set(new.secret.expose_secret().trim().to_string());
    am.proxy_url = Set(proxy.map(String::from));
    am.options = Set(options);
    am.location_id = Set(location.id);
    am.capacity = Set(new.capacity);
    let (model, added) = match existing {
        Some(_) => (am.update(db).await?, Added::Updated),
        None => (am.insert(db).await?, Added::New),
    };
    Ok((from_model(model)?, added))
}

fn from_model(m: panels::Model) -> Result<Panel, PanelStoreError> {
    let corrupt = |what: &str| PanelStoreError::Corrupt(m.name.clone(), what.to_string());
    let kind = PanelKind::parse(&m.kind).ok_or_else(|| corrupt("unknown kind"))?;
    let base_url = Url::parse(&m.base_url).map_err(|_| corrupt("bad address"))?;
    let options: PanelOptions =
        serde_json::from_str(&m.options).map_err(|e| corrupt(&format!("options: {e}")))?;
    let mut config = PanelConfig::new(
        kind,
        base_url,
        m.username.as_deref().unwrap_or(""),
        SecretString::from(m.secret.clone()),
    );
    config.proxy = m.proxy_url.as_deref().and_then(|p| Url::parse(p).ok());
    config.options = options;
    Ok(Panel {
        id: m.id,
        name: m.name,
        location_id: m.location_id,
        capacity: m.capacity,
        enabled: m.enabled,
        healthy: m.healthy,
        checked_at: m.checked_at,
        last_error: m.last_error,
        version: m.version,
        config,
    })
}

pub async fn panels(db: &impl ConnectionTrait) -> Result<Vec<Panel>, PanelStoreError> {
    panels::Entity::find()
        .order_by_asc(panels::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect()
}

pub async fn panel_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Panel, PanelStoreError> {
    let key = name.trim().to_ascii_lowercase();
    let model = panels::Entity::find()
        .filter(panels::Column::Name.eq(&key))
        .one(db)
        .await?
        .ok_or_else(|| PanelStoreError::NoSuchPanel(name.to_string()))?;
    from_model(model)
}

pub async fn panel(
    db: &impl ConnectionTrait,
    id: PanelId,
) -> Result<Option<Panel>, PanelStoreError> {
    panels::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(from_model)
        .transpose()
}

/// Remembers the outcome of a health check (the first failing line, if any) and, when the
/// panel answered, its version.
pub async fn record_check(
    db: &impl ConnectionTrait,
    id: PanelId,
    error: Option<String>,
    version: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut am = panels::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        healthy: Set(error.is_none()),
        checked_at: Set(Some(now)),
        last_error: Set(error),
        ..Default::default()
    };
    if let Some(v) = version {
        am.version = Set(Some(v.chars().take(64).collect()));
    }
    am.update(db).await.map(|_| ())
}

#[derive(Debug, thiserror::Error)]
pub enum PanelChangeError {
    #[error("your role may not change panels")]
    NotAllowed,
    #[error("no such panel")]
    NotFound,
    /// A capacity is a positive number of accounts (or none: no limit).
    #[error("a capacity is a positive number of accounts")]
    BadCapacity,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` stops (or starts again) selling on a panel: a disabled panel gets no new accounts; the
/// accounts on it keep working. Audited.
pub async fn set_enabled(
    db: &DatabaseConnection,
    by: &Access,
    id: PanelId,
    on: bool,
    now: DateTime<Utc>,
) -> Result<(), PanelChangeError> {
    if !by.may(Permission::Panels) {
        return Err(PanelChangeError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let p = panels::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(PanelChangeError::NotFound)?;
    panels::Entity::update_many()
        .col_expr(panels::Column::Enabled, on.into())
        .filter(panels::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let word = |on: bool| if on { "enabled" } else { "disabled" };
    Entry::new(
        Some(by.who),
        if on { "panel.enable" } else { "panel.disable" },
    )
    .target(format!("panel:{}", p.name))
    .change(word(p.enabled), word(on))
    .record(&txn, now)
    .await?;
    txn.commit().await?;
    Ok(())
}

/// `by` sets how many active accounts the shop may put on a panel (`None`: no limit). Audited.
pub async fn set_capacity(
    db: &DatabaseConnection,
    by: &Access,
    id: PanelId,
    capacity: Option<i32>,
    now: DateTime<Utc>,
) -> Result<(), PanelChangeError> {
    if !by.may(Permission::Panels) {
        return Err(PanelChangeError::NotAllowed);
    }
    if capacity.is_some_and(|c| c <= 0) {
        return Err(PanelChangeError::BadCapacity);
    }
    let txn = crate::db::begin(db).await?;
    let p = panels::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(PanelChangeError::NotFound)?;
    panels::Entity::update_many()
        .col_expr(panels::Column::Capacity, capacity.into())
        .filter(panels::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    let shown = |c: Option<i32>| c.map_or("no limit".to_string(), |c| c.to_string());
    Entry::new(Some(by.who), "panel.capacity")
        .target(format!("panel:{}", p.name))
        .change(shown(p.capacity), shown(capacity))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Active (or being made) accounts per panel id, in one grouped query.
pub async fn loads(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<i64, u64>, DbErr> {
    use sea_orm::QuerySelect;
    use sea_orm::sea_query::{Expr, ExprTrait};
    let rows: Vec<(i64, i64)> = subscriptions::Entity::find()
        .select_only()
        .column(subscriptions::Column::PanelId)
        .column_as(Expr::col(subscriptions::Column::Id).count(), "n")
        .filter(subscriptions::Column::Status.is_in([
            crate::subscriptions::SubscriptionStatus::Active,
            crate::subscriptions::SubscriptionStatus::Provisioning,
        ]))
        .group_by(subscriptions::Column::PanelId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(p, n)| (p, u64::try_from(n).unwrap_or(0)))
        .collect())
}

async fn enabled_panels(db: &impl ConnectionTrait) -> Result<Vec<Panel>, DbErr> {
    match panels(db).await {
        Ok(all) => Ok(all.into_iter().filter(|p| p.enabled).collect()),
        Err(PanelStoreError::Db(e)) => Err(e),
        Err(e) => Err(DbErr::Custom(e.to_string())),
    }
}

text_column! {
    /// How a new account picks among a location's panels with room (healthy ones first, always).
    pub enum Placement {
        /// The one with the most room left: capacity minus its active accounts (a panel
        /// without a capacity counts as the emptiest by its load).
        MostRoom = "most_room",
        /// Each in turn, by the order they were added.
        RoundRobin = "round_robin",
        /// The first added that has room; the next only when it is full or down.
        Fixed = "fixed",
    }
}

/// The panel `placement` picks in `location`: among panels with room (only healthy ones with
/// `healthy_only`, otherwise healthy ones first). `last` is the panel the location's latest
/// account went to, for round robin.
fn pick(
    panels: &[Panel],
    loads: &std::collections::HashMap<i64, u64>,
    location: LocationId,
    healthy_only: bool,
    placement: Placement,
    last: Option<PanelId>,
) -> Option<Panel> {
    let mut room: Vec<(&Panel, u64)> = panels
        .iter()
        .filter(|p| p.location_id == location && (p.healthy || !healthy_only))
        .map(|p| (p, loads.get(&p.id.get()).copied().unwrap_or(0)))
        .filter(|(p, load)| p.capacity.is_none_or(|c| *load < c.max(0) as u64))
        .collect();
    if room.iter().any(|(p, _)| p.healthy) {
        room.retain(|(p, _)| p.healthy);
    }
    room.sort_by_key(|(p, _)| p.id);
    let chosen = match placement {
        Placement::MostRoom => room.iter().max_by_key(|(p, load)| {
            let left = p
                .capacity
                .map_or(u64::MAX - load, |c| (c.max(0) as u64).saturating_sub(*load));
            (left, std::cmp::Reverse(p.id))
        }),
        Placement::RoundRobin => room
            .iter()
            .find(|(p, _)| last.is_some_and(|l| p.id > l))
            .or(room.first()),
        Placement::Fixed => room.first(),
    };
    chosen.map(|(p, _)| (*p).clone())
}

/// The panel a new account in `location` goes to, by the location's placement; with
/// `healthy_only`, only panels whose last check passed.
pub async fn with_room(
    db: &impl ConnectionTrait,
    location: LocationId,
    healthy_only: bool,
) -> Result<Option<Panel>, DbErr> {
    use sea_orm::QuerySelect;
    let panels = enabled_panels(db).await?;
    let placement = catalog::location(db, location)
        .await?
        .map_or(Placement::MostRoom, |l| l.placement);
    let here: Vec<PanelId> = panels
        .iter()
        .filter(|p| p.location_id == location)
        .map(|p| p.id)
        .collect();
    let last = if placement == Placement::RoundRobin && !here.is_empty() {
        subscriptions::Entity::find()
            .select_only()
            .column(subscriptions::Column::PanelId)
            .filter(subscriptions::Column::PanelId.is_in(here))
            .order_by_desc(subscriptions::Column::Id)
            .into_tuple::<PanelId>()
            .one(db)
            .await?
    } else {
        None
    };
    Ok(pick(
        &panels,
        &loads(db).await?,
        location,
        healthy_only,
        placement,
        last,
    ))
}

/// Sets how new accounts in `location` pick a panel, audited under `by` (`None`: the command
/// line). Callers check the role: `/location placement` needs the catalog permission.
pub async fn set_placement(
    db: &DatabaseConnection,
    by: Option<crate::ids::TelegramId>,
    location: LocationId,
    placement: Placement,
    now: DateTime<Utc>,
) -> Result<(), PanelChangeError> {
    use crate::entities::locations;
    let l = catalog::location(db, location)
        .await?
        .ok_or(PanelChangeError::NotFound)?;
    let txn = crate::db::begin(db).await?;
    let mut am = locations::ActiveModel::from(l.clone());
    am.placement = Set(placement);
    am.update(&txn).await?;
    Entry::new(by, "location.placement")
        .target(format!("location:{}", l.code))
        .change(l.placement.as_str(), placement.as_str())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The locations a customer may buy in: enabled, with a healthy panel that has room.
pub async fn sellable_locations(
    db: &impl ConnectionTrait,
) -> Result<Vec<catalog::Location>, DbErr> {
    let panels = enabled_panels(db).await?;
    let loads = loads(db).await?;
    Ok(catalog::locations(db, true)
        .await?
        .into_iter()
        .filter(|l| pick(&panels, &loads, l.location_id(), true, l.placement, None).is_some())
        .collect())
}
