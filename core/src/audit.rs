//! The audit log: who did what, for every admin action and every rejected attempt.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::entities::audit_log;
use crate::ids::TelegramId;

pub async fn record(
    db: &impl ConnectionTrait,
    actor: Option<TelegramId>,
    action: &str,
    target: Option<String>,
    details: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    audit_log::Entity::insert(audit_log::ActiveModel {
        actor_telegram_id: Set(actor),
        action: Set(action.to_string()),
        target: Set(target),
        details: Set(details),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
