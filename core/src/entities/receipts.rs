//! The `receipts` table: a card-to-card receipt photo and its review by staff.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "receipts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::ReceiptId,
    pub payment_id: crate::ids::PaymentId,
    pub customer_id: crate::ids::CustomerId,
    pub card_id: Option<crate::ids::CardId>,
    pub file_id: String,
    pub file_unique_id: String,
    pub duplicate_of: Option<crate::ids::ReceiptId>,
    pub status: crate::payments::card::ReceiptStatus,
    pub first_approver: Option<i64>,
    pub decided_by: Option<i64>,
    pub claimed_by: Option<i64>,
    pub reason: Option<String>,
    pub staff_message_id: Option<i64>,
    pub staff_chat_id: Option<i64>,
    pub reminded_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
