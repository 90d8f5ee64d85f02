//! Maintenance mode: while it is on, customers are told the shop is being worked on and can
//! still see their subscriptions; staff keep working. A switch in the `settings` table, so it
//! holds for every process and survives restarts; turned on and off from the bot (`/maintenance`)
//! by roles with the `settings` permission, audited.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};

use crate::audit::Entry;
use crate::entities::settings;
use crate::staff::{Access, Permission};

const KEY: &str = "shop.maintenance";

/// Whether maintenance mode is on.
pub async fn is_on(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(settings::Entity::find_by_id(KEY)
        .one(db)
        .await?
        .is_some_and(|r| r.value == "on"))
}

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("your role may not change settings")]
    NotAllowed,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` turns maintenance mode on or off.
pub async fn set(
    db: &DatabaseConnection,
    by: &Access,
    on: bool,
    now: DateTime<Utc>,
) -> Result<(), MaintenanceError> {
    if !by.may(Permission::Settings) {
        return Err(MaintenanceError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let before = is_on(&txn).await?;
    let value = if on { "on" } else { "off" };
    settings::Entity::insert(settings::ActiveModel {
        key: Set(KEY.to_string()),
        value: Set(value.to_string()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .update_columns([settings::Column::Value, settings::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    Entry::new(Some(by.who), "settings.maintenance")
        .target(KEY)
        .change(if before { "on" } else { "off" }, value)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
