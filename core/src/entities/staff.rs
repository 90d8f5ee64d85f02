//! The `staff` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub telegram_id: crate::ids::TelegramId,
    pub role: crate::staff::Role,
    pub added_by: Option<i64>,
    pub created_at: DateTimeUtc,
    /// Granted because the id is in `shop.admin_ids`.
    pub from_config: bool,
    /// The custom role, when `role` is `custom`.
    pub custom_role_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
