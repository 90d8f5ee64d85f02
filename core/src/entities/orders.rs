//! The `orders` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::OrderId,
    pub customer_id: crate::ids::CustomerId,
    pub kind: crate::orders::OrderKind,
    pub status: crate::orders::OrderStatus,
    pub plan_id: Option<crate::ids::PlanId>,
    pub subscription_id: Option<crate::ids::SubscriptionId>,
    pub location_id: Option<crate::ids::LocationId>,
    pub duration_days: i32,
    pub traffic_bytes: Option<i64>,
    pub currency: crate::money::Currency,
    pub list_price_minor: i64,
    pub discount_minor: i64,
    pub points_used: i64,
    pub points_value_minor: i64,
    pub total_minor: i64,
    pub wallet_paid_minor: i64,
    pub promo_code_id: Option<crate::ids::PromoCodeId>,
    pub expires_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub fulfilled_at: Option<DateTimeUtc>,
    pub failure: Option<String>,
    pub created_at: DateTimeUtc,
    pub target_set: bool,
    pub target_expires_at: Option<DateTimeUtc>,
    pub target_limit_bytes: Option<i64>,
    pub auto_renew_key: Option<String>,
    pub moved_from: Option<crate::ids::SubscriptionId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
