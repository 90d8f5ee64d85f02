//! The `ticket_messages` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: crate::ids::TicketId,
    pub author: crate::tickets::Author,
    pub author_telegram_id: crate::ids::TelegramId,
    pub body: Option<String>,
    pub photo_file_id: Option<String>,
    pub staff_chat_message_id: Option<i64>,
    pub staff_chat_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
