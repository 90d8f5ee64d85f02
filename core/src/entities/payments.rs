//! The `payments` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::PaymentId,
    pub customer_id: crate::ids::CustomerId,
    pub order_id: Option<crate::ids::OrderId>,
    pub provider: crate::payments::Provider,
    pub provider_payment_id: Option<String>,
    pub status: crate::payments::PaymentStatus,
    pub amount_minor: i64,
    pub currency: crate::money::Currency,
    pub details: Option<String>,
    pub updated_at: DateTimeUtc,
    pub checked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
