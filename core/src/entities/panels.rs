//! The `panels` table.
use sea_orm::entity::prelude::*;

/// `Debug` is written by hand below: the secret, the proxy (which may carry credentials) and the
/// address (Hiddify's carries its secret admin path) are never printed.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "panels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ids::PanelId,
    #[sea_orm(unique)]
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub username: Option<String>,
    pub secret: String,
    pub proxy_url: Option<String>,
    pub options: String,
    pub location_id: crate::ids::LocationId,
    pub capacity: Option<i32>,
    pub enabled: bool,
    pub healthy: bool,
    pub checked_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    /// What the panel said it runs at its last check.
    pub version: Option<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Panel")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &"…")
            .field("username", &self.username)
            .field("secret", &"…")
            .field("proxy_url", &self.proxy_url.as_ref().map(|_| "…"))
            .field("location_id", &self.location_id)
            .field("capacity", &self.capacity)
            .field("enabled", &self.enabled)
            .field("healthy", &self.healthy)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
