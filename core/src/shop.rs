//! The shop's own identity: a short random id made once per database and kept in `settings`.
//! It goes into every panel account name and every key an outside service remembers (YooKassa's
//! `Idempotence-Key`), so a second shop on the same panel or gateway account, or a fresh
//! database of this one, never reuses names and keys the first one made: ids restart at 1 in a
//! new database, this does not repeat.
use std::fmt;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::entities::settings;

const KEY: &str = "shop.identity";

/// Five lowercase letters and digits (36⁵ ≈ 60 million): short enough for account names,
/// which panels cap at 32 characters, and unlikely to repeat between shops on one panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopId(String);

impl ShopId {
    pub const LEN: usize = 5;

    fn generate() -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let bytes = uuid::Uuid::new_v4().into_bytes();
        ShopId(
            bytes
                .iter()
                .take(Self::LEN)
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect(),
        )
    }

    fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| ShopId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What account names start with: the seller's prefix, then this shop's id.
    pub fn account_tag(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.0)
    }
}

impl fmt::Display for ShopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// This database's shop id, made on first use. Two processes asking at once get the same one:
/// the first insert wins and both read it back.
pub async fn identity(db: &impl ConnectionTrait) -> Result<ShopId, DbErr> {
    if let Some(id) = stored(db).await? {
        return Ok(id);
    }
    settings::Entity::insert(settings::ActiveModel {
        key: Set(KEY.to_string()),
        value: Set(ShopId::generate().0),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    stored(db)
        .await?
        .ok_or_else(|| DbErr::Custom("the shop identity could not be stored".into()))
}

async fn stored(db: &impl ConnectionTrait) -> Result<Option<ShopId>, DbErr> {
    let row = settings::Entity::find_by_id(KEY).one(db).await?;
    match row {
        None => Ok(None),
        Some(row) => ShopId::parse(&row.value).map(Some).ok_or_else(|| {
            DbErr::Custom(format!(
                "settings `{KEY}` holds `{}`, not a shop identity",
                row.value
            ))
        }),
    }
}
