//! A fake Marzban 0.8.4: form-only login to a JWT-shaped bearer token, users keyed by
//! case-insensitive username, 0 and null meaning unlimited, 422 `detail` maps, relative
//! subscription URLs, naive UTC datetimes.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Faults, random_hex, serve};

pub const USERNAME: &str = "admin";
pub const PASSWORD: &str = "marzban-pass";

#[derive(Clone)]
pub struct FakeMarzban {
    pub url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
}

struct Inner {
    /// Lowercased username → user.
    users: BTreeMap<String, User>,
    tokens: Vec<String>,
    /// Tokens are valid this long (Marzban's default is 1440 minutes).
    token_minutes: i64,
}

#[derive(Clone)]
struct User {
    username: String,
    proxies: Value,
    expire: Option<i64>,
    data_limit: Option<u64>,
    status: &'static str,
    used_traffic: u64,
    lifetime_used_traffic: u64,
    note: Option<String>,
    online_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

fn detail(status: StatusCode, detail: Value) -> Response {
    (status, axum::Json(json!({ "detail": detail }))).into_response()
}

fn unauthorized(text: &str) -> Response {
    let mut r = detail(StatusCode::UNAUTHORIZED, json!(text));
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().unwrap());
    r
}

fn naive(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

impl User {
    fn json(&self) -> Value {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{},{}",
            self.username,
            Utc::now().timestamp()
        ));
        json!({
            "proxies": self.proxies,
            "expire": self.expire,
            "data_limit": self.data_limit,
            "data_limit_reset_strategy": "no_reset",
            "inbounds": {"vless": ["VLESS TCP REALITY"], "vmess": ["VMess TCP"]},
            "note": self.note,
            "sub_updated_at": null,
            "sub_last_user_agent": null,
            "online_at": self.online_at.map(naive),
            "on_hold_expire_duration": null,
            "on_hold_timeout": null,
            "auto_delete_in_days": null,
            "next_plan": null,
            "username": self.username,
            "status": self.status,
            "used_traffic": self.used_traffic,
            "lifetime_used_traffic": self.lifetime_used_traffic,
            "created_at": naive(self.created_at),
            "links": [format!("vless://{}@127.0.0.1:443?security=reality#{}", uuid::Uuid::new_v4(), self.username)],
            // Relative, as Marzban gives it without XRAY_SUBSCRIPTION_URL_PREFIX.
            "subscription_url": format!("/sub/{payload}{}", &random_hex()[..10]),
            "excluded_inbounds": {"vless": [], "vmess": []},
            "admin": {"username": USERNAME, "is_sudo": true, "telegram_id": null, "discord_webhook": null, "users_usage": 0},
        })
    }

    /// What Marzban recomputes after a change of limit or expiry.
    fn recompute(&mut self) {
        if self.status == "disabled" || self.status == "on_hold" {
            return;
        }
        self.status = if self.data_limit.is_some_and(|l| self.used_traffic >= l) {
            "limited"
        } else if self.expire.is_some_and(|e| e <= Utc::now().timestamp()) {
            "expired"
        } else {
            "active"
        };
    }
}

/// Marzban's username rule as it really behaves: a first run of 3–32 word characters.
fn valid_username(name: &str) -> bool {
    let word_run = name
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .count();
    (3..=32).contains(&word_run)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_@.".contains(c))
}

impl FakeMarzban {
    pub async fn start() -> FakeMarzban {
        crate::app::never_log(PASSWORD);
        let state = Arc::new(Mutex::new(Inner {
            users: BTreeMap::new(),
            tokens: Vec::new(),
            token_minutes: 1440,
        }));
        let faults = Faults::default();
        let app = Router::new()
            .route("/api/admin/token", post(token))
            .route("/api/system", get(system))
            .route("/api/inbounds", get(inbounds))
            .route("/api/user", post(create))
            .route("/api/user/{username}", get(read).put(modify).delete(remove))
            .route("/api/user/{username}/reset", post(reset))
            .route("/api/users", get(list))
            .with_state(state.clone());
        let addr = serve(app, faults.clone()).await;
        FakeMarzban {
            url: format!("http://{addr}/"),
            faults,
            state,
        }
    }

    /// Forgets every issued token, as when they expire or the admin's password is reset.
    pub fn expire_sessions(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Issues tokens whose `exp` is this many minutes away.
    pub fn set_token_minutes(&self, minutes: i64) {
        self.state.lock().unwrap().token_minutes = minutes;
    }

    /// The customer used traffic.
    pub fn use_traffic(&self, username: &str, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        let user = s
            .users
            .get_mut(&username.to_lowercase())
            .expect("no such user");
        user.used_traffic += bytes;
        user.lifetime_used_traffic += bytes;
        user.online_at = Some(Utc::now());
        user.recompute();
    }

    /// An account's `(expire, data_limit)` as the panel holds them (Unix seconds, bytes).
    pub fn limits_of(&self, username: &str) -> Option<(Option<i64>, Option<u64>)> {
        let s = self.state.lock().unwrap();
        let user = s.users.get(&username.to_lowercase())?;
        Some((user.expire, user.data_limit))
    }

    pub fn user_count(&self) -> usize {
        self.state.lock().unwrap().users.len()
    }

    /// An account's status as the panel shows it (`active`, `disabled`, `expired`…).
    pub fn status_of(&self, username: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.users
            .get(&username.to_lowercase())
            .map(|u| u.status.to_string())
    }

    /// Deletes an account by hand, as an operator would on the panel.
    pub fn delete_user(&self, username: &str) {
        self.state
            .lock()
            .unwrap()
            .users
            .remove(&username.to_lowercase());
    }

    /// Whether an account of that name exists.
    pub fn has(&self, username: &str) -> bool {
        self.state
            .lock()
            .unwrap()
            .users
            .contains_key(&username.to_lowercase())
    }

    /// Sets an account's expiry (Unix seconds), as an operator would on the panel.
    pub fn set_expire(&self, username: &str, expire: Option<i64>) {
        let mut s = self.state.lock().unwrap();
        let user = s
            .users
            .get_mut(&username.to_lowercase())
            .expect("no such user");
        user.expire = expire;
    }

    /// Many accounts at once (for benchmarks): `(username, used, limit, expire)`.
    pub fn seed(&self, users: impl IntoIterator<Item = (String, u64, Option<u64>, Option<i64>)>) {
        let mut s = self.state.lock().unwrap();
        let now = Utc::now();
        for (username, used, limit, expire) in users {
            s.users.insert(
                username.to_lowercase(),
                User {
                    username,
                    proxies: json!({"vless": {"id": uuid::Uuid::new_v4().to_string(), "flow": ""}}),
                    expire,
                    data_limit: limit,
                    status: "active",
                    used_traffic: used,
                    lifetime_used_traffic: used,
                    note: None,
                    online_at: Some(now),
                    created_at: now,
                },
            );
        }
    }

    /// Adds an account the operator made by hand (not the shop's).
    pub fn add_foreign(&self, username: &str) {
        let mut s = self.state.lock().unwrap();
        s.users.insert(
            username.to_lowercase(),
            User {
                username: username.into(),
                proxies: json!({"vless": {"id": uuid::Uuid::new_v4().to_string(), "flow": ""}}),
                expire: None,
                data_limit: None,
                status: "active",
                used_traffic: 0,
                lifetime_used_traffic: 0,
                note: None,
                online_at: None,
                created_at: Utc::now(),
            },
        );
    }
}

type St = State<Arc<Mutex<Inner>>>;

async fn token(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let fields: BTreeMap<String, String> = if form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        BTreeMap::new()
    };
    let mut missing = serde_json::Map::new();
    for f in ["username", "password"] {
        if !fields.contains_key(f) {
            missing.insert(f.into(), json!("Field required"));
        }
    }
    if !missing.is_empty() {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Object(missing));
    }
    if fields["username"] != USERNAME || fields["password"] != PASSWORD {
        return unauthorized("Incorrect username or password");
    }
    let mut s = state.lock().unwrap();
    let now = Utc::now().timestamp();
    let claims =
        json!({"sub": USERNAME, "access": "sudo", "iat": now, "exp": now + s.token_minutes * 60});
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let token = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        random_hex()
    );
    crate::app::never_log(&token);
    s.tokens.push(token.clone());
    axum::Json(json!({"access_token": token, "token_type": "bearer"})).into_response()
}

/// Checks the bearer token the way Marzban's dependencies do; `Err` is the 401 to send.
fn authorize(state: &Mutex<Inner>, headers: &HeaderMap) -> Result<(), Response> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized("Not authenticated"));
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Err(unauthorized("Not authenticated"));
    };
    let s = state.lock().unwrap();
    let live = s.tokens.iter().any(|t| t == token)
        && token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|c| c["exp"].as_i64())
            .is_some_and(|exp| exp > Utc::now().timestamp());
    if live {
        Ok(())
    } else {
        Err(unauthorized("Could not validate credentials"))
    }
}

async fn system(State(state): St, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let s = state.lock().unwrap();
    axum::Json(json!({
        "version": "0.8.4", "mem_total": 2_000_000_000u64, "mem_used": 500_000_000u64,
        "cpu_cores": 2, "cpu_usage": 3.5, "total_user": s.users.len(), "online_users": 0,
        "users_active": s.users.values().filter(|u| u.status == "active").count(),
        "users_on_hold": 0, "users_disabled": 0, "users_expired": 0, "users_limited": 0,
        "incoming_bandwidth": 0, "outgoing_bandwidth": 0,
        "incoming_bandwidth_speed": 0, "outgoing_bandwidth_speed": 0,
    }))
    .into_response()
}

async fn inbounds(State(state): St, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    axum::Json(json!({
        "vless": [{"tag": "VLESS TCP REALITY", "protocol": "vless", "network": "tcp", "tls": "reality", "port": 443}],
        "vmess": [{"tag": "VMess TCP", "protocol": "vmess", "network": "tcp", "tls": "none", "port": 8081}],
    }))
    .into_response()
}

/// Reads the integer Marzban accepts for `data_limit`/`expire`, or the 422 it sends.
fn int_field(
    body: &Value,
    field: &str,
    errors: &mut serde_json::Map<String, Value>,
) -> Option<i64> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(_)) => {
            errors.insert(
                field.into(),
                json!(format!(
                    "Value error, {field} must be an integer or a float, not a string"
                )),
            );
            None
        }
        Some(_) => {
            errors.insert(field.into(), json!("Input should be a valid integer"));
            None
        }
    }
}

/// The JSON body, or FastAPI's 422 for one that is not JSON.
fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|_| {
        detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"body": "JSON decode error"}),
        )
    })
}

async fn create(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let mut errors = serde_json::Map::new();
    let username = body["username"].as_str().unwrap_or_default().to_string();
    if body.get("username").is_none() {
        errors.insert("username".into(), json!("Field required"));
    } else if !valid_username(&username) {
        errors.insert("username".into(), json!("Value error, Username only can be 3 to 32 characters and contain a-z, 0-9, and underscores in between."));
    }
    let expire = int_field(&body, "expire", &mut errors);
    let data_limit = int_field(&body, "data_limit", &mut errors);
    if data_limit.is_some_and(|l| l < 0) {
        errors.insert(
            "data_limit".into(),
            json!("Input should be greater than or equal to 0"),
        );
    }
    let proxies = body.get("proxies").cloned().unwrap_or(json!({}));
    if body.get("proxies").is_some() && proxies.as_object().is_some_and(|m| m.is_empty()) {
        errors.insert(
            "proxies".into(),
            json!("Value error, Each user needs at least one proxy"),
        );
    }
    if let Some(note) = body["note"].as_str()
        && note.chars().count() > 500
    {
        errors.insert(
            "note".into(),
            json!("Value error, User's note can be a maximum of 500 character"),
        );
    }
    if !errors.is_empty() {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Object(errors));
    }
    if let Some(map) = proxies.as_object() {
        for protocol in map.keys() {
            if !["vless", "vmess"].contains(&protocol.as_str()) {
                return detail(
                    StatusCode::BAD_REQUEST,
                    json!(format!("Protocol {protocol} is disabled on your server")),
                );
            }
        }
    }
    let mut s = state.lock().unwrap();
    let key = username.to_lowercase();
    if s.users.contains_key(&key) {
        return detail(StatusCode::CONFLICT, json!("User already exists"));
    }
    let proxies: serde_json::Map<String, Value> = proxies
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(p, given)| {
            // `VLessSettings`/`VMessSettings`: the id sent, or a fresh uuid4 by default.
            let id = given
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .unwrap_or_else(uuid::Uuid::new_v4);
            (p, json!({"id": id.to_string(), "flow": ""}))
        })
        .collect();
    let mut user = User {
        username,
        proxies: Value::Object(proxies),
        expire: expire.filter(|&e| e != 0),
        data_limit: data_limit.filter(|&l| l != 0).map(|l| l as u64),
        status: "active",
        used_traffic: 0,
        lifetime_used_traffic: 0,
        note: body["note"].as_str().map(str::to_string),
        online_at: None,
        created_at: Utc::now(),
    };
    user.recompute();
    let answer = user.json();
    s.users.insert(key, user);
    // Marzban answers a create with 200, not 201.
    axum::Json(answer).into_response()
}

fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, json!("User not found"))
}

async fn read(State(state): St, headers: HeaderMap, Path(username): Path<String>) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let s = state.lock().unwrap();
    match s.users.get(&username.to_lowercase()) {
        Some(u) => axum::Json(u.json()).into_response(),
        None => not_found(),
    }
}

async fn modify(
    State(state): St,
    headers: HeaderMap,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let mut s = state.lock().unwrap();
    let Some(user) = s.users.get_mut(&username.to_lowercase()) else {
        return not_found();
    };
    let mut errors = serde_json::Map::new();
    let expire = int_field(&body, "expire", &mut errors);
    let data_limit = int_field(&body, "data_limit", &mut errors);
    let status = match body.get("status").and_then(Value::as_str) {
        None => None,
        Some("active") => Some("active"),
        Some("disabled") => Some("disabled"),
        Some("on_hold") => Some("on_hold"),
        Some(_) => {
            errors.insert(
                "status".into(),
                json!("Input should be 'active', 'disabled' or 'on_hold'"),
            );
            None
        }
    };
    if !errors.is_empty() {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Object(errors));
    }
    // Null or absent: unchanged. 0: unlimited.
    if let Some(e) = expire {
        user.expire = (e != 0).then_some(e);
    }
    if let Some(l) = data_limit {
        user.data_limit = (l != 0).then_some(l as u64);
    }
    if let Some(status) = status {
        user.status = status;
    }
    if expire.is_some() || data_limit.is_some() || status == Some("active") {
        if status == Some("active") {
            user.status = "active";
        }
        user.recompute();
    }
    axum::Json(user.json()).into_response()
}

async fn remove(State(state): St, headers: HeaderMap, Path(username): Path<String>) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let mut s = state.lock().unwrap();
    match s.users.remove(&username.to_lowercase()) {
        Some(_) => axum::Json(json!({"detail": "User successfully deleted"})).into_response(),
        None => not_found(),
    }
}

async fn reset(State(state): St, headers: HeaderMap, Path(username): Path<String>) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let mut s = state.lock().unwrap();
    let Some(user) = s.users.get_mut(&username.to_lowercase()) else {
        return not_found();
    };
    user.used_traffic = 0;
    // Marzban's own (buggy) test turns even a disabled user active again.
    if user.status != "expired" {
        user.status = "active";
    }
    axum::Json(user.json()).into_response()
}

async fn list(
    State(state): St,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r;
    }
    let s = state.lock().unwrap();
    // Keyed by the lowercased username already: in username order as they are.
    let mut users: Vec<&User> = s.users.values().collect();
    match query.get("sort").map(String::as_str) {
        None | Some("username") => {}
        Some("-username") => {
            users.sort_by_key(|u| u.username.to_lowercase());
            users.reverse();
        }
        Some("created_at") => users.sort_by_key(|u| u.created_at),
        Some(other) => {
            return detail(
                StatusCode::BAD_REQUEST,
                json!(format!("\"{other}\" is not a valid sort option")),
            );
        }
    }
    let total = users.len();
    // 0 is falsy in Marzban's code: no offset, no limit.
    let num = |k: &str| {
        query
            .get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
    };
    let offset = num("offset").unwrap_or(0);
    let limit = num("limit").unwrap_or(usize::MAX);
    let page: Vec<Value> = users
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(User::json)
        .collect();
    axum::Json(json!({"users": page, "total": total})).into_response()
}
