//! The `broadcasts` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::BroadcastId,
    pub created_by: crate::ids::TelegramId,
    /// The text (or the photo's caption), in Telegram's HTML.
    pub body: String,
    /// Who it goes to, as JSON ([`crate::broadcasts::Audience`]).
    pub audience: String,
    pub status: crate::broadcasts::BroadcastStatus,
    pub total: i32,
    pub sent: i32,
    pub failed: i32,
    pub finished_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// A photo's Telegram file id.
    pub photo: Option<String>,
    /// The buttons under it, as JSON ([`crate::broadcasts::Extra`]).
    pub buttons: String,
    pub progress_chat: Option<i64>,
    pub progress_message: Option<i64>,
    pub revision: i32,
    pub started_at: Option<DateTimeUtc>,
    /// The draft it was made from: one broadcast per draft.
    pub draft_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
