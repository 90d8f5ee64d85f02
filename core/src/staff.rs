//! Staff and their roles. Authority is always looked up here on the server, never read from a
//! button: a callback only names an action and an id.
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::staff;
use crate::ids::TelegramId;

/// What a staff member may do. Each role includes the ones below it where that makes sense:
/// an owner may do everything, an admin everything but manage owners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Answers tickets.
    Support,
    /// Approves receipts and adjusts balances.
    Finance,
    /// Runs the shop: plans, panels, promo codes, broadcasts.
    Admin,
    /// Everything, including adding and removing staff.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Finance => "finance",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Whether someone with this role may act with `needed`'s authority. Support and finance are
    /// separate duties; admin and owner cover both.
    pub fn allows(self, needed: Role) -> bool {
        match needed {
            Role::Support | Role::Finance => self == needed || self >= Role::Admin,
            Role::Admin | Role::Owner => self >= needed,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (one of: owner, admin, finance, support)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "support" => Ok(Role::Support),
            "finance" => Ok(Role::Finance),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(UnknownRole(s.to_string())),
        }
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
        telegram_id: Set(telegram_id.get()),
        role: Set(role.as_str().to_string()),
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
        .filter(staff::Column::TelegramId.eq(telegram_id.get()))
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
        .filter(staff::Column::TelegramId.eq(telegram_id.get()))
        .one(db)
        .await?
        .and_then(|s| s.role.parse().ok()))
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<(TelegramId, Role)>, DbErr> {
    Ok(staff::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .filter_map(|s| Some((TelegramId::new(s.telegram_id), s.role.parse().ok()?)))
        .collect())
}
