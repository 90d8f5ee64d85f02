//! A fake 3x-UI 2.9: everything under a web base path, `POST login` (form or JSON) always
//! answering HTTP 200, a `3x-ui` session cookie that expires, a bare 404 for API calls without
//! a live session, `{success, msg, obj}` envelopes with `success:false` on HTTP 200, clients
//! inside each inbound's `settings` JSON string, emails unique across inbounds, traffic kept
//! apart in client stats. `three_x()` makes it answer like 3.x (CSRF token route).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::{Faults, random_hex, serve};

pub const USERNAME: &str = "admin";
pub const PASSWORD: &str = "xui-pass";
/// The inbound new clients go to.
pub const INBOUND_ID: i64 = 1;

#[derive(Clone)]
pub struct FakeXUi {
    /// `http://127.0.0.1:port/<base path>/`.
    pub url: String,
    /// The subscription server's address, as the operator configures it.
    pub sub_url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
}

struct Inner {
    base: String,
    sessions: HashSet<String>,
    inbounds: Vec<Inbound>,
    version3: bool,
    /// Calls that returned whole inbounds (`get/:id`, `list`), each with every client.
    inbound_reads: u64,
}

struct Inbound {
    id: i64,
    remark: String,
    protocol: String,
    port: u16,
    /// Exactly what was sent, unknown fields included.
    clients: Vec<Map<String, Value>>,
    stats: Vec<Traffic>,
}

#[derive(Clone)]
struct Traffic {
    id: i64,
    inbound_id: i64,
    enable: bool,
    email: String,
    up: u64,
    down: u64,
    expiry_time: i64,
    total: u64,
    last_online: i64,
}

impl Traffic {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "inboundId": self.inbound_id, "enable": self.enable,
            "email": self.email, "up": self.up, "down": self.down, "allTime": self.up + self.down,
            "expiryTime": self.expiry_time, "total": self.total, "reset": 0,
            "lastOnline": self.last_online,
        })
    }
}

impl Inbound {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "up": 0, "down": 0, "total": 0, "allTime": 0,
            "remark": self.remark, "enable": true, "expiryTime": 0,
            "trafficReset": "never", "lastTrafficResetTime": 0,
            "clientStats": self.stats.iter().map(Traffic::json).collect::<Vec<_>>(),
            "listen": "", "port": self.port, "protocol": self.protocol,
            // A JSON document inside a string, as 3x-UI stores it.
            "settings": json!({"clients": self.clients, "decryption": "none", "fallbacks": []}).to_string(),
            "streamSettings": json!({"network": "tcp", "security": "reality"}).to_string(),
            "tag": format!("inbound-{}", self.port),
            "sniffing": json!({"enabled": false}).to_string(),
        })
    }

    fn key_field(&self) -> &'static str {
        match self.protocol.as_str() {
            "trojan" => "password",
            "shadowsocks" => "email",
            _ => "id",
        }
    }
}

fn msg(success: bool, text: &str, obj: Value) -> Response {
    axum::Json(json!({"success": success, "msg": text, "obj": obj})).into_response()
}

/// 3x-UI's failure text: the action, then the error in parentheses with `Sprintln`'s newline.
fn failed(action: &str, err: &str) -> Response {
    msg(false, &format!("{action} ({err}\n)"), Value::Null)
}

fn email_of(c: &Map<String, Value>) -> String {
    c.get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

impl FakeXUi {
    pub async fn start() -> FakeXUi {
        crate::app::never_log(PASSWORD);
        let base = format!("/xui{}/", &random_hex()[..6]);
        let default_client: Map<String, Value> = json!({
            "id": uuid::Uuid::new_v4().to_string(), "flow": "", "email": "owner-phone",
            "limitIp": 0, "totalGB": 0, "expiryTime": 0, "enable": true, "tgId": "",
            "subId": "ownerphone000001", "comment": "", "reset": 0,
        })
        .as_object()
        .cloned()
        .unwrap();
        let state = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            sessions: HashSet::new(),
            inbounds: vec![
                Inbound {
                    id: INBOUND_ID,
                    remark: "reality".into(),
                    protocol: "vless".into(),
                    port: 443,
                    clients: vec![default_client],
                    stats: vec![Traffic {
                        id: 1,
                        inbound_id: INBOUND_ID,
                        enable: true,
                        email: "owner-phone".into(),
                        up: 0,
                        down: 0,
                        expiry_time: 0,
                        total: 0,
                        last_online: 0,
                    }],
                },
                Inbound {
                    id: 2,
                    remark: "trojan-ws".into(),
                    protocol: "trojan".into(),
                    port: 8443,
                    clients: Vec::new(),
                    stats: Vec::new(),
                },
            ],
            version3: false,
            inbound_reads: 0,
        }));
        let faults = Faults::default();
        let app = Router::new().fallback(route).with_state(state.clone());
        let addr = serve(app, faults.clone()).await;
        FakeXUi {
            url: format!("http://{addr}{base}"),
            sub_url: format!("http://{addr}:2096/sub/"),
            faults,
            state,
        }
    }

    /// Every session cookie stops working (they lived their `sessionMaxAge`).
    pub fn expire_sessions(&self) {
        self.state.lock().unwrap().sessions.clear();
    }

    /// Answer like 3x-UI 3.x: a CSRF token route, and login demands the token.
    pub fn three_x(&self) {
        self.state.lock().unwrap().version3 = true;
    }

    /// The customer used traffic.
    pub fn use_traffic(&self, email: &str, bytes: u64) {
        let mut s = self.state.lock().unwrap();
        for inbound in &mut s.inbounds {
            for t in &mut inbound.stats {
                if t.email.eq_ignore_ascii_case(email) {
                    t.down += bytes;
                    t.last_online = Utc::now().timestamp_millis();
                    if t.total > 0 && t.up + t.down >= t.total {
                        t.enable = false;
                    }
                    return;
                }
            }
        }
        panic!("no such client {email}");
    }

    /// How many calls returned whole inbounds with every client's settings.
    pub fn inbound_reads(&self) -> u64 {
        self.state.lock().unwrap().inbound_reads
    }

    /// Clients on every inbound, the operator's own included.
    pub fn client_count(&self) -> usize {
        let s = self.state.lock().unwrap();
        s.inbounds.iter().map(|i| i.clients.len()).sum()
    }

    /// Adds a client the operator made by hand.
    pub fn add_foreign(&self, email: &str) {
        let mut s = self.state.lock().unwrap();
        let id = s.inbounds.iter().map(|i| i.stats.len() as i64).sum::<i64>() + 1;
        let inbound = &mut s.inbounds[0];
        inbound.clients.push(
            json!({"id": uuid::Uuid::new_v4().to_string(), "email": email, "enable": true, "totalGB": 0, "expiryTime": 0, "subId": random_hex()})
                .as_object()
                .cloned()
                .unwrap(),
        );
        inbound.stats.push(Traffic {
            id,
            inbound_id: inbound.id,
            enable: true,
            email: email.into(),
            up: 0,
            down: 0,
            expiry_time: 0,
            total: 0,
            last_online: 0,
        });
    }
}

type St = State<Arc<Mutex<Inner>>>;

/// gin's `ShouldBind`: JSON or a form, by content type.
fn fields(headers: &HeaderMap, body: &Bytes) -> Map<String, Value> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if json {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    }
}

async fn route(State(state): St, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let method = parts.method;
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut s = state.lock().unwrap();
    let Some(path) = parts
        .uri
        .path()
        .strip_prefix(s.base.as_str())
        .map(str::to_string)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match (method.clone(), path.as_str()) {
        (Method::GET, "") => return (StatusCode::OK, "<html>3x-ui login</html>").into_response(),
        (Method::GET, "csrf-token") if s.version3 => {
            return msg(true, "", json!(random_hex()));
        }
        (Method::POST, "login") => {
            if s.version3 && !headers.contains_key("X-CSRF-Token") {
                return StatusCode::FORBIDDEN.into_response();
            }
            let f = fields(&headers, &body);
            let field = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            if field("username").is_empty() {
                return msg(false, "Please enter username", Value::Null);
            }
            if field("username") != USERNAME || field("password") != PASSWORD {
                return msg(
                    false,
                    "Invalid username or password or two-factor code.",
                    Value::Null,
                );
            }
            let session = random_hex();
            crate::app::never_log(&session);
            s.sessions.insert(session.clone());
            let cookie = format!(
                "3x-ui={session}; Path={}; Max-Age=21600; HttpOnly; SameSite=Lax",
                s.base
            );
            let mut r = msg(
                true,
                " You have successfully logged into your account.",
                Value::Null,
            );
            r.headers_mut()
                .insert(header::SET_COOKIE, cookie.parse().unwrap());
            return r;
        }
        _ => {}
    }
    let Some(api) = path.strip_prefix("panel/api/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let live = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().strip_prefix("3x-ui="))
        .any(|c| s.sessions.contains(c));
    if !live {
        // Since 2.8.4 a logged-out API call looks like a missing page.
        return StatusCode::NOT_FOUND.into_response();
    }
    let segments: Vec<&str> = api.split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["server", "status"]) => msg(
            true,
            "",
            json!({
                "cpu": 2.5, "cpuCores": 2, "logicalPro": 2, "cpuSpeedMhz": 2400.0,
                "mem": {"current": 500_000_000u64, "total": 2_000_000_000u64},
                "xray": {"state": "running", "errorMsg": "", "version": "25.1.30"},
                "uptime": 1000, "loads": [0.1, 0.1, 0.1], "tcpCount": 10, "udpCount": 2,
            }),
        ),
        (Method::GET, ["inbounds", "list"]) => {
            s.inbound_reads += 1;
            msg(
                true,
                "",
                Value::Array(s.inbounds.iter().map(Inbound::json).collect()),
            )
        }
        (Method::GET, ["inbounds", "get", id]) => {
            s.inbound_reads += 1;
            match s.inbounds.iter().find(|i| id.parse() == Ok(i.id)) {
                Some(i) => msg(true, "", i.json()),
                None => failed("Obtain", "record not found").into_response(),
            }
        }
        (Method::GET, ["inbounds", "getClientTraffics", email]) => {
            let t = s
                .inbounds
                .iter()
                .flat_map(|i| &i.stats)
                .find(|t| t.email.eq_ignore_ascii_case(email));
            // An unknown email is still a success, with no object.
            msg(true, "", t.map_or(Value::Null, Traffic::json))
        }
        (Method::GET, ["inbounds", "getClientTrafficsById", id]) => {
            // Every client whose `id` field is this uuid, in any inbound.
            let found: Vec<Value> = s
                .inbounds
                .iter()
                .flat_map(|i| {
                    i.clients
                        .iter()
                        .filter(|c| c.get("id").and_then(Value::as_str) == Some(*id))
                        .filter_map(|c| {
                            let email = email_of(c);
                            i.stats
                                .iter()
                                .find(|t| t.email.eq_ignore_ascii_case(&email))
                        })
                })
                .map(Traffic::json)
                .collect();
            msg(true, "", Value::Array(found))
        }
        (Method::POST, ["inbounds", "addClient"]) => add_client(&mut s, &fields(&headers, &body)),
        (Method::POST, ["inbounds", "updateClient", key]) => {
            let key = key.to_string();
            update_client(&mut s, &key, &fields(&headers, &body))
        }
        (Method::POST, ["inbounds", id, "delClient", key]) => {
            let Some(inbound) = s.inbounds.iter_mut().find(|i| id.parse() == Ok(i.id)) else {
                return failed("Something went wrong", "record not found");
            };
            let field = inbound.key_field();
            let Some(pos) = inbound
                .clients
                .iter()
                .position(|c| c.get(field).and_then(Value::as_str) == Some(*key))
            else {
                return failed(
                    "Something went wrong",
                    &format!("Client Not Found In Inbound For ID: {key}"),
                );
            };
            if inbound.clients.len() == 1 {
                return failed("Something went wrong", "no client remained in Inbound");
            }
            let email = email_of(&inbound.clients.remove(pos));
            inbound
                .stats
                .retain(|t| !t.email.eq_ignore_ascii_case(&email));
            msg(true, "Inbound client has been deleted.", Value::Null)
        }
        (Method::POST, ["inbounds", id, "resetClientTraffic", email]) => {
            let Some(inbound) = s.inbounds.iter_mut().find(|i| id.parse() == Ok(i.id)) else {
                return failed("Something went wrong", "record not found");
            };
            match inbound
                .stats
                .iter_mut()
                .find(|t| t.email.eq_ignore_ascii_case(email))
            {
                Some(t) => {
                    t.up = 0;
                    t.down = 0;
                    t.enable = true;
                    msg(true, "Traffic has been reset.", Value::Null)
                }
                // 2.9 dereferences a nil pointer here; gin's recovery answers 500.
                None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        (Method::POST, ["inbounds", "onlines"]) => msg(true, "", Value::Null),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The one client a `settings` string carries, or the failure to send.
fn clients_in(f: &Map<String, Value>) -> Result<Vec<Map<String, Value>>, Response> {
    let settings = f.get("settings").and_then(Value::as_str).unwrap_or("");
    let parsed: Value = serde_json::from_str(settings)
        .map_err(|e| failed("Something went wrong", &e.to_string()))?;
    Ok(parsed["clients"]
        .as_array()
        .map(|l| l.iter().filter_map(|c| c.as_object().cloned()).collect())
        .unwrap_or_default())
}

fn inbound_id(f: &Map<String, Value>) -> Option<i64> {
    match f.get("id") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn add_client(s: &mut Inner, f: &Map<String, Value>) -> Response {
    let clients = match clients_in(f) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let taken: HashSet<String> = s
        .inbounds
        .iter()
        .flat_map(|i| i.clients.iter().map(|c| email_of(c).to_lowercase()))
        .collect();
    for c in &clients {
        let email = email_of(c);
        if taken.contains(&email.to_lowercase()) {
            return failed("Something went wrong", &format!("Duplicate email: {email}"));
        }
    }
    let next_stat_id = s
        .inbounds
        .iter()
        .flat_map(|i| &i.stats)
        .map(|t| t.id)
        .max()
        .unwrap_or(0)
        + 1;
    let Some(inbound) = s.inbounds.iter_mut().find(|i| inbound_id(f) == Some(i.id)) else {
        return failed("Something went wrong", "record not found");
    };
    let field = inbound.key_field();
    for (n, c) in clients.into_iter().enumerate() {
        if c.get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return failed("Something went wrong", "empty client ID");
        }
        let int = |k: &str| c.get(k).and_then(Value::as_i64).unwrap_or(0);
        inbound.stats.push(Traffic {
            id: next_stat_id + n as i64,
            inbound_id: inbound.id,
            enable: c.get("enable").and_then(Value::as_bool).unwrap_or(true),
            email: email_of(&c),
            up: 0,
            down: 0,
            expiry_time: int("expiryTime"),
            total: int("totalGB").max(0) as u64,
            last_online: 0,
        });
        inbound.clients.push(c);
    }
    msg(true, "Inbound client(s) have been added.", Value::Null)
}

fn update_client(s: &mut Inner, key: &str, f: &Map<String, Value>) -> Response {
    let clients = match clients_in(f) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let [client] = clients.as_slice() else {
        return failed("Something went wrong", "must update exactly one client");
    };
    let Some(inbound) = s.inbounds.iter_mut().find(|i| inbound_id(f) == Some(i.id)) else {
        return failed("Something went wrong", "record not found");
    };
    let field = inbound.key_field();
    let Some(pos) = inbound
        .clients
        .iter()
        .position(|c| c.get(field).and_then(Value::as_str) == Some(key))
    else {
        return failed(
            "Something went wrong",
            &format!("Client Not Found In Inbound For ID: {key}"),
        );
    };
    let old_email = email_of(&inbound.clients[pos]);
    inbound.clients[pos] = client.clone();
    let int = |k: &str| client.get(k).and_then(Value::as_i64).unwrap_or(0);
    if let Some(t) = inbound
        .stats
        .iter_mut()
        .find(|t| t.email.eq_ignore_ascii_case(&old_email))
    {
        t.email = email_of(client);
        t.total = int("totalGB").max(0) as u64;
        t.expiry_time = int("expiryTime");
        t.enable = client
            .get("enable")
            .and_then(Value::as_bool)
            .unwrap_or(true);
    }
    msg(true, "Inbound client has been updated.", Value::Null)
}
