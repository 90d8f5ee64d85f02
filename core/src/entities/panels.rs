//! The `panels` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "panels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub username: Option<String>,
    pub secret: String,
    pub proxy_url: Option<String>,
    pub options: String,
    pub location_id: i64,
    pub capacity: Option<i32>,
    pub enabled: bool,
    pub healthy: bool,
    pub checked_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
