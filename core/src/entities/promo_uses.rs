//! The `promo_uses` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "promo_uses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub promo_code_id: crate::ids::PromoCodeId,
    pub customer_id: crate::ids::CustomerId,
    #[sea_orm(unique)]
    pub order_id: crate::ids::OrderId,
    pub created_at: DateTimeUtc,
    /// The customer's 1st, 2nd, … use of the code; unique per code and customer.
    pub use_no: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
