//! A fake Hiddify (API v2): paths under the admin proxy path, `Hiddify-API-Key` with the
//! misspelt 403 "Unathorized", 308 to the trailing-slash form, GB floats over byte counts,
//! start date + package days, 404 "You have no user" for an empty list, 400 "The user
//! exists", error bodies shaped by the Accept header.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::{Faults, serve};

const ONE_GB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Clone)]
pub struct FakeHiddify {
    /// The admin API base: `http://127.0.0.1:port/<admin proxy path>/`.
    pub url: String,
    /// The admin UUID that is the API key.
    pub api_key: String,
    /// Where customers' apps fetch subscriptions: `http://127.0.0.1:port/<client path>/`.
    pub client_url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
}

struct Inner {
    admin_path: String,
    client_path: String,
    api_key: String,
    /// uuid → user, in insertion order of ids.
    users: BTreeMap<String, User>,
    next_id: i64,
}

#[derive(Clone)]
struct User {
    id: i64,
    uuid: String,
    name: String,
    /// Bytes, as Hiddify's database keeps them.
    usage_limit: u64,
    current_usage: u64,
    package_days: i64,
    start_date: Option<NaiveDate>,
    mode: String,
    enable: bool,
    comment: Option<String>,
    telegram_id: Option<i64>,
    last_online: NaiveDateTime,
}

/// Hiddify's "never online": `datetime.min`.
fn never() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

impl User {
    /// A user with Hiddify's defaults: 1000 GB, 90 days not yet started, enabled.
    fn new(id: i64, uuid: String, name: String) -> User {
        User {
            id,
            uuid,
            name,
            usage_limit: 1000 * ONE_GB as u64,
            current_usage: 0,
            package_days: 90,
            start_date: None,
            mode: "no_reset".into(),
            enable: true,
            comment: None,
            telegram_id: None,
            last_online: never(),
        }
    }

    fn remaining_days(&self) -> i64 {
        match self.start_date {
            None => self.package_days,
            Some(start) => self.package_days - (Utc::now().date_naive() - start).num_days(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "uuid": self.uuid,
            "name": self.name,
            "usage_limit_GB": self.usage_limit as f64 / ONE_GB,
            "current_usage_GB": self.current_usage as f64 / ONE_GB,
            "package_days": self.package_days,
            "start_date": self.start_date.map(|d| d.format("%Y-%m-%d").to_string()),
            "last_reset_time": format!("{} 00:00:00", Utc::now().date_naive().format("%Y-%m-%d")),
            "last_online": self.last_online.format("%Y-%m-%d %H:%M:%S").to_string(),
            "mode": self.mode,
            "enable": self.enable,
            "is_active": self.enable && self.current_usage <= self.usage_limit && self.remaining_days() >= 0,
            "comment": self.comment,
            "telegram_id": self.telegram_id,
            "added_by_uuid": null,
            "lang": "en",
            "ed25519_private_key": "", "ed25519_public_key": "",
            "wg_pk": "", "wg_pub": "", "wg_psk": "",
        })
    }
}

/// The error body Hiddify sends: `{"message", "detail"}` to JSON clients, `{"msg"}` to
/// browsers and to anyone accepting `*/*`.
fn error(headers: &HeaderMap, status: StatusCode, text: &str) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let body = if accept.contains("text/html") || accept.contains("*/*") {
        json!({"msg": text})
    } else {
        json!({"message": text, "detail": {}})
    };
    (status, axum::Json(body)).into_response()
}

impl FakeHiddify {
    pub async fn start() -> FakeHiddify {
        let admin_path = format!("adm{}", &super::random_hex()[..12]);
        let client_path = format!("cli{}", &super::random_hex()[..12]);
        let api_key = uuid::Uuid::new_v4().to_string();
        crate::app::never_log(&api_key);
        let state = Arc::new(Mutex::new(Inner {
            admin_path: admin_path.clone(),
            client_path: client_path.clone(),
            api_key: api_key.clone(),
            users: BTreeMap::new(),
            next_id: 1,
        }));
        let faults = Faults::default();
        let app = Router::new().fallback(route).with_state(state.clone());
        let addr = serve(app, faults.clone()).await;
        FakeHiddify {
            url: format!("http://{addr}/{admin_path}/"),
            api_key,
            client_url: format!("http://{addr}/{client_path}/"),
            faults,
            state,
        }
    }

    /// The customer used traffic.
    pub fn use_traffic(&self, uuid_or_name: &str, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        let user = s
            .users
            .values_mut()
            .find(|u| u.uuid == uuid_or_name || u.name == uuid_or_name)
            .expect("no such user");
        user.current_usage += bytes;
        user.last_online = Utc::now().naive_utc();
    }

    pub fn user_count(&self) -> usize {
        self.state.lock().unwrap().users.len()
    }

    /// Adds a user the operator made by hand.
    pub fn add_foreign(&self, name: &str) {
        let mut s = self.state.lock().unwrap();
        let id = s.next_id;
        s.next_id += 1;
        let uuid = uuid::Uuid::new_v4().to_string();
        s.users
            .insert(uuid.clone(), User::new(id, uuid, name.into()));
    }
}

type St = State<Arc<Mutex<Inner>>>;

/// One handler for everything, as the checks run in Hiddify's order: proxy path, then auth,
/// then the trailing-slash redirect, then the route.
async fn route(State(state): St, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let method = parts.method;
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut s = state.lock().unwrap();
    if segments.first() == Some(&s.client_path.as_str()) {
        return error(&headers, StatusCode::FORBIDDEN, "Unathorized");
    }
    if segments.first() != Some(&s.admin_path.as_str()) {
        return error(&headers, StatusCode::BAD_REQUEST, "invalid request");
    }
    let key = headers.get("Hiddify-API-Key").and_then(|v| v.to_str().ok());
    if key != Some(s.api_key.as_str()) {
        return error(&headers, StatusCode::FORBIDDEN, "Unathorized");
    }
    if !path.ends_with('/') {
        let location = format!(
            "http://{}{path}/",
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1")
        );
        return (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
            "",
        )
            .into_response();
    }
    let rest = &segments[1..segments.len() - 1];
    match (method.clone(), rest) {
        (Method::GET, ["api", "v2", "panel", "info"]) => {
            axum::Json(json!({"version": "10.80.12"})).into_response()
        }
        (_, ["api", "v2", "panel", "ping"]) => {
            axum::Json(json!({"msg": format!("{method}: PONG")})).into_response()
        }
        (Method::GET, ["api", "v2", "admin", "user"]) => {
            if s.users.is_empty() {
                return error(&headers, StatusCode::NOT_FOUND, "You have no user");
            }
            let mut users: Vec<&User> = s.users.values().collect();
            users.sort_by_key(|u| u.id);
            axum::Json(users.into_iter().map(User::json).collect::<Vec<_>>()).into_response()
        }
        (Method::POST, ["api", "v2", "admin", "user"]) => create(&mut s, &headers, &body),
        (Method::GET, ["api", "v2", "admin", "user", uuid]) => match s.users.get(*uuid) {
            Some(u) => axum::Json(u.json()).into_response(),
            None => error(&headers, StatusCode::NOT_FOUND, "User not found"),
        },
        (Method::PATCH, ["api", "v2", "admin", "user", uuid]) => {
            let uuid = uuid.to_string();
            patch(&mut s, &headers, &uuid, &body)
        }
        (Method::DELETE, ["api", "v2", "admin", "user", uuid]) => match s.users.remove(*uuid) {
            Some(_) => axum::Json(json!({"status": 200, "msg": "ok"})).into_response(),
            None => error(&headers, StatusCode::NOT_FOUND, "User not found"),
        },
        // Flask hands routing 404s to Hiddify's catch-all handler, which makes them 500s.
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({"msg": "404 Not Found: The requested URL was not found on the server."}),
            ),
        )
            .into_response(),
    }
}

const WRITABLE: [&str; 13] = [
    "uuid",
    "name",
    "usage_limit_GB",
    "package_days",
    "start_date",
    "current_usage_GB",
    "mode",
    "enable",
    "comment",
    "telegram_id",
    "lang",
    "last_online",
    "last_reset_time",
];

/// Marshmallow's 422 for bad fields.
fn validate(headers: &HeaderMap, body: &Value) -> Result<(), Response> {
    let Some(map) = body.as_object() else {
        return Err(error(
            headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation error",
        ));
    };
    for (k, v) in map {
        let ok = match k.as_str() {
            "usage_limit_GB" | "current_usage_GB" => v.is_number() || v.is_null(),
            "package_days" | "telegram_id" => v.is_i64() || v.is_null(),
            "enable" => v.is_boolean(),
            "mode" => v
                .as_str()
                .is_some_and(|m| ["no_reset", "monthly", "weekly", "daily"].contains(&m)),
            "start_date" => {
                v.is_null()
                    || v.as_str()
                        .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok())
            }
            k => WRITABLE.contains(&k),
        };
        if !ok {
            return Err(error(
                headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation error",
            ));
        }
    }
    Ok(())
}

fn apply(user: &mut User, body: &Value) {
    if let Some(gb) = body["usage_limit_GB"].as_f64() {
        user.usage_limit = (gb.min(1_000_000.0) * ONE_GB) as u64;
    }
    if let Some(gb) = body["current_usage_GB"].as_f64() {
        user.current_usage = (gb * ONE_GB) as u64;
    }
    if let Some(days) = body["package_days"].as_i64() {
        user.package_days = days;
        // Hiddify applies start_date only together with package_days.
        if let Some(d) = body.get("start_date") {
            user.start_date = d
                .as_str()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        }
    }
    if let Some(mode) = body["mode"].as_str() {
        user.mode = mode.into();
    }
    if let Some(enable) = body["enable"].as_bool() {
        user.enable = enable;
    }
    if let Some(comment) = body["comment"].as_str() {
        user.comment = Some(comment.into());
    }
    if let Some(name) = body["name"].as_str() {
        user.name = name.into();
    }
    if let Some(tg) = body["telegram_id"].as_i64() {
        user.telegram_id = Some(tg);
    }
}

/// The JSON body, checked as Hiddify's schema checks it, or the error to answer.
fn parsed(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Err(error(
            headers,
            StatusCode::BAD_REQUEST,
            "The browser (or proxy) sent a request that this server could not understand.",
        ));
    };
    validate(headers, &body)?;
    Ok(body)
}

fn create(s: &mut Inner, headers: &HeaderMap, body: &Bytes) -> Response {
    let body = match parsed(headers, body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    if body["name"].as_str().is_none() {
        return error(
            headers,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation error",
        );
    }
    let uuid = body["uuid"]
        .as_str()
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .map(|u| u.to_string())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if s.users.contains_key(&uuid) {
        return error(headers, StatusCode::BAD_REQUEST, "The user exists");
    }
    let id = s.next_id;
    s.next_id += 1;
    let mut user = User::new(id, uuid.clone(), String::new());
    apply(&mut user, &body);
    let answer = user.json();
    s.users.insert(uuid, user);
    axum::Json(answer).into_response()
}

fn patch(s: &mut Inner, headers: &HeaderMap, uuid: &str, body: &Bytes) -> Response {
    let body = match parsed(headers, body) {
        Ok(body) => body,
        Err(r) => return r,
    };
    let Some(user) = s.users.get_mut(uuid) else {
        return error(headers, StatusCode::NOT_FOUND, "user not found");
    };
    apply(user, &body);
    axum::Json(user.json()).into_response()
}
