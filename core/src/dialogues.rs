//! Where a chat is in a conversation, kept in the database so a restart or a second replica
//! continues it. The state is opaque text (the bot's serialized dialogue enum).
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::entities::dialogue_state;

pub async fn load(db: &impl ConnectionTrait, chat_id: i64) -> Result<Option<String>, DbErr> {
    Ok(dialogue_state::Entity::find_by_id(chat_id)
        .one(db)
        .await?
        .map(|d| d.state))
}

pub async fn save(
    db: &impl ConnectionTrait,
    chat_id: i64,
    state: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    dialogue_state::Entity::insert(dialogue_state::ActiveModel {
        chat_id: Set(chat_id),
        state: Set(state),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(dialogue_state::Column::ChatId)
            .update_columns([
                dialogue_state::Column::State,
                dialogue_state::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Forgets the chat's dialogue. Returns whether there was one.
pub async fn remove(db: &impl ConnectionTrait, chat_id: i64) -> Result<bool, DbErr> {
    Ok(dialogue_state::Entity::delete_by_id(chat_id)
        .exec(db)
        .await?
        .rows_affected
        > 0)
}
