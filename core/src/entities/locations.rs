//! The `locations` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "locations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::LocationId,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    pub flag: String,
    pub sort_order: i32,
    pub enabled: bool,
    pub placement: crate::panels::Placement,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
