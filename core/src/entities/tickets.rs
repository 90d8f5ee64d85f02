//! The `tickets` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::TicketId,
    pub customer_id: crate::ids::CustomerId,
    pub status: crate::tickets::TicketStatus,
    pub subject: Option<String>,
    pub updated_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The staff member answering it.
    pub taken_by: Option<crate::ids::TelegramId>,
    pub taken_at: Option<DateTimeUtc>,
    /// The first customer message not answered yet.
    pub awaiting_since: Option<DateTimeUtc>,
    /// 1–5, from the customer once it closed.
    pub rating: Option<i16>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
