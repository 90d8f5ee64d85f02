//! The `broadcast_deliveries` table: one row per recipient of a broadcast (unique).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcast_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub broadcast_id: crate::ids::BroadcastId,
    pub customer_id: crate::ids::CustomerId,
    pub status: crate::broadcasts::DeliveryStatus,
    pub telegram_message_id: Option<i64>,
    pub error: Option<String>,
    pub attempted_at: Option<DateTimeUtc>,
    pub chat_id: i64,
    pub revision: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
