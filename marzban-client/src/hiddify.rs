//! Hiddify ≥ 10, API v2: `Hiddify-API-Key` (an admin UUID), every path ending in `/`, limits
//! in GB floats (1024³ bytes) and expiry as a start date plus whole package days.
//!
//! Hiddify keys users by UUID and lets names repeat, so a replayed create must reuse the
//! same UUID: the shop's [`AccountKey`] carries it, kept on the subscription, so rotating the
//! API key orphans nothing. Accounts made before keys were kept have a UUID derived from the
//! API key and the name, and are still found that way.
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::{Account, AccountName, AccountRef, AccountStatus};
use crate::config::PanelConfig;
use crate::error::PanelError;
use crate::panel::{AccountPage, AccountSpec, Panel, PanelInfo, PanelKind};
use crate::transport::{self, Reply, retrying};

/// 1 GB as Hiddify counts it. Dividing by a power of two is exact in an f64 for every byte
/// count below 2^53, so bytes → GB → bytes comes back unchanged.
const ONE_GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Hiddify has no "unlimited": its own cap stands for it.
const UNLIMITED_GB: f64 = 1_000_000.0;
/// No "never expires" either: this many days stands for it.
const FOREVER_DAYS: i64 = 10_000;

pub struct Hiddify {
    config: PanelConfig,
    http: Client,
}

/// Hiddify's `UserSchema`, the fields the shop reads; extra fields are ignored.
#[derive(Deserialize, Clone)]
#[allow(non_snake_case)]
struct User {
    uuid: String,
    name: String,
    usage_limit_GB: Option<f64>,
    package_days: Option<i64>,
    /// `YYYY-MM-DD`; null until the package starts.
    start_date: Option<String>,
    current_usage_GB: Option<f64>,
    /// `YYYY-MM-DD HH:MM:SS`; `0001-01-01 00:00:00` for never.
    last_online: Option<String>,
    #[serde(default = "yes")]
    enable: bool,
    is_active: Option<bool>,
}

fn yes() -> bool {
    true
}

/// A create or partial update; absent fields stay as they are.
#[derive(Serialize, Default)]
#[allow(non_snake_case)]
struct UserWrite<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_limit_GB: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_usage_GB: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
}

#[derive(Deserialize)]
struct PanelVersion {
    version: String,
}

impl Hiddify {
    pub fn new(config: PanelConfig) -> Result<Self, PanelError> {
        Ok(Hiddify {
            http: transport::client(&config)?,
            config,
        })
    }

    /// The account's UUID: the key's, or for an account made before keys were kept, the one
    /// derived from the API key and the name.
    fn uuid_of(&self, account: &AccountRef) -> String {
        match &account.key {
            Some(key) => key.uuid().hyphenated().to_string(),
            None => self.derived_uuid(&account.name),
        }
    }

    /// How accounts were keyed before the shop kept keys: the same for the same name and API
    /// key, unguessable without the API key.
    fn derived_uuid(&self, name: &AccountName) -> String {
        let mut hash = Sha256::new();
        hash.update(b"vpnshop-hiddify-user\0");
        hash.update(self.config.secret.expose_secret().as_bytes());
        hash.update(b"\0");
        hash.update(name.as_str().as_bytes());
        let digest = hash.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Reply, PanelError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.config.base_url))
            .header("Hiddify-API-Key", self.config.secret.expose_secret())
            // Without it Hiddify answers errors as HTML pages.
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.map_err(transport::transport_error)?;
        let reply = Reply::read(response).await?;
        if let Some(e) = reply.server_trouble() {
            return Err(e);
        }
        // 14.x answers 401 "Unauthorized"; 10.x–12.x answered 403 "Unathorized" (sic).
        if reply.status == StatusCode::FORBIDDEN && message_of(&reply).contains("Unathorized")
            || reply.status == StatusCode::UNAUTHORIZED
        {
            return Err(PanelError::Unauthorized);
        }
        if reply.status.is_redirection() {
            return Err(PanelError::Unexpected {
                status: reply.status.as_u16(),
                excerpt: "the panel redirected the call: is the address the admin proxy path?"
                    .into(),
            });
        }
        Ok(reply)
    }

    async fn user_call(
        &self,
        method: Method,
        uuid: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Account, PanelError> {
        let reply = self
            .call(method, &format!("api/v2/admin/user/{uuid}/"), body)
            .await?;
        match reply.status {
            StatusCode::OK => self.account_of(reply.json()?),
            _ => Err(error_of(&reply)),
        }
    }

    async fn all_users(&self) -> Result<Vec<User>, PanelError> {
        let reply = self.call(Method::GET, "api/v2/admin/user/", None).await?;
        match reply.status {
            StatusCode::OK => reply.json(),
            // Hiddify's answer to an empty list.
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            _ => Err(error_of(&reply)),
        }
    }

    /// The user behind `account`: the one with the key's UUID; for an account made before
    /// keys were kept, the derived UUID or (made under an earlier API key) the one found by name.
    async fn find(&self, account: &AccountRef) -> Result<User, PanelError> {
        let uuid = self.uuid_of(account);
        let name = &account.name;
        let reply = self
            .call(Method::GET, &format!("api/v2/admin/user/{uuid}/"), None)
            .await?;
        match reply.status {
            StatusCode::OK => reply.json(),
            StatusCode::NOT_FOUND if account.key.is_some() => Err(PanelError::NotFound),
            StatusCode::NOT_FOUND => self
                .all_users()
                .await?
                .into_iter()
                .find(|u| u.name == name.as_str())
                .ok_or(PanelError::NotFound),
            _ => Err(error_of(&reply)),
        }
    }

    async fn patch(
        &self,
        account: &AccountRef,
        write: UserWrite<'_>,
    ) -> Result<Account, PanelError> {
        let body = serde_json::to_value(&write).expect("plain struct");
        retrying(self.config.retry, || async {
            let user = self.find(account).await?;
            self.user_call(Method::PATCH, &user.uuid, Some(body.clone()))
                .await
        })
        .await
    }

    fn account_of(&self, user: User) -> Result<Account, PanelError> {
        let name = AccountName::from_panel(&user.name).ok_or_else(|| PanelError::Unexpected {
            status: 200,
            excerpt: format!("`{}` is not an account name this shop makes", user.name),
        })?;
        let limit = user
            .usage_limit_GB
            .filter(|&gb| gb < UNLIMITED_GB)
            .map(gb_to_bytes);
        let used = user.current_usage_GB.map_or(0, gb_to_bytes);
        let start = user
            .start_date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let expires_at = match (start, user.package_days) {
            (Some(start), Some(days)) if days < FOREVER_DAYS => start
                .and_hms_opt(0, 0, 0)
                .map(|t| (t + TimeDelta::days(days)).and_utc()),
            _ => None,
        };
        let status = if !user.enable {
            AccountStatus::Disabled
        } else if limit.is_some_and(|l| used >= l) {
            AccountStatus::Limited
        } else if expires_at.is_some_and(|at| at <= Utc::now()) {
            AccountStatus::Expired
        } else if start.is_none() {
            AccountStatus::OnHold
        } else if user.is_active == Some(false) {
            AccountStatus::Expired
        } else {
            AccountStatus::Active
        };
        let online_at = user
            .last_online
            .as_deref()
            .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
            .filter(|t| t.and_utc().timestamp() > 0)
            .map(|t| t.and_utc());
        let subscription_url = self
            .config
            .options
            .sub_base_url
            .as_deref()
            .map(|base| format!("{}/{}/sub/", base.trim_end_matches('/'), user.uuid));
        Ok(Account {
            name,
            status,
            used_bytes: used,
            data_limit_bytes: limit,
            expires_at,
            online_at,
            subscription_url,
            links: Vec::new(),
        })
    }
}

/// Whole days from `start` that reach `expires_at` (never short of it).
fn package_days(start: NaiveDate, expires_at: Option<DateTime<Utc>>) -> i64 {
    let Some(at) = expires_at else {
        return FOREVER_DAYS;
    };
    let start = start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let secs = (at - start).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

fn gb_to_bytes(gb: f64) -> u64 {
    (gb.max(0.0) * ONE_GB).round() as u64
}

fn bytes_to_gb(bytes: Option<u64>) -> f64 {
    bytes.map_or(UNLIMITED_GB, |b| b as f64 / ONE_GB)
}

/// Hiddify's error text: `message` when asked for JSON, `msg` otherwise.
fn message_of(reply: &Reply) -> String {
    serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("msg"))
                .and_then(|m| m.as_str().map(str::to_string))
        })
        .unwrap_or_default()
}

fn error_of(reply: &Reply) -> PanelError {
    let message = message_of(reply);
    match reply.status {
        StatusCode::NOT_FOUND => PanelError::NotFound,
        StatusCode::BAD_REQUEST if message.contains("exists") => PanelError::AlreadyExists,
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY
            if !message.is_empty() =>
        {
            PanelError::Rejected { message }
        }
        _ => reply.unexpected(),
    }
}

#[async_trait]
impl Panel for Hiddify {
    fn kind(&self) -> PanelKind {
        PanelKind::Hiddify
    }

    async fn ensure_account(&self, spec: &AccountSpec) -> Result<Account, PanelError> {
        let target = spec.target();
        let uuid = self.uuid_of(&target);
        let today = Utc::now().date_naive();
        let create = UserWrite {
            uuid: Some(&uuid),
            name: Some(spec.name.as_str()),
            usage_limit_GB: Some(bytes_to_gb(spec.data_limit_bytes)),
            package_days: Some(package_days(today, spec.expires_at)),
            start_date: Some(today.format("%Y-%m-%d").to_string()),
            current_usage_GB: Some(0.0),
            enable: Some(true),
            mode: Some("no_reset"),
            comment: Some(&spec.note),
        };
        let body = serde_json::to_value(&create).expect("plain struct");
        retrying(self.config.retry, || async {
            let reply = self
                .call(Method::POST, "api/v2/admin/user/", Some(body.clone()))
                .await;
            match reply {
                Ok(reply) if reply.status == StatusCode::OK => self.account_of(reply.json()?),
                // "The user exists": an earlier try got through (Hiddify can even answer
                // 500 after creating the user). Only the shop knows the UUID, so a user with
                // it is this account.
                Ok(reply) => match error_of(&reply) {
                    PanelError::AlreadyExists => self.account(&target).await,
                    e => Err(e),
                },
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn account(&self, account: &AccountRef) -> Result<Account, PanelError> {
        retrying(self.config.retry, || async {
            self.account_of(self.find(account).await?)
        })
        .await
    }

    async fn set_expiry(
        &self,
        account: &AccountRef,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account, PanelError> {
        let user = retrying(self.config.retry, || self.find(account)).await?;
        let start = user
            .start_date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .unwrap_or_else(|| Utc::now().date_naive());
        self.patch(
            account,
            UserWrite {
                package_days: Some(package_days(start, expires_at)),
                start_date: Some(start.format("%Y-%m-%d").to_string()),
                ..Default::default()
            },
        )
        .await
    }

    async fn set_data_limit(
        &self,
        account: &AccountRef,
        limit_bytes: Option<u64>,
    ) -> Result<Account, PanelError> {
        self.patch(
            account,
            UserWrite {
                usage_limit_GB: Some(bytes_to_gb(limit_bytes)),
                ..Default::default()
            },
        )
        .await
    }

    async fn reset_usage(&self, account: &AccountRef) -> Result<Account, PanelError> {
        self.patch(
            account,
            UserWrite {
                current_usage_GB: Some(0.0),
                ..Default::default()
            },
        )
        .await
    }

    async fn set_enabled(
        &self,
        account: &AccountRef,
        enabled: bool,
    ) -> Result<Account, PanelError> {
        self.patch(
            account,
            UserWrite {
                enable: Some(enabled),
                ..Default::default()
            },
        )
        .await
    }

    async fn delete(&self, account: &AccountRef) -> Result<(), PanelError> {
        retrying(self.config.retry, || async {
            let user = match self.find(account).await {
                Err(PanelError::NotFound) => return Ok(()),
                other => other?,
            };
            let reply = self
                .call(
                    Method::DELETE,
                    &format!("api/v2/admin/user/{}/", user.uuid),
                    None,
                )
                .await?;
            match reply.status {
                StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
                _ => Err(error_of(&reply)),
            }
        })
        .await
    }

    /// Hiddify lists every user at once: this sorts them by name and cuts the page out.
    async fn list(&self, offset: u64, limit: u64) -> Result<AccountPage, PanelError> {
        let users = retrying(self.config.retry, || self.all_users()).await?;
        AccountPage::cut(
            users,
            offset,
            limit,
            |u| u.name.as_str(),
            |u| self.account_of(u.clone()),
        )
    }

    /// Hiddify's user list has no pages: one call answers with every user.
    async fn all_accounts(&self, _page: u64, _parallel: usize) -> Result<Vec<Account>, PanelError> {
        let users = retrying(self.config.retry, || self.all_users()).await?;
        users
            .into_iter()
            .filter(|u| AccountName::from_panel(&u.name).is_some())
            .map(|u| self.account_of(u))
            .collect()
    }

    async fn info(&self) -> Result<PanelInfo, PanelError> {
        retrying(self.config.retry, || async {
            let reply = self.call(Method::GET, "api/v2/panel/info/", None).await?;
            if reply.status != StatusCode::OK {
                return Err(error_of(&reply));
            }
            let version: PanelVersion = reply.json()?;
            Ok(PanelInfo {
                kind: PanelKind::Hiddify,
                version: version.version,
                // Hiddify puts every user on all of its configs.
                inbounds: vec!["all".into()],
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_survive_the_trip_through_gb_floats() {
        for bytes in [0u64, 1, 1023, 1 << 30, 5 * (1 << 30) + 7, (1 << 53) - 1] {
            let gb = bytes_to_gb(Some(bytes));
            // What Hiddify sends back is the JSON text of that float.
            let back: f64 = serde_json::from_str(&serde_json::to_string(&gb).unwrap()).unwrap();
            assert_eq!(gb_to_bytes(back), bytes);
        }
    }

    #[test]
    fn package_days_never_fall_short() {
        let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let at = |s: &str| Some(DateTime::parse_from_rfc3339(s).unwrap().to_utc());
        assert_eq!(package_days(start, at("2026-01-31T00:00:00Z")), 30);
        assert_eq!(package_days(start, at("2026-01-31T00:00:01Z")), 31);
        assert_eq!(package_days(start, None), FOREVER_DAYS);
    }
}
