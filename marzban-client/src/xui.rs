//! 3x-UI 2.x: a `3x-ui` session cookie from `POST login`, `{success, msg, obj}` answers with
//! HTTP 200 even on failure, clients keyed by email inside an inbound's `settings` JSON string,
//! bytes and unix milliseconds. 3.x (CSRF tokens, a new clients API) is detected and refused
//! with a clear message rather than half-working.
//!
//! Reading an inbound returns every client's settings, so this client avoids it: the shop
//! chooses each client's uuid and subId itself (its [`AccountKey`]) and keeps them, reads one
//! client's figures with `getClientTraffics/:email`, and reads the whole inbound only where
//! the API leaves no other way — `updateClient` wants the full client, and an account made
//! before keys were kept has to be found there once.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use tokio::sync::Mutex;

use crate::account::{Account, AccountName, AccountRef, AccountStatus};
use crate::config::PanelConfig;
use crate::error::PanelError;
use crate::panel::{AccountPage, AccountSpec, Panel, PanelInfo, PanelKind};
use crate::transport::{self, Reply, retrying};

pub struct XUi {
    config: PanelConfig,
    http: Client,
    /// `3x-ui=<value>`, ready for a `Cookie` header.
    session: Mutex<Option<SecretString>>,
    /// Each inbound's protocol, which decides the field a client is keyed by. Inbounds do not
    /// change protocol, so one read per inbound and process is enough.
    protocols: std::sync::Mutex<HashMap<i64, String>>,
}

/// The envelope of every 3x-UI answer.
#[derive(Deserialize)]
struct Msg<T> {
    success: bool,
    #[serde(default)]
    msg: String,
    obj: Option<T>,
}

/// An inbound as `panel/api/inbounds/get/:id` and `list` give it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inbound {
    id: i64,
    #[serde(default)]
    remark: String,
    protocol: String,
    /// A JSON document in a string: `{"clients": [...], ...}`.
    settings: String,
    #[serde(default)]
    client_stats: Option<Vec<ClientTraffic>>,
}

/// `xray.ClientTraffic`: usage counters kept apart from the client itself, with copies of the
/// client's limit, expiry and switch that 3x-UI keeps in step with its settings.
#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct ClientTraffic {
    inbound_id: i64,
    email: String,
    #[serde(default = "yes")]
    enable: bool,
    #[serde(default)]
    up: u64,
    #[serde(default)]
    down: u64,
    /// Bytes; 0 = unlimited.
    #[serde(default)]
    total: i64,
    /// Unix ms; 0 = never, negative = starts on first use.
    #[serde(default)]
    expiry_time: i64,
    /// Since 2.8; unix ms, 0 = never.
    #[serde(default)]
    last_online: i64,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct ServerStatus {
    xray: XrayState,
}

#[derive(Deserialize)]
struct XrayState {
    #[serde(default)]
    version: String,
}

/// One client and where it lives.
struct Found {
    inbound_id: i64,
    protocol: String,
    /// The client object exactly as stored, unknown fields included, so updates keep them.
    client: Map<String, Value>,
    traffic: Option<ClientTraffic>,
}

impl XUi {
    pub fn new(config: PanelConfig) -> Result<Self, PanelError> {
        Ok(XUi {
            http: transport::client(&config)?,
            config,
            session: Mutex::new(None),
            protocols: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    async fn login(&self) -> Result<SecretString, PanelError> {
        // 3.x answers this (and wants its token on every call); 2.x has no such route.
        let probe = self
            .http
            .get(self.url("csrf-token"))
            .send()
            .await
            .map_err(transport::transport_error)?;
        if probe.status() == StatusCode::OK {
            return Err(PanelError::Unsupported(
                "this is 3x-UI 3.x, which the shop does not speak yet; use 3x-UI 2.x (2.4 to 2.9)"
                    .into(),
            ));
        }
        let form = [
            ("username", self.config.username.as_str()),
            ("password", self.config.secret.expose_secret()),
        ];
        let response = self
            .http
            .post(self.url("login"))
            .form(&form)
            .send()
            .await
            .map_err(transport::transport_error)?;
        let cookie = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.starts_with("3x-ui=") && pair.len() > "3x-ui=".len())
            .map(str::to_string);
        let reply = Reply::read(response).await?;
        if let Some(e) = reply.server_trouble() {
            return Err(e);
        }
        if reply.status == StatusCode::NOT_FOUND {
            return Err(PanelError::Unexpected {
                status: 404,
                excerpt: "no 3x-UI login page at this address: check the web base path".into(),
            });
        }
        let answer: Msg<Value> = reply.json()?;
        match (answer.success, cookie) {
            (true, Some(cookie)) => Ok(SecretString::from(cookie)),
            (true, None) => Err(PanelError::Unexpected {
                status: reply.status.as_u16(),
                excerpt: "login succeeded but the panel set no 3x-ui session cookie".into(),
            }),
            (false, _) => Err(PanelError::Unauthorized),
        }
    }

    async fn cookie(&self, stale: Option<&SecretString>) -> Result<SecretString, PanelError> {
        let mut session = self.session.lock().await;
        let renew = match (session.as_ref(), stale) {
            (None, _) => true,
            // Someone else may have logged in again while this call waited.
            (Some(current), Some(stale)) => current.expose_secret() == stale.expose_secret(),
            (Some(_), None) => false,
        };
        if renew {
            *session = Some(self.login().await?);
        }
        Ok(session.as_ref().expect("just set").clone())
    }

    /// A dead session shows as a bare 404 (2.8.4+), a 401 (XHR, older) or a redirect to the
    /// login page (older, non-XHR).
    fn logged_out(reply: &Reply) -> bool {
        (reply.status == StatusCode::NOT_FOUND && reply.body.trim().is_empty())
            || reply.status == StatusCode::UNAUTHORIZED
            || reply.status.is_redirection()
    }

    /// One API call; logs in again once if the session died.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Msg<T>, PanelError> {
        let method = &method;
        let send = |cookie: SecretString| async move {
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .header(reqwest::header::COOKIE, cookie.expose_secret())
                .header("accept", "application/json");
            if let Some(body) = body {
                req = req.json(body);
            }
            let response = req.send().await.map_err(transport::transport_error)?;
            Reply::read(response).await
        };
        let cookie = self.cookie(None).await?;
        let mut reply = send(cookie.clone()).await?;
        if Self::logged_out(&reply) {
            let cookie = self.cookie(Some(&cookie)).await?;
            reply = send(cookie).await?;
            if Self::logged_out(&reply) {
                return Err(PanelError::Unsupported(format!(
                    "the panel has no `{path}` even after a fresh login: not a 3x-UI 2.x API"
                )));
            }
        }
        if let Some(e) = reply.server_trouble() {
            return Err(e);
        }
        if reply.status != StatusCode::OK {
            return Err(reply.unexpected());
        }
        reply.json()
    }

    /// Like `call`, but a `success:false` becomes the error its message describes.
    async fn call_ok<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<T>, PanelError> {
        let answer: Msg<T> = self.call(method, path, body).await?;
        if answer.success {
            Ok(answer.obj)
        } else {
            Err(error_of(&answer.msg))
        }
    }

    fn inbound_id(&self) -> Result<i64, PanelError> {
        self.config
            .options
            .inbound_id
            .ok_or_else(|| PanelError::Rejected {
                message: "no inbound is set for new clients: add the panel with --inbound-id"
                    .into(),
            })
    }

    async fn inbound(&self, id: i64) -> Result<Inbound, PanelError> {
        let inbound: Inbound = self
            .call_ok(Method::GET, &format!("panel/api/inbounds/get/{id}"), None)
            .await?
            .ok_or(PanelError::NotFound)?;
        self.protocols
            .lock()
            .expect("not poisoned")
            .insert(inbound.id, inbound.protocol.clone());
        Ok(inbound)
    }

    /// The protocol of inbound `id`, read once per process.
    async fn protocol(&self, id: i64) -> Result<String, PanelError> {
        let known = self
            .protocols
            .lock()
            .expect("not poisoned")
            .get(&id)
            .cloned();
        match known {
            Some(p) => Ok(p),
            None => Ok(self.inbound(id).await?.protocol),
        }
    }

    /// One client's figures by its email: `None` when the panel has no such client.
    async fn traffic(&self, name: &AccountName) -> Result<Option<ClientTraffic>, PanelError> {
        self.call_ok(
            Method::GET,
            &format!("panel/api/inbounds/getClientTraffics/{name}"),
            None,
        )
        .await
    }

    /// The client as stored, read from its whole inbound: only for what needs every field.
    async fn find(&self, account: &AccountRef) -> Result<Found, PanelError> {
        let traffic = self
            .traffic(&account.name)
            .await?
            .ok_or(PanelError::NotFound)?;
        let inbound = self.inbound(traffic.inbound_id).await?;
        let client = clients_of(&inbound)?
            .into_iter()
            .find(|c| email_of(c).eq_ignore_ascii_case(account.name.as_str()))
            .ok_or(PanelError::NotFound)?;
        if let Some(key) = &account.key
            && client.get("id").and_then(Value::as_str) != Some(key.uuid().to_string().as_str())
        {
            return Err(PanelError::NotOurs);
        }
        Ok(Found {
            inbound_id: inbound.id,
            protocol: inbound.protocol,
            client,
            traffic: Some(traffic),
        })
    }

    /// One account from its figures alone; the link comes from the subId the shop kept.
    async fn read(&self, account: &AccountRef) -> Result<Account, PanelError> {
        let traffic = self
            .traffic(&account.name)
            .await?
            .ok_or(PanelError::NotFound)?;
        let limit = u64::try_from(traffic.total).ok().filter(|&l| l > 0);
        let used = traffic.up.saturating_add(traffic.down);
        Ok(Account {
            name: account.name.clone(),
            status: status_of(traffic.enable, used, limit, traffic.expiry_time),
            used_bytes: used,
            data_limit_bytes: limit,
            expires_at: expiry_of(traffic.expiry_time),
            online_at: online_of(&traffic),
            subscription_url: account
                .key
                .as_ref()
                .and_then(|k| self.subscription_url(k.sub_id())),
            links: Vec::new(),
        })
    }

    /// Rewrites one client with `change` applied, keeping every other field as stored.
    async fn update(
        &self,
        account: &AccountRef,
        change: impl Fn(&mut Map<String, Value>),
    ) -> Result<Account, PanelError> {
        retrying(self.config.retry, || async {
            let found = self.find(account).await?;
            let mut client = found.client.clone();
            change(&mut client);
            let key = key_of(&found.protocol, &found.client);
            let body = json!({
                "id": found.inbound_id,
                "settings": json!({ "clients": [client] }).to_string(),
            });
            self.call_ok::<Value>(
                Method::POST,
                &format!("panel/api/inbounds/updateClient/{key}"),
                Some(&body),
            )
            .await?;
            self.account_of(&client, found.traffic.as_ref())
        })
        .await
    }

    fn subscription_url(&self, sub_id: &str) -> Option<String> {
        match &self.config.options.sub_base_url {
            Some(base) if !sub_id.is_empty() => {
                Some(format!("{}/{sub_id}", base.trim_end_matches('/')))
            }
            _ => None,
        }
    }

    /// Every client of every inbound with its traffic row, from one `inbounds/list` call.
    /// Traffic rows are matched by email through a map: a panel with 100,000 clients is read
    /// in linear time.
    async fn all_clients(
        &self,
    ) -> Result<Vec<(Map<String, Value>, Option<ClientTraffic>)>, PanelError> {
        let inbounds: Vec<Inbound> = retrying(self.config.retry, || {
            self.call_ok(Method::GET, "panel/api/inbounds/list", None)
        })
        .await?
        .unwrap_or_default();
        let mut all = Vec::new();
        for inbound in inbounds {
            let clients = clients_of(&inbound)?;
            let mut stats: std::collections::HashMap<String, ClientTraffic> = inbound
                .client_stats
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.email.to_ascii_lowercase(), t))
                .collect();
            for client in clients {
                let traffic = stats.remove(&email_of(&client).to_ascii_lowercase());
                all.push((client, traffic));
            }
        }
        Ok(all)
    }

    fn account_of(
        &self,
        client: &Map<String, Value>,
        traffic: Option<&ClientTraffic>,
    ) -> Result<Account, PanelError> {
        let email = email_of(client);
        let name = AccountName::from_panel(email).ok_or_else(|| PanelError::Unexpected {
            status: 200,
            excerpt: format!("`{email}` is not an account name this shop makes"),
        })?;
        let int = |field: &str| client.get(field).and_then(Value::as_i64).unwrap_or(0);
        let enabled = client
            .get("enable")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let limit = u64::try_from(int("totalGB")).ok().filter(|&l| l > 0);
        let expiry_ms = int("expiryTime");
        let used = traffic.map_or(0, |t| t.up.saturating_add(t.down));
        let sub_id = client.get("subId").and_then(Value::as_str).unwrap_or("");
        Ok(Account {
            name,
            status: status_of(enabled, used, limit, expiry_ms),
            used_bytes: used,
            data_limit_bytes: limit,
            expires_at: expiry_of(expiry_ms),
            online_at: traffic.and_then(online_of),
            subscription_url: self.subscription_url(sub_id),
            links: Vec::new(),
        })
    }
}

/// What a client's switch, usage, limit and expiry add up to. 3x-UI turns a client's switch
/// off itself when it runs out of traffic or time, so "off" is read as the reason when there is
/// one.
fn status_of(enabled: bool, used: u64, limit: Option<u64>, expiry_ms: i64) -> AccountStatus {
    let expired = expiry_of(expiry_ms).is_some_and(|at| at <= Utc::now());
    let limited = limit.is_some_and(|l| used >= l);
    if limited {
        AccountStatus::Limited
    } else if expired {
        AccountStatus::Expired
    } else if !enabled {
        AccountStatus::Disabled
    } else if expiry_ms < 0 {
        AccountStatus::OnHold
    } else {
        AccountStatus::Active
    }
}

fn expiry_of(ms: i64) -> Option<DateTime<Utc>> {
    (ms > 0)
        .then(|| DateTime::from_timestamp_millis(ms))
        .flatten()
}

fn online_of(traffic: &ClientTraffic) -> Option<DateTime<Utc>> {
    (traffic.last_online > 0)
        .then(|| DateTime::from_timestamp_millis(traffic.last_online))
        .flatten()
}

fn clients_of(inbound: &Inbound) -> Result<Vec<Map<String, Value>>, PanelError> {
    let settings: Value =
        serde_json::from_str(&inbound.settings).map_err(|e| PanelError::Unexpected {
            status: 200,
            excerpt: format!(
                "inbound {} settings are not JSON ({e}): {}",
                inbound.id,
                PanelError::excerpt(&inbound.settings)
            ),
        })?;
    Ok(settings
        .get("clients")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|c| c.as_object().cloned()).collect())
        .unwrap_or_default())
}

fn email_of(client: &Map<String, Value>) -> &str {
    client.get("email").and_then(Value::as_str).unwrap_or("")
}

/// The field 3x-UI keys a client by in `updateClient/:clientId` and `delClient/:clientId`.
fn key_of(protocol: &str, client: &Map<String, Value>) -> String {
    let field = match protocol {
        "trojan" => "password",
        "shadowsocks" => "email",
        "hysteria" | "hysteria2" => "auth",
        _ => "id",
    };
    client
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// What a `success:false` message means. They read `"<action> (<error>\n)"`.
fn error_of(msg: &str) -> PanelError {
    let text = msg.trim();
    if text.contains("Duplicate email") {
        PanelError::AlreadyExists
    } else if text.contains("Not Found") || text.contains("record not found") {
        PanelError::NotFound
    } else {
        PanelError::Rejected {
            message: text.replace('\n', ""),
        }
    }
}

#[async_trait]
impl Panel for XUi {
    fn kind(&self) -> PanelKind {
        PanelKind::XUi
    }

    async fn ensure_account(&self, spec: &AccountSpec) -> Result<Account, PanelError> {
        let inbound_id = self.inbound_id()?;
        let password = spec.key.password();
        let client = json!({
            "id": spec.key.uuid().to_string(),
            "password": password,
            "auth": password,
            "flow": "",
            "email": spec.name.as_str(),
            "limitIp": 0,
            "totalGB": spec.data_limit_bytes.unwrap_or(0),
            "expiryTime": spec.expires_at.map_or(0, |t| t.timestamp_millis()),
            "enable": true,
            "tgId": 0,
            "subId": spec.key.sub_id(),
            "comment": spec.note,
            "reset": 0,
        });
        let body = json!({
            "id": inbound_id,
            "settings": json!({ "clients": [client] }).to_string(),
        });
        let target = spec.target();
        retrying(self.config.retry, || async {
            match self
                .call_ok::<Value>(Method::POST, "panel/api/inbounds/addClient", Some(&body))
                .await
            {
                // Added now: it is what was sent, with nothing used yet.
                Ok(_) => self.account_of(client.as_object().expect("an object"), None),
                // Added by an earlier try whose answer was lost — or by someone else. Only a
                // client carrying the shop's uuid is ours.
                Err(PanelError::AlreadyExists) => {
                    let holders: Vec<ClientTraffic> = self
                        .call_ok(
                            Method::GET,
                            &format!(
                                "panel/api/inbounds/getClientTrafficsById/{}",
                                spec.key.uuid()
                            ),
                            None,
                        )
                        .await?
                        .unwrap_or_default();
                    if holders
                        .iter()
                        .any(|t| t.email.eq_ignore_ascii_case(spec.name.as_str()))
                    {
                        self.read(&target).await
                    } else {
                        Err(PanelError::NotOurs)
                    }
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn account(&self, account: &AccountRef) -> Result<Account, PanelError> {
        retrying(self.config.retry, || self.read(account)).await
    }

    async fn set_expiry(
        &self,
        account: &AccountRef,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account, PanelError> {
        let ms = expires_at.map_or(0, |t| t.timestamp_millis());
        self.update(account, |c| {
            c.insert("expiryTime".into(), json!(ms));
        })
        .await
    }

    async fn set_data_limit(
        &self,
        account: &AccountRef,
        limit_bytes: Option<u64>,
    ) -> Result<Account, PanelError> {
        let total = limit_bytes.unwrap_or(0);
        self.update(account, |c| {
            c.insert("totalGB".into(), json!(total));
        })
        .await
    }

    async fn reset_usage(&self, account: &AccountRef) -> Result<Account, PanelError> {
        let name = &account.name;
        retrying(self.config.retry, || async {
            let traffic = self.traffic(name).await?.ok_or(PanelError::NotFound)?;
            self.call_ok::<Value>(
                Method::POST,
                &format!(
                    "panel/api/inbounds/{}/resetClientTraffic/{name}",
                    traffic.inbound_id
                ),
                None,
            )
            .await?;
            self.read(account).await
        })
        .await
    }

    async fn set_enabled(
        &self,
        account: &AccountRef,
        enabled: bool,
    ) -> Result<Account, PanelError> {
        self.update(account, |c| {
            c.insert("enable".into(), json!(enabled));
        })
        .await
    }

    async fn delete(&self, account: &AccountRef) -> Result<(), PanelError> {
        retrying(self.config.retry, || async {
            let (inbound_id, key) = match &account.key {
                // The shop knows the client's key: no need to read the inbound.
                Some(k) => {
                    let Some(traffic) = self.traffic(&account.name).await? else {
                        return Ok(());
                    };
                    let protocol = self.protocol(traffic.inbound_id).await?;
                    let key = match protocol.as_str() {
                        "trojan" | "hysteria" | "hysteria2" => k.password(),
                        "shadowsocks" => account.name.to_string(),
                        _ => k.uuid().to_string(),
                    };
                    (traffic.inbound_id, key)
                }
                None => match self.find(account).await {
                    Err(PanelError::NotFound) => return Ok(()),
                    Err(e) => return Err(e),
                    Ok(found) => (found.inbound_id, key_of(&found.protocol, &found.client)),
                },
            };
            match self
                .call_ok::<Value>(
                    Method::POST,
                    &format!("panel/api/inbounds/{inbound_id}/delClient/{key}"),
                    None,
                )
                .await
            {
                Ok(_) => Ok(()),
                // The client under the shop's name does not carry the shop's key.
                Err(PanelError::NotFound) if account.key.is_some() => {
                    match self.traffic(&account.name).await? {
                        None => Ok(()),
                        Some(_) => Err(PanelError::NotOurs),
                    }
                }
                Err(PanelError::NotFound) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// 3x-UI lists every inbound with all its clients at once: this sorts the clients by
    /// email and cuts the page out.
    async fn list(&self, offset: u64, limit: u64) -> Result<AccountPage, PanelError> {
        let all = self.all_clients().await?;
        AccountPage::cut(
            all,
            offset,
            limit,
            |(c, _)| email_of(c),
            |(c, t)| self.account_of(c, t.as_ref()),
        )
    }

    /// 3x-UI lists every inbound with its clients and their traffic in one call: no pages.
    async fn all_accounts(&self, _page: u64, _parallel: usize) -> Result<Vec<Account>, PanelError> {
        self.all_clients()
            .await?
            .iter()
            .filter(|(c, _)| AccountName::from_panel(email_of(c)).is_some())
            .map(|(c, t)| self.account_of(c, t.as_ref()))
            .collect()
    }

    async fn info(&self) -> Result<PanelInfo, PanelError> {
        retrying(self.config.retry, || async {
            let status: Option<ServerStatus> = self
                .call_ok(Method::GET, "panel/api/server/status", None)
                .await?;
            let inbounds: Vec<Inbound> = self
                .call_ok(Method::GET, "panel/api/inbounds/list", None)
                .await?
                .unwrap_or_default();
            let xray = status.map(|s| s.xray.version).unwrap_or_default();
            Ok(PanelInfo {
                kind: PanelKind::XUi,
                // 2.x does not say its own version; Xray's is the closest thing.
                version: if xray.is_empty() {
                    "2.x".into()
                } else {
                    format!("2.x (Xray {xray})")
                },
                inbounds: inbounds
                    .iter()
                    .map(|i| format!("{} {} ({})", i.id, i.remark, i.protocol))
                    .collect(),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_say_what_happened() {
        assert_eq!(
            error_of("Something went wrong (Duplicate email: shop_1_1\n)"),
            PanelError::AlreadyExists
        );
        assert_eq!(error_of("Obtain (record not found)"), PanelError::NotFound);
        assert_eq!(
            error_of("Something went wrong (no client remained in Inbound\n)"),
            PanelError::Rejected {
                message: "Something went wrong (no client remained in Inbound)".into()
            }
        );
    }
}
