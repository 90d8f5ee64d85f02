//! The `customers` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::CustomerId,
    #[sea_orm(unique)]
    pub telegram_id: crate::ids::TelegramId,
    pub username: Option<String>,
    pub first_name: String,
    pub language: Option<String>,
    #[sea_orm(unique)]
    pub referral_code: String,
    pub referred_by: Option<crate::ids::CustomerId>,
    pub trial_used: bool,
    pub banned: bool,
    pub blocked_bot: bool,
    pub last_seen_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
