//! The `ledger_transactions` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_transactions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::TransactionId,
    pub kind: crate::ledger::TxKind,
    #[sea_orm(unique)]
    pub idempotency_key: Option<String>,
    pub order_id: Option<crate::ids::OrderId>,
    pub payment_id: Option<crate::ids::PaymentId>,
    #[sea_orm(unique)]
    pub reverses_id: Option<crate::ids::TransactionId>,
    pub actor_telegram_id: Option<crate::ids::TelegramId>,
    pub memo: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
