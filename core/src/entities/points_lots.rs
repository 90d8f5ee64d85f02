//! The `points_lots` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "points_lots")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: crate::ids::CustomerId,
    pub transaction_id: crate::ids::TransactionId,
    pub amount: i64,
    pub remaining: i64,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
