//! The `cards` table: bank cards customers pay to by card-to-card transfer.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cards")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::CardId,
    pub number: String,
    pub holder: String,
    pub bank: String,
    pub enabled: bool,
    pub times_shown: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
