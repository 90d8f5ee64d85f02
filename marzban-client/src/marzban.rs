//! Marzban 0.8.x: form login to a bearer token (refreshed before it expires and on any 401),
//! users keyed by username, bytes and unix seconds with 0 meaning unlimited.
use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::account::{Account, AccountKey, AccountName, AccountRef, AccountStatus};
use crate::config::PanelConfig;
use crate::error::PanelError;
use crate::panel::{AccountPage, AccountSpec, Panel, PanelInfo, PanelKind};
use crate::transport::{self, Reply, retrying};

pub struct Marzban {
    config: PanelConfig,
    http: Client,
    session: Mutex<Option<Session>>,
}

/// A bearer token and when it stops working, read from its own `exp` claim.
struct Session {
    token: SecretString,
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /api/admin/token` answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// Marzban's `UserCreate`, only the fields the shop sets.
#[derive(Serialize)]
struct UserCreate<'a> {
    username: &'a str,
    proxies: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Unix seconds; 0 = never.
    expire: i64,
    /// Bytes; 0 = unlimited.
    data_limit: u64,
    data_limit_reset_strategy: &'static str,
    status: &'static str,
    note: &'a str,
}

/// Marzban's `UserModify`: absent fields are left as they are.
#[derive(Serialize, Default)]
struct UserModify {
    #[serde(skip_serializing_if = "Option::is_none")]
    expire: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
}

/// Marzban's `UserResponse`; extra fields are ignored.
#[derive(Deserialize)]
struct UserResponse {
    username: String,
    status: String,
    #[serde(default)]
    used_traffic: u64,
    data_limit: Option<u64>,
    expire: Option<i64>,
    online_at: Option<String>,
    #[serde(default)]
    subscription_url: String,
    #[serde(default)]
    links: Vec<String>,
    /// Per protocol, the settings Marzban keeps: `id` (vless, vmess) or `password`.
    #[serde(default)]
    proxies: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl UserResponse {
    /// Whether the user carries `key`: the id or password the shop gave it when it made it.
    fn carries(&self, key: &AccountKey) -> bool {
        let (id, password) = (key.uuid().to_string(), key.password());
        self.proxies.values().any(|settings| {
            settings.get("id").and_then(|v| v.as_str()) == Some(id.as_str())
                || settings.get("password").and_then(|v| v.as_str()) == Some(password.as_str())
        })
    }
}

#[derive(Deserialize)]
struct UsersResponse {
    users: Vec<UserResponse>,
    total: u64,
}

#[derive(Deserialize)]
struct SystemStats {
    version: String,
}

#[derive(Deserialize)]
struct ProxyInbound {
    tag: String,
}

impl Marzban {
    pub fn new(config: PanelConfig) -> Result<Self, PanelError> {
        Ok(Marzban {
            http: transport::client(&config)?,
            config,
            session: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url, path)
    }

    async fn login(&self) -> Result<Session, PanelError> {
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.config.secret.expose_secret()),
            ("grant_type", "password"),
        ];
        let response = self
            .http
            .post(self.url("api/admin/token"))
            .form(&form)
            .send()
            .await
            .map_err(transport::transport_error)?;
        let reply = Reply::read(response).await?;
        if let Some(e) = reply.server_trouble() {
            return Err(e);
        }
        match reply.status {
            StatusCode::OK => {
                // Never excerpt this body: it holds the token.
                let token: TokenResponse =
                    serde_json::from_str(&reply.body).map_err(|_| PanelError::Unexpected {
                        status: 200,
                        excerpt: "the token answer has no access_token".into(),
                    })?;
                let expires_at = jwt_expiry(&token.access_token);
                Ok(Session {
                    token: SecretString::from(token.access_token),
                    expires_at,
                })
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PanelError::Unauthorized),
            _ => Err(reply.unexpected()),
        }
    }

    /// A token that will still be good for a minute, logging in when there is none.
    async fn token(&self, refresh: bool) -> Result<SecretString, PanelError> {
        let mut session = self.session.lock().await;
        let stale = match session.as_ref() {
            None => true,
            Some(s) => {
                refresh
                    || s.expires_at
                        .is_some_and(|at| at - TimeDelta::seconds(60) <= Utc::now())
            }
        };
        if stale {
            *session = Some(self.login().await?);
        }
        Ok(session.as_ref().expect("just set").token.clone())
    }

    /// Sends one call with the token; on 401 logs in again once and resends.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Reply, PanelError> {
        let build = |token: &SecretString| -> RequestBuilder {
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(token.expose_secret())
                .header("accept", "application/json");
            if let Some(body) = &body {
                req = req.json(body);
            }
            req
        };
        let token = self.token(false).await?;
        let mut reply = send(build(&token)).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            let token = self.token(true).await?;
            reply = send(build(&token)).await?;
            if reply.status == StatusCode::UNAUTHORIZED {
                return Err(PanelError::Unauthorized);
            }
        }
        if let Some(e) = reply.server_trouble() {
            return Err(e);
        }
        Ok(reply)
    }

    async fn user_call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Account, PanelError> {
        let reply = self.call(method, path, body).await?;
        match reply.status {
            StatusCode::OK => self.account_of(reply.json()?),
            _ => Err(error_of(&reply)),
        }
    }

    fn account_of(&self, user: UserResponse) -> Result<Account, PanelError> {
        let name =
            AccountName::from_panel(&user.username).ok_or_else(|| PanelError::Unexpected {
                status: 200,
                excerpt: format!("`{}` is not an account name this shop makes", user.username),
            })?;
        let status = match user.status.as_str() {
            "active" => AccountStatus::Active,
            "disabled" => AccountStatus::Disabled,
            "limited" => AccountStatus::Limited,
            "expired" => AccountStatus::Expired,
            "on_hold" => AccountStatus::OnHold,
            other => {
                return Err(PanelError::Unexpected {
                    status: 200,
                    excerpt: format!("unknown user status `{other}`"),
                });
            }
        };
        Ok(Account {
            name,
            status,
            used_bytes: user.used_traffic,
            data_limit_bytes: user.data_limit.filter(|&l| l > 0),
            expires_at: user
                .expire
                .filter(|&e| e > 0)
                .and_then(|e| DateTime::from_timestamp(e, 0)),
            online_at: user.online_at.as_deref().and_then(naive_utc),
            subscription_url: self.absolute(&user.subscription_url),
            links: user.links,
        })
    }

    /// Marzban gives `/sub/<token>` unless its operator set a prefix: join it with the
    /// subscription domain or the panel's own address.
    fn absolute(&self, url: &str) -> Option<String> {
        if url.is_empty() {
            return None;
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Some(url.to_string());
        }
        let base = self
            .config
            .options
            .sub_base_url
            .as_deref()
            .and_then(|s| url::Url::parse(s).ok())
            .unwrap_or_else(|| self.config.base_url.clone());
        base.join(url).ok().map(String::from)
    }

    /// One empty settings object per protocol the panel has inbounds for, so the new user
    /// gets every protocol and all its inbounds, as the dashboard does.
    async fn protocols(
        &self,
    ) -> Result<BTreeMap<String, serde_json::Map<String, serde_json::Value>>, PanelError> {
        let reply = self.call(Method::GET, "api/inbounds", None).await?;
        if reply.status != StatusCode::OK {
            return Err(error_of(&reply));
        }
        let inbounds: BTreeMap<String, Vec<ProxyInbound>> = reply.json()?;
        let protocols: BTreeMap<_, _> = inbounds
            .into_iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(protocol, _)| (protocol, serde_json::Map::new()))
            .collect();
        if protocols.is_empty() {
            return Err(PanelError::Rejected {
                message: "the panel has no inbounds to put accounts on".into(),
            });
        }
        Ok(protocols)
    }

    async fn modify(
        &self,
        account: &AccountRef,
        change: UserModify,
    ) -> Result<Account, PanelError> {
        let body = serde_json::to_value(&change).expect("plain struct");
        let path = format!("api/user/{}", account.name);
        retrying(self.config.retry, || async {
            self.check_ours(account).await?;
            self.user_call(Method::PUT, &path, Some(body.clone())).await
        })
        .await
    }

    /// The user behind `account` as the panel has it.
    async fn user(&self, account: &AccountRef) -> Result<UserResponse, PanelError> {
        let reply = self
            .call(Method::GET, &format!("api/user/{}", account.name), None)
            .await?;
        match reply.status {
            StatusCode::OK => reply.json(),
            _ => Err(error_of(&reply)),
        }
    }

    /// Marzban keys users by name alone, so before changing one the shop checks that it carries
    /// the shop's key (accounts made before keys were kept have none to check).
    async fn check_ours(&self, account: &AccountRef) -> Result<(), PanelError> {
        match &account.key {
            Some(key) if !self.user(account).await?.carries(key) => Err(PanelError::NotOurs),
            _ => Ok(()),
        }
    }
}

async fn send(req: RequestBuilder) -> Result<Reply, PanelError> {
    let response = req.send().await.map_err(transport::transport_error)?;
    Reply::read(response).await
}

/// The error a non-success Marzban answer means.
fn error_of(reply: &Reply) -> PanelError {
    let detail = detail_text(&reply.body);
    match reply.status {
        StatusCode::NOT_FOUND if detail.as_deref() == Some("User not found") => {
            PanelError::NotFound
        }
        StatusCode::CONFLICT => PanelError::AlreadyExists,
        StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN | StatusCode::UNPROCESSABLE_ENTITY => {
            match detail {
                Some(message) => PanelError::Rejected { message },
                None => reply.unexpected(),
            }
        }
        _ => reply.unexpected(),
    }
}

/// `detail` as one line: Marzban sends a string, a `{field: message}` map (its own 422
/// handler), or FastAPI's stock list.
fn detail_text(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    match value.get("detail")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(map) => Some(
            map.iter()
                .map(|(field, msg)| format!("{field}: {}", msg.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.get("msg").and_then(|m| m.as_str()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// Marzban writes naive UTC datetimes (`2024-01-02T03:04:05.123456`).
fn naive_utc(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.to_utc()))
}

/// The `exp` claim of a JWT, read without checking the signature (the panel checks it).
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

#[async_trait]
impl Panel for Marzban {
    fn kind(&self) -> PanelKind {
        PanelKind::Marzban
    }

    async fn ensure_account(&self, spec: &AccountSpec) -> Result<Account, PanelError> {
        let mut proxies = retrying(self.config.retry, || self.protocols()).await?;
        // The shop's own credentials, so the user proves later that the shop made it.
        for (protocol, settings) in &mut proxies {
            let (field, value) = match protocol.as_str() {
                "vless" | "vmess" => ("id", spec.key.uuid().to_string()),
                _ => ("password", spec.key.password()),
            };
            settings.insert(field.into(), value.into());
        }
        let create = UserCreate {
            username: spec.name.as_str(),
            proxies,
            expire: spec.expires_at.map_or(0, |t| t.timestamp()),
            data_limit: spec.data_limit_bytes.unwrap_or(0),
            data_limit_reset_strategy: "no_reset",
            status: "active",
            note: &spec.note,
        };
        let body = serde_json::to_value(&create).expect("plain struct");
        retrying(self.config.retry, || async {
            match self
                .user_call(Method::POST, "api/user", Some(body.clone()))
                .await
            {
                // An earlier try (or a replay) made it: create-or-get — but only a user
                // carrying the shop's key is this account.
                Err(PanelError::AlreadyExists) => {
                    let user = self.user(&spec.target()).await?;
                    if user.carries(&spec.key) {
                        self.account_of(user)
                    } else {
                        Err(PanelError::NotOurs)
                    }
                }
                other => other,
            }
        })
        .await
    }

    async fn account(&self, account: &AccountRef) -> Result<Account, PanelError> {
        retrying(self.config.retry, || async {
            let user = self.user(account).await?;
            match &account.key {
                Some(key) if !user.carries(key) => Err(PanelError::NotOurs),
                _ => self.account_of(user),
            }
        })
        .await
    }

    async fn set_expiry(
        &self,
        account: &AccountRef,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account, PanelError> {
        let change = UserModify {
            expire: Some(expires_at.map_or(0, |t| t.timestamp())),
            ..Default::default()
        };
        self.modify(account, change).await
    }

    async fn set_data_limit(
        &self,
        account: &AccountRef,
        limit_bytes: Option<u64>,
    ) -> Result<Account, PanelError> {
        let change = UserModify {
            data_limit: Some(limit_bytes.unwrap_or(0)),
            ..Default::default()
        };
        self.modify(account, change).await
    }

    async fn reset_usage(&self, account: &AccountRef) -> Result<Account, PanelError> {
        let path = format!("api/user/{}/reset", account.name);
        retrying(self.config.retry, || async {
            self.check_ours(account).await?;
            self.user_call(Method::POST, &path, None).await
        })
        .await
    }

    async fn set_enabled(
        &self,
        account: &AccountRef,
        enabled: bool,
    ) -> Result<Account, PanelError> {
        let change = UserModify {
            status: Some(if enabled { "active" } else { "disabled" }),
            ..Default::default()
        };
        self.modify(account, change).await
    }

    async fn delete(&self, account: &AccountRef) -> Result<(), PanelError> {
        let path = format!("api/user/{}", account.name);
        retrying(self.config.retry, || async {
            match self.check_ours(account).await {
                Err(PanelError::NotFound) => return Ok(()),
                other => other?,
            }
            let reply = self.call(Method::DELETE, &path, None).await?;
            match reply.status {
                StatusCode::OK => Ok(()),
                _ => match error_of(&reply) {
                    PanelError::NotFound => Ok(()),
                    e => Err(e),
                },
            }
        })
        .await
    }

    async fn list(&self, offset: u64, limit: u64) -> Result<AccountPage, PanelError> {
        let limit = limit.max(1);
        let path = format!("api/users?offset={offset}&limit={limit}&sort=username");
        retrying(self.config.retry, || async {
            let reply = self.call(Method::GET, &path, None).await?;
            if reply.status != StatusCode::OK {
                return Err(error_of(&reply));
            }
            let page: UsersResponse = reply.json()?;
            let scanned = page.users.len() as u64;
            let accounts = page
                .users
                .into_iter()
                .filter(|u| AccountName::from_panel(&u.username).is_some())
                .map(|u| self.account_of(u))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(AccountPage {
                accounts,
                scanned,
                total: Some(page.total),
            })
        })
        .await
    }

    async fn info(&self) -> Result<PanelInfo, PanelError> {
        retrying(self.config.retry, || async {
            let reply = self.call(Method::GET, "api/system", None).await?;
            if reply.status != StatusCode::OK {
                return Err(error_of(&reply));
            }
            let system: SystemStats = reply.json()?;
            let reply = self.call(Method::GET, "api/inbounds", None).await?;
            if reply.status != StatusCode::OK {
                return Err(error_of(&reply));
            }
            let inbounds: BTreeMap<String, Vec<ProxyInbound>> = reply.json()?;
            Ok(PanelInfo {
                kind: PanelKind::Marzban,
                version: system.version,
                inbounds: inbounds.into_values().flatten().map(|i| i.tag).collect(),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_detail_shapes_read_as_one_line() {
        assert_eq!(
            detail_text(r#"{"detail":"User not found"}"#).unwrap(),
            "User not found"
        );
        assert_eq!(
            detail_text(r#"{"detail":{"username":"Field required","note":"too long"}}"#).unwrap(),
            "note: too long; username: Field required"
        );
        assert_eq!(
            detail_text(r#"{"detail":[{"loc":["body","x"],"msg":"bad x"}]}"#).unwrap(),
            "bad x"
        );
    }

    #[test]
    fn extra_fields_pass_and_missing_ones_are_named_with_the_body() {
        let reply = Reply {
            status: StatusCode::OK,
            body: r#"{"users":[],"total":0,"new_in_0_9":true}"#.into(),
        };
        assert!(reply.json::<UsersResponse>().is_ok());
        let reply = Reply {
            status: StatusCode::OK,
            body: r#"{"users":[]}"#.into(),
        };
        let err = reply.json::<UsersResponse>().err().unwrap().to_string();
        assert!(err.contains("missing field `total`"), "{err}");
        assert!(err.contains(r#"{"users":[]}"#), "{err}");
    }

    #[test]
    fn the_token_expiry_is_read_from_its_claims() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"admin","access":"sudo","exp":1700000000}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_expiry(&token).unwrap().timestamp(), 1_700_000_000);
        assert_eq!(jwt_expiry("not-a-jwt"), None);
    }

    #[test]
    fn naive_datetimes_are_utc() {
        assert_eq!(
            naive_utc("2024-01-02T03:04:05.123456")
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "2024-01-02T03:04:05Z"
        );
    }
}
