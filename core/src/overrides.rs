//! What owners and admins change from the bot while it runs, over the config file's defaults:
//! the channel customers must join before buying or taking the trial, which plan is the free
//! trial (or none), and the help text in each language. Stored in the `settings` table, so every
//! process sees the same values and they survive restarts; each change needs the `settings`
//! permission and is audited, before → after.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

use crate::audit::Entry;
use crate::catalog;
use crate::customers::Language;
use crate::entities::settings;
use crate::staff::{Access, Permission};

/// A help text is one Telegram message with the commands list under it.
pub const MAX_TEXT: usize = 3_000;

/// A setting changed from the bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Setting {
    RequiredChannel,
    TrialPlan,
    HelpText(Language),
}

impl Setting {
    fn key(self) -> String {
        match self {
            Setting::RequiredChannel => "shop.required_channel".into(),
            Setting::TrialPlan => "sales.trial_plan".into(),
            Setting::HelpText(l) => format!("texts.help.{}", l.code()),
        }
    }
}

/// A public channel, by its @username: the one customers can open from a button and join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel(String);

impl Channel {
    /// `@name`, `t.me/name` or `https://t.me/name`; Telegram usernames are 5–32 letters,
    /// digits and underscores, starting with a letter.
    pub fn parse(s: &str) -> Option<Channel> {
        let s = s.trim();
        let name = s
            .strip_prefix("https://t.me/")
            .or_else(|| s.strip_prefix("http://t.me/"))
            .or_else(|| s.strip_prefix("t.me/"))
            .or_else(|| s.strip_prefix('@'))?
            .trim_end_matches('/');
        let ok = (5..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        ok.then(|| Channel(name.to_string()))
    }

    /// `@name`, as the Bot API takes it for `chat_id`.
    pub fn handle(&self) -> String {
        format!("@{}", self.0)
    }

    /// The link that opens it.
    pub fn link(&self) -> String {
        format!("https://t.me/{}", self.0)
    }
}

/// The free trial, as the bot overrides the config's `sales.trial_plan`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trial {
    /// No trial, whatever the config says.
    Off,
    /// This plan (its code).
    Plan(String),
}

/// Every override, read in one query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub required_channel: Option<Channel>,
    /// `None`: the config decides.
    pub trial: Option<Trial>,
    help: HashMap<Language, String>,
}

impl Overrides {
    /// The trial plan's code after the override: `config` unless the bot changed it.
    pub fn trial_plan<'a>(&'a self, config: Option<&'a str>) -> Option<&'a str> {
        match &self.trial {
            None => config,
            Some(Trial::Off) => None,
            Some(Trial::Plan(code)) => Some(code),
        }
    }

    /// The seller's own help text in `lang`, if they wrote one.
    pub fn help(&self, lang: Language) -> Option<&str> {
        self.help.get(&lang).map(String::as_str)
    }
}

/// Reads every override.
pub async fn load(db: &impl ConnectionTrait) -> Result<Overrides, DbErr> {
    let rows = settings::Entity::find()
        .filter(
            settings::Column::Key
                .is_in([Setting::RequiredChannel.key(), Setting::TrialPlan.key()])
                .or(settings::Column::Key.starts_with("texts.help.")),
        )
        .all(db)
        .await?;
    let mut o = Overrides::default();
    for r in rows {
        if r.key == Setting::RequiredChannel.key() {
            o.required_channel = Channel::parse(&r.value);
        } else if r.key == Setting::TrialPlan.key() {
            o.trial = Some(match r.value.as_str() {
                "" => Trial::Off,
                code => Trial::Plan(code.to_string()),
            });
        } else if let Some(lang) = r.key.strip_prefix("texts.help.").and_then(Language::parse) {
            o.help.insert(lang, r.value);
        }
    }
    Ok(o)
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("your role may not change settings")]
    NotAllowed,
    #[error("not a public channel's @username or t.me link")]
    BadChannel,
    /// Only an enabled plan marked as a trial can be the trial.
    #[error("no enabled trial plan with the code {0}")]
    NotATrialPlan(String),
    #[error("a text is at most {MAX_TEXT} characters")]
    TooLong,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` sets the channel customers must join (`typed` as `@name` or a t.me link), or none.
/// Returns what it was and what it is now, as people read them.
pub async fn set_channel(
    db: &DatabaseConnection,
    by: &Access,
    typed: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(String, String), OverrideError> {
    let value = match typed {
        Some(t) => Some(Channel::parse(t).ok_or(OverrideError::BadChannel)?.handle()),
        None => None,
    };
    store(db, by, Setting::RequiredChannel, value, now).await
}

/// `by` picks the free trial: a plan, off, or (`None`) whatever the config says.
pub async fn set_trial(
    db: &DatabaseConnection,
    by: &Access,
    trial: Option<Trial>,
    now: DateTime<Utc>,
) -> Result<(String, String), OverrideError> {
    let value = match trial {
        None => None,
        Some(Trial::Off) => Some(String::new()),
        Some(Trial::Plan(code)) => {
            let ok = catalog::plan_by_code(db, &code)
                .await?
                .is_some_and(|p| p.enabled && p.is_trial);
            if !ok {
                return Err(OverrideError::NotATrialPlan(code));
            }
            Some(code)
        }
    };
    store(db, by, Setting::TrialPlan, value, now).await
}

/// `by` writes the help text in `lang`; an empty text brings the built-in one back.
pub async fn set_help(
    db: &DatabaseConnection,
    by: &Access,
    lang: Language,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(String, String), OverrideError> {
    let text = text.trim();
    if text.chars().count() > MAX_TEXT {
        return Err(OverrideError::TooLong);
    }
    let value = (!text.is_empty()).then(|| text.to_string());
    store(db, by, Setting::HelpText(lang), value, now).await
}

/// Stores (or, with `None`, removes) one setting, audited, before → after.
async fn store(
    db: &DatabaseConnection,
    by: &Access,
    setting: Setting,
    value: Option<String>,
    now: DateTime<Utc>,
) -> Result<(String, String), OverrideError> {
    if !by.may(Permission::Settings) {
        return Err(OverrideError::NotAllowed);
    }
    let key = setting.key();
    let txn = crate::db::begin(db).await?;
    let before = settings::Entity::find_by_id(key.clone())
        .one(&txn)
        .await?
        .map(|r| r.value);
    match &value {
        Some(v) => {
            settings::Entity::insert(settings::ActiveModel {
                key: Set(key.clone()),
                value: Set(v.clone()),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::column(settings::Column::Key)
                    .update_columns([settings::Column::Value, settings::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        None => {
            settings::Entity::delete_by_id(key.clone())
                .exec(&txn)
                .await?;
        }
    }
    let shown = |v: &Option<String>| match (setting, v) {
        (_, None) => "default".to_string(),
        (Setting::TrialPlan, Some(v)) if v.is_empty() => "off".to_string(),
        (Setting::HelpText(_), Some(v)) => format!("{} characters", v.chars().count()),
        (_, Some(v)) => v.clone(),
    };
    let (was, now_is) = (shown(&before), shown(&value));
    Entry::new(Some(by.who), &format!("settings.{}", key_tail(&key)))
        .target(key.clone())
        .change(was.clone(), now_is.clone())
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok((was, now_is))
}

/// `shop.required_channel` → `required_channel`: the audit action names the setting.
fn key_tail(key: &str) -> &str {
    key.split_once('.').map_or(key, |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_is_a_public_username_however_it_is_pasted() {
        for typed in [
            "@vpn_news",
            "vpn_news",
            "t.me/vpn_news",
            "https://t.me/vpn_news/",
        ] {
            let parsed = Channel::parse(typed);
            if typed == "vpn_news" {
                assert_eq!(parsed, None, "a bare word is not taken for a channel");
            } else {
                assert_eq!(
                    parsed.map(|c| c.handle()),
                    Some("@vpn_news".into()),
                    "{typed}"
                );
            }
        }
        for bad in ["@ab", "@1abcde", "@vpn-news", "https://example.com/x", ""] {
            assert_eq!(Channel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_bot_overrides_the_configured_trial_only_when_told_to() {
        let mut o = Overrides::default();
        assert_eq!(o.trial_plan(Some("trial")), Some("trial"));
        o.trial = Some(Trial::Off);
        assert_eq!(o.trial_plan(Some("trial")), None);
        o.trial = Some(Trial::Plan("trial7".into()));
        assert_eq!(o.trial_plan(None), Some("trial7"));
    }
}
