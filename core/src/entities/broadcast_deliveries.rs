//! The `broadcast_deliveries` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcast_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub broadcast_id: i64,
    pub customer_id: i64,
    pub status: String,
    pub telegram_message_id: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
