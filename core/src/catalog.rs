//! What the shop sells: locations and plans, each plan priced in one or more currencies.
//! Only enabled ones are offered to customers.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::entities::{locations, plan_prices, plans};
use crate::ids::{LocationId, PlanId};
use crate::money::{Currency, Money};

pub use locations::Model as Location;
pub use plans::Model as Plan;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a location with code `{0}` already exists")]
    DuplicateLocation(String),
    #[error("a plan with code `{0}` already exists")]
    DuplicatePlan(String),
    #[error("no location `{0}`")]
    NoSuchLocation(String),
    #[error("no plan `{0}`")]
    NoSuchPlan(String),
    #[error("a code is 1–32 letters, digits, `-` or `_`; `{0}` is not")]
    BadCode(String),
    #[error("a plan lasts at least one day")]
    NoDuration,
    #[error("a paid plan needs at least one price")]
    NoPrice,
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn check_code(code: &str) -> Result<String, CatalogError> {
    let code = code.trim();
    if code.is_empty()
        || code.len() > 32
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CatalogError::BadCode(code.to_string()));
    }
    Ok(code.to_ascii_lowercase())
}

#[derive(Clone, Debug)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub flag: String,
    pub sort_order: i32,
}

pub async fn add_location(
    db: &impl ConnectionTrait,
    new: NewLocation,
    now: DateTime<Utc>,
) -> Result<Location, CatalogError> {
    let code = check_code(&new.code)?;
    if location_by_code(db, &code).await?.is_some() {
        return Err(CatalogError::DuplicateLocation(code));
    }
    let am = locations::ActiveModel {
        code: Set(code),
        name: Set(new.name),
        flag: Set(new.flag),
        sort_order: Set(new.sort_order),
        enabled: Set(true),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(locations::Entity::insert(am)
        .exec_with_returning(db)
        .await?)
}

pub async fn location_by_code(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<Location>, DbErr> {
    locations::Entity::find()
        .filter(locations::Column::Code.eq(code.trim().to_ascii_lowercase()))
        .one(db)
        .await
}

pub async fn location(
    db: &impl ConnectionTrait,
    id: LocationId,
) -> Result<Option<Location>, DbErr> {
    locations::Entity::find_by_id(id).one(db).await
}

/// Locations in display order; `enabled_only` for what customers see.
pub async fn locations(
    db: &impl ConnectionTrait,
    enabled_only: bool,
) -> Result<Vec<Location>, DbErr> {
    let mut q = locations::Entity::find()
        .order_by_asc(locations::Column::SortOrder)
        .order_by_asc(locations::Column::Id);
    if enabled_only {
        q = q.filter(locations::Column::Enabled.eq(true));
    }
    q.all(db).await
}

pub async fn set_location_enabled(
    db: &impl ConnectionTrait,
    code: &str,
    enabled: bool,
) -> Result<(), CatalogError> {
    let r = locations::Entity::update_many()
        .col_expr(locations::Column::Enabled, enabled.into())
        .filter(locations::Column::Code.eq(code.trim().to_ascii_lowercase()))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Err(CatalogError::NoSuchLocation(code.to_string()));
    }
    Ok(())
}

#[derive(Clone, Debug)]
pub struct NewPlan {
    pub code: String,
    pub name: String,
    /// `None`: offered in every location.
    pub location: Option<LocationId>,
    pub duration_days: i32,
    /// `None`: unlimited traffic.
    pub traffic_bytes: Option<i64>,
    pub is_trial: bool,
    pub sort_order: i32,
    pub prices: Vec<Money>,
}

/// Adds a plan and its prices together.
pub async fn add_plan(
    db: &DatabaseConnection,
    new: NewPlan,
    now: DateTime<Utc>,
) -> Result<Plan, CatalogError> {
    let code = check_code(&new.code)?;
    if new.duration_days < 1 {
        return Err(CatalogError::NoDuration);
    }
    if !new.is_trial && new.prices.is_empty() {
        return Err(CatalogError::NoPrice);
    }
    let txn = crate::db::begin(db).await?;
    if plans::Entity::find()
        .filter(plans::Column::Code.eq(&code))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(CatalogError::DuplicatePlan(code));
    }
    let plan = plans::Entity::insert(plans::ActiveModel {
        code: Set(code),
        name: Set(new.name),
        location_id: Set(new.location),
        duration_days: Set(new.duration_days),
        traffic_bytes: Set(new.traffic_bytes.filter(|b| *b > 0)),
        is_trial: Set(new.is_trial),
        sort_order: Set(new.sort_order),
        enabled: Set(true),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    for price in new.prices {
        set_price_in(&txn, plan.id, price).await?;
    }
    txn.commit().await?;
    Ok(plan)
}

async fn set_price_in(db: &impl ConnectionTrait, plan: PlanId, price: Money) -> Result<(), DbErr> {
    plan_prices::Entity::delete_many()
        .filter(plan_prices::Column::PlanId.eq(plan))
        .filter(plan_prices::Column::Currency.eq(price.currency().code()))
        .exec(db)
        .await?;
    plan_prices::Entity::insert(plan_prices::ActiveModel {
        plan_id: Set(plan),
        currency: Set(price.currency()),
        amount_minor: Set(price.minor()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Sets (or replaces) the plan's price in that price's currency.
pub async fn set_price(db: &DatabaseConnection, plan: PlanId, price: Money) -> Result<(), DbErr> {
    let txn = crate::db::begin(db).await?;
    set_price_in(&txn, plan, price).await?;
    txn.commit().await
}

pub async fn plan(db: &impl ConnectionTrait, id: PlanId) -> Result<Option<Plan>, DbErr> {
    plans::Entity::find_by_id(id).one(db).await
}

pub async fn plan_by_code(db: &impl ConnectionTrait, code: &str) -> Result<Option<Plan>, DbErr> {
    plans::Entity::find()
        .filter(plans::Column::Code.eq(code.trim().to_ascii_lowercase()))
        .one(db)
        .await
}

pub async fn set_plan_enabled(
    db: &impl ConnectionTrait,
    code: &str,
    enabled: bool,
) -> Result<(), CatalogError> {
    let r = plans::Entity::update_many()
        .col_expr(plans::Column::Enabled, enabled.into())
        .filter(plans::Column::Code.eq(code.trim().to_ascii_lowercase()))
        .exec(db)
        .await?;
    if r.rows_affected == 0 {
        return Err(CatalogError::NoSuchPlan(code.to_string()));
    }
    Ok(())
}

/// The plan's price in `currency`, if it is sold in it.
pub async fn price(
    db: &impl ConnectionTrait,
    plan: PlanId,
    currency: Currency,
) -> Result<Option<Money>, DbErr> {
    Ok(plan_prices::Entity::find()
        .filter(plan_prices::Column::PlanId.eq(plan))
        .filter(plan_prices::Column::Currency.eq(currency.code()))
        .one(db)
        .await?
        .and_then(|p| p.price()))
}

/// All prices of a plan.
pub async fn prices(db: &impl ConnectionTrait, plan: PlanId) -> Result<Vec<Money>, DbErr> {
    Ok(plan_prices::Entity::find()
        .filter(plan_prices::Column::PlanId.eq(plan))
        .order_by_asc(plan_prices::Column::Currency)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|p| p.price())
        .collect())
}

/// A plan as a customer is offered it: with its price in their currency.
#[derive(Clone, Debug)]
pub struct Offer {
    pub plan: Plan,
    pub price: Money,
}

/// The enabled, non-trial plans sold in `location` (or everywhere) that have a price in
/// `currency`, in display order.
pub async fn offers(
    db: &impl ConnectionTrait,
    location: LocationId,
    currency: Currency,
) -> Result<Vec<Offer>, DbErr> {
    let plans = plans::Entity::find()
        .filter(plans::Column::Enabled.eq(true))
        .filter(plans::Column::IsTrial.eq(false))
        .filter(
            sea_orm::Condition::any()
                .add(plans::Column::LocationId.eq(location))
                .add(plans::Column::LocationId.is_null()),
        )
        .order_by_asc(plans::Column::SortOrder)
        .order_by_asc(plans::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<PlanId> = plans.iter().map(|p| p.id).collect();
    let prices = plan_prices::Entity::find()
        .filter(plan_prices::Column::PlanId.is_in(ids))
        .filter(plan_prices::Column::Currency.eq(currency.code()))
        .all(db)
        .await?;
    Ok(plans
        .into_iter()
        .filter_map(|plan| {
            let p = prices.iter().find(|p| p.plan_id == plan.id)?;
            Some(Offer {
                price: p.price()?,
                plan,
            })
        })
        .collect())
}

/// All plans, for the seller's listing.
pub async fn all_plans(db: &impl ConnectionTrait) -> Result<Vec<Plan>, DbErr> {
    plans::Entity::find()
        .order_by_asc(plans::Column::SortOrder)
        .order_by_asc(plans::Column::Id)
        .all(db)
        .await
}

impl plan_prices::Model {
    /// The price this row holds (a negative amount, which the code never writes, is none).
    pub fn price(&self) -> Option<Money> {
        Money::new(self.amount_minor, self.currency).ok()
    }
}

impl plans::Model {
    pub fn plan_id(&self) -> PlanId {
        self.id
    }
}

impl locations::Model {
    pub fn location_id(&self) -> LocationId {
        self.id
    }
}

/// Changes to a location; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct LocationEdit {
    pub name: Option<String>,
    pub flag: Option<String>,
    pub sort_order: Option<i32>,
}

pub async fn edit_location(
    db: &impl ConnectionTrait,
    code: &str,
    edit: LocationEdit,
) -> Result<Location, CatalogError> {
    let loc = location_by_code(db, code)
        .await?
        .ok_or_else(|| CatalogError::NoSuchLocation(code.to_string()))?;
    let mut am = locations::ActiveModel::from(loc);
    if let Some(v) = edit.name {
        am.name = Set(v);
    }
    if let Some(v) = edit.flag {
        am.flag = Set(v);
    }
    if let Some(v) = edit.sort_order {
        am.sort_order = Set(v);
    }
    Ok(sea_orm::ActiveModelTrait::update(am, db).await?)
}

/// Changes to a plan; `None` leaves a field as it is. Orders already placed keep the terms and
/// price they were quoted.
#[derive(Clone, Debug, Default)]
pub struct PlanEdit {
    pub name: Option<String>,
    /// `Some(None)`: sold in every location.
    pub location: Option<Option<LocationId>>,
    pub duration_days: Option<i32>,
    /// `Some(None)`: unlimited traffic.
    pub traffic_bytes: Option<Option<i64>>,
    pub sort_order: Option<i32>,
    pub prices: Vec<Money>,
}

pub async fn edit_plan(
    db: &DatabaseConnection,
    code: &str,
    edit: PlanEdit,
) -> Result<Plan, CatalogError> {
    let plan = plan_by_code(db, code)
        .await?
        .ok_or_else(|| CatalogError::NoSuchPlan(code.to_string()))?;
    if edit.duration_days.is_some_and(|d| d < 1) {
        return Err(CatalogError::NoDuration);
    }
    let txn = crate::db::begin(db).await?;
    let mut am = plans::ActiveModel::from(plan);
    if let Some(v) = edit.name {
        am.name = Set(v);
    }
    if let Some(v) = edit.location {
        am.location_id = Set(v);
    }
    if let Some(v) = edit.duration_days {
        am.duration_days = Set(v);
    }
    if let Some(v) = edit.traffic_bytes {
        am.traffic_bytes = Set(v.filter(|b| *b > 0));
    }
    if let Some(v) = edit.sort_order {
        am.sort_order = Set(v);
    }
    let plan = sea_orm::ActiveModelTrait::update(am, &txn).await?;
    for price in edit.prices {
        set_price_in(&txn, plan.id, price).await?;
    }
    txn.commit().await?;
    Ok(plan)
}
