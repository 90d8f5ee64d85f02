//! The `plans` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plans")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::PlanId,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub location_id: Option<crate::ids::LocationId>,
    pub duration_days: i32,
    pub traffic_bytes: Option<i64>,
    pub is_trial: bool,
    pub sort_order: i32,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
