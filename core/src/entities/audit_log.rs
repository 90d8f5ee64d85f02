//! The `audit_log` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub actor_telegram_id: Option<crate::ids::TelegramId>,
    pub action: String,
    pub target: Option<String>,
    pub details: String,
    pub created_at: DateTimeUtc,
    /// What the action changed, as people read it (`20,000 IRT` → `70,000 IRT`).
    pub before: Option<String>,
    pub after: Option<String>,
    /// The customer the action concerned, if one.
    pub customer_id: Option<crate::ids::CustomerId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
