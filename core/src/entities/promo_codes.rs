//! The `promo_codes` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::PromoCodeId,
    #[sea_orm(unique)]
    pub code: String,
    pub percent_off: Option<i32>,
    pub amount_off_minor: Option<i64>,
    pub currency: Option<crate::money::Currency>,
    pub plan_id: Option<crate::ids::PlanId>,
    pub max_uses: Option<i32>,
    pub per_customer_limit: i32,
    pub uses: i32,
    pub valid_until: Option<DateTimeUtc>,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    /// A bonus instead of a discount: days added to the plan …
    pub extra_days: Option<i32>,
    /// … or traffic added to it.
    pub extra_bytes: Option<i64>,
    /// Only in this location.
    pub location_id: Option<crate::ids::LocationId>,
    /// Only for a customer who has never bought.
    pub first_purchase_only: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
