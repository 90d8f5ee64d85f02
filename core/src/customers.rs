//! Customers: registered on first contact, with their language and who referred them.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};

use crate::entities::customers;
use crate::ids::{CustomerId, TelegramId};

pub use customers::Model as Customer;

/// The languages the bot speaks. Persian first: it is the primary audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    Fa,
    En,
    Ru,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Fa, Language::En, Language::Ru];

    pub fn code(self) -> &'static str {
        match self {
            Language::Fa => "fa",
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Language::ALL.into_iter().find(|l| l.code() == code.trim())
    }
}

/// What Telegram tells us about a person on each update.
#[derive(Clone, Debug)]
pub struct Contact {
    pub telegram_id: TelegramId,
    pub username: Option<String>,
    pub first_name: String,
}

/// The outcome of a first (or later) contact.
#[derive(Clone, Debug)]
pub struct Registration {
    pub customer: Customer,
    /// True only on the very first contact.
    pub is_new: bool,
}

/// How stale `last_seen_at` may get before an update writes it again: "seen today" and "active
/// this week" need no finer grain, and a button press that only reads then writes nothing.
pub const LAST_SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(10);

/// Registers the person on first contact, or refreshes their name on later ones. Idempotent:
/// two `/start`s racing create one customer. `referral_code` (from a `/start ref_<code>` link)
/// is honoured only on the first contact and never for oneself.
pub async fn register(
    db: &impl ConnectionTrait,
    contact: &Contact,
    referral_code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Registration, DbErr> {
    if let Some(existing) = by_telegram_id(db, contact.telegram_id).await? {
        let renamed =
            existing.username != contact.username || existing.first_name != contact.first_name;
        // Most updates are a known customer pressing a button: they write nothing.
        if !renamed && !existing.blocked_bot && now - existing.last_seen_at < LAST_SEEN_EVERY {
            return Ok(Registration {
                customer: existing,
                is_new: false,
            });
        }
        let mut am: customers::ActiveModel = existing.clone().into();
        if existing.username != contact.username || existing.first_name != contact.first_name {
            am.username = Set(contact.username.clone());
            am.first_name = Set(contact.first_name.clone());
        }
        am.last_seen_at = Set(now);
        am.blocked_bot = Set(false);
        let customer = customers::Entity::update(am).exec(db).await?;
        return Ok(Registration {
            customer,
            is_new: false,
        });
    }
    let referrer = match referral_code {
        Some(code) => by_referral_code(db, code).await?,
        None => None,
    };
    let inserted = customers::Entity::insert(customers::ActiveModel {
        telegram_id: Set(contact.telegram_id),
        username: Set(contact.username.clone()),
        first_name: Set(contact.first_name.clone()),
        language: Set(None),
        referral_code: Set(new_referral_code()),
        referred_by: Set(referrer.map(|r| r.id)),
        trial_used: Set(false),
        banned: Set(false),
        blocked_bot: Set(false),
        last_seen_at: Set(now),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(customers::Column::TelegramId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let customer = by_telegram_id(db, contact.telegram_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("customer {}", contact.telegram_id)))?;
    Ok(Registration {
        customer,
        is_new: inserted == 1,
    })
}

/// A short code for `/start ref_<code>` links: lowercase letters and digits, unguessable enough
/// that nobody can enumerate other customers' links.
fn new_referral_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    uuid::Uuid::new_v4().as_bytes()[..10]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

pub async fn by_telegram_id(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
) -> Result<Option<Customer>, DbErr> {
    customers::Entity::find()
        .filter(customers::Column::TelegramId.eq(telegram_id))
        .one(db)
        .await
}

/// The customer with this @username (case-insensitive, with or without the `@`), if one has
/// talked to the bot.
pub async fn by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<Customer>, DbErr> {
    let name = username.trim().trim_start_matches('@');
    if name.is_empty() {
        return Ok(None);
    }
    customers::Entity::find()
        .filter(sea_orm::sea_query::ExprTrait::eq(
            sea_orm::sea_query::Func::lower(sea_orm::sea_query::Expr::col(
                customers::Column::Username,
            )),
            name.to_lowercase(),
        ))
        .one(db)
        .await
}

pub async fn by_id(db: &impl ConnectionTrait, id: CustomerId) -> Result<Option<Customer>, DbErr> {
    customers::Entity::find_by_id(id).one(db).await
}

/// Whether `customer` is the Telegram user `who`: how staff are kept from deciding their own
/// payments.
pub async fn is_telegram_user(
    db: &impl ConnectionTrait,
    customer: CustomerId,
    who: TelegramId,
) -> Result<bool, DbErr> {
    Ok(by_id(db, customer)
        .await?
        .is_some_and(|c| c.telegram_id == who))
}

pub async fn by_referral_code(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<Customer>, DbErr> {
    customers::Entity::find()
        .filter(customers::Column::ReferralCode.eq(code.trim().to_ascii_lowercase()))
        .one(db)
        .await
}

/// Remembers the customer's language; every text they get from now on is in it.
pub async fn set_language(
    db: &impl ConnectionTrait,
    telegram_id: TelegramId,
    language: Language,
) -> Result<(), DbErr> {
    customers::Entity::update_many()
        .col_expr(customers::Column::Language, language.code().into())
        .filter(customers::Column::TelegramId.eq(telegram_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks that the customer blocked the bot, so nobody retries messages to them forever.
pub async fn mark_blocked(db: &impl ConnectionTrait, telegram_id: TelegramId) -> Result<(), DbErr> {
    customers::Entity::update_many()
        .col_expr(customers::Column::BlockedBot, true.into())
        .filter(customers::Column::TelegramId.eq(telegram_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many customers joined through this customer's link.
pub async fn referred_count(db: &impl ConnectionTrait, referrer: CustomerId) -> Result<u64, DbErr> {
    customers::Entity::find()
        .filter(customers::Column::ReferredBy.eq(referrer))
        .count(db)
        .await
}

impl customers::Model {
    pub fn customer_id(&self) -> CustomerId {
        self.id
    }

    pub fn telegram(&self) -> TelegramId {
        self.telegram_id
    }

    /// The chosen language, or `None` before the customer picked one.
    pub fn lang(&self) -> Option<Language> {
        self.language.as_deref().and_then(Language::parse)
    }
}
