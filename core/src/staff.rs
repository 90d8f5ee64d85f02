//! Staff and their roles. Authority is always looked up here on the server, never read from a
//! button: a callback only names an action and an id.
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::staff;
use crate::ids::TelegramId;

text_column! {
    /// What a staff member may do. Each role includes the ones below it where that makes sense:
    /// an owner may do everything, an admin everything but manage owners. The `staff.role`
    /// column is this type.
    #[derive(PartialOrd, Ord)]
    pub enum Role {
        /// Answers tickets.
        Support = "support",
        /// Approves receipts and adjusts balances.
        Finance = "finance",
        /// Runs the shop: plans, panels, promo codes, broadcasts.
        Admin = "admin",
        /// Everything, including adding and removing staff.
        Owner = "owner",
    }
}

impl Role {
    /// Whether someone with this role may act with `needed`'s authority. Support and finance are
    /// separate duties; admin and owner cover both.
    pub fn allows(self, needed: Role) -> bool {
        match needed {
            Role::Support | Role::Finance => self == needed || self >= Role::Admin,
            Role::Admin | Role::Owner => self >= needed,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (one of: owner, admin, finance, support)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(&s.trim().to_ascii_lowercase()).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Adds a staff member or changes their role.
pub async fn grant(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
    role: Role,
    added_by: Option<TelegramId>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    staff::Entity::insert(staff::ActiveModel {
        telegram_id: Set(telegram_id),
        role: Set(role),
        added_by: Set(added_by.map(TelegramId::get)),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(staff::Column::TelegramId)
            .update_column(staff::Column::Role)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn revoke(db: &impl ConnectionTrait, telegram_id: TelegramId) -> Result<bool, DbErr> {
    let r = staff::Entity::delete_many()
        .filter(staff::Column::TelegramId.eq(telegram_id))
        .exec(db)
        .await?;
    Ok(r.rows_affected > 0)
}

/// The role this person holds, if any.
pub async fn role_of(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
) -> Result<Option<Role>, DbErr> {
    Ok(staff::Entity::find()
        .filter(staff::Column::TelegramId.eq(telegram_id))
        .one(db)
        .await?
        .map(|s| s.role))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<(TelegramId, Role)>, DbErr> {
    Ok(staff::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.telegram_id, s.role))
        .collect())
}
