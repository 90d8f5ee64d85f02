//! The `ledger_accounts` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::AccountId,
    #[sea_orm(unique)]
    pub code: String,
    pub kind: crate::ledger::AccountKind,
    pub customer_id: Option<crate::ids::CustomerId>,
    pub currency: String,
    pub allow_negative: bool,
    pub balance_minor: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
