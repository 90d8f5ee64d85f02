//! A fake Telegram Bot API server: real HTTP and JSON on 127.0.0.1, long-polling `getUpdates`,
//! and the checks Telegram makes (HTML entities, text length, callback data size, unknown chats),
//! answering errors in Telegram's own shape. Tests play users through [`FakeUser`].
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const BOT_ID: i64 = 5_000_000_001;
pub const BOT_USERNAME: &str = "vpnshop_test_bot";

/// What the bot did in a chat, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct BotMessage {
    pub message_id: i64,
    pub chat_id: i64,
    pub text: String,
    /// Inline keyboard rows of (label, callback data).
    pub buttons: Vec<Vec<(String, String)>>,
    /// True when this is an edit of an earlier message.
    pub edited: bool,
}

impl BotMessage {
    pub fn button_labels(&self) -> Vec<String> {
        self.buttons
            .iter()
            .flatten()
            .map(|(l, _)| l.clone())
            .collect()
    }
}

#[derive(Default)]
struct Inner {
    token: String,
    updates: Vec<(i64, Value)>,
    next_update_id: i64,
    next_message_id: i64,
    /// Chats that have talked to the bot (Telegram refuses to message others).
    known_chats: HashMap<i64, Value>,
    /// Every message the bot sent or edited, in order.
    events: Vec<BotMessage>,
    /// Every method called, with its parameters.
    calls: Vec<(String, Value)>,
    /// Callback query id → the answer's text (None for a silent answer).
    callback_answers: HashMap<String, Option<String>>,
    /// Answer the next N sends with 429 Too Many Requests.
    throttle_next: u32,
    /// Set by `setWebhook`: updates are POSTed there (in order) instead of queued for getUpdates.
    webhook: Option<Webhook>,
}

#[derive(Clone)]
struct Webhook {
    url: String,
    secret: Option<String>,
    deliver: tokio::sync::mpsc::UnboundedSender<Value>,
}

/// Posts updates to the webhook one at a time, in order, retrying while the bot does not
/// answer 2xx, as Telegram does.
fn deliverer(url: String, secret: Option<String>) -> tokio::sync::mpsc::UnboundedSender<Value> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Some(update) = rx.recv().await {
            for _ in 0..50 {
                let mut req = client.post(&url).json(&update);
                if let Some(s) = &secret {
                    req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => break,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    });
    tx
}

#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    pub addr: SocketAddr,
}

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

fn err(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        axum::Json(json!({ "ok": false, "error_code": code, "description": description })),
    )
        .into_response()
}

impl FakeTelegram {
    /// Starts the server for a bot with `token` on a free port.
    pub async fn start(token: &str) -> FakeTelegram {
        Self::start_on(token, 0).await
    }

    /// Starts the server on 127.0.0.1:`port` (0 for any free port).
    pub async fn start_on(token: &str, port: u16) -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind fake Telegram");
        let addr = listener.local_addr().unwrap();
        let fake = FakeTelegram {
            inner: Arc::new(Mutex::new(Inner {
                token: token.to_string(),
                next_update_id: 1,
                next_message_id: 1,
                ..Inner::default()
            })),
            notify: Arc::new(Notify::new()),
            addr,
        };
        let app = Router::new()
            .route("/{token}/{method}", axum::routing::post(handle).get(handle))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        fake
    }

    /// The base URL to give the bot as `telegram.api_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn user(&self, id: i64, first_name: &str, language_code: Option<&str>) -> FakeUser {
        FakeUser {
            tg: self.clone(),
            id,
            first_name: first_name.to_string(),
            language_code: language_code.map(str::to_string),
            seen: Arc::new(Mutex::new(0)),
        }
    }

    fn push_update(&self, mut update: Value) {
        let mut inner = self.inner.lock().unwrap();
        let id = inner.next_update_id;
        inner.next_update_id += 1;
        update["update_id"] = json!(id);
        if let Some(hook) = &inner.webhook {
            let _ = hook.deliver.send(update);
            return;
        }
        inner.updates.push((id, update));
        drop(inner);
        self.notify.notify_waiters();
    }

    /// Every call of `method` (case-insensitive) with its parameters.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .calls
            .iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// The webhook URL and secret the bot registered, if any.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.inner
            .lock()
            .unwrap()
            .webhook
            .as_ref()
            .map(|w| (w.url.clone(), w.secret.clone()))
    }

    pub fn callback_answer(&self, query_id: &str) -> Option<Option<String>> {
        self.inner
            .lock()
            .unwrap()
            .callback_answers
            .get(query_id)
            .cloned()
    }

    /// Makes the next `n` message sends fail with 429 and `retry_after: 1`.
    pub fn throttle_next(&self, n: u32) {
        self.inner.lock().unwrap().throttle_next = n;
    }

    fn events_for(&self, chat_id: i64) -> Vec<BotMessage> {
        self.inner
            .lock()
            .unwrap()
            .events
            .iter()
            .filter(|e| e.chat_id == chat_id)
            .cloned()
            .collect()
    }
}

/// Reads a multipart call (files, as teloxide sends `sendPhoto` and `setWebhook`): text fields
/// become parameters (JSON-looking ones parsed), files become `{"file_name", "size"}`.
async fn multipart_params(request: axum::extract::Request) -> Result<Value, Response> {
    use axum::extract::FromRequest;
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .map_err(|_| err(400, "Bad Request: can't parse multipart"))?;
    let mut out = serde_json::Map::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|_| err(400, "Bad Request: can't read multipart"))?;
        let value = match file_name {
            Some(f) => json!({ "file_name": f, "size": data.len() }),
            None => {
                let text = String::from_utf8_lossy(&data).into_owned();
                match serde_json::from_str::<Value>(&text) {
                    Ok(v @ (Value::Object(_) | Value::Array(_) | Value::Bool(_))) => v,
                    _ => Value::String(text),
                }
            }
        };
        out.insert(name, value);
    }
    Ok(Value::Object(out))
}

/// Reads the parameters of a Bot API call: JSON, a form, or a query string.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn params(headers: &HeaderMap, body: &Bytes, query: Option<&str>) -> Result<Value, Response> {
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if body.is_empty() {
        let pairs: HashMap<String, String> = query.map(serde_urlencoded_pairs).unwrap_or_default();
        return Ok(json!(pairs));
    }
    if ctype.starts_with("application/json") {
        return serde_json::from_slice(body).map_err(|_| err(400, "Bad Request: can't parse JSON"));
    }
    if ctype.starts_with("application/x-www-form-urlencoded") {
        return Ok(json!(serde_urlencoded_pairs(
            std::str::from_utf8(body).unwrap_or("")
        )));
    }
    Err(err(400, "Bad Request: unsupported content type"))
}

fn serde_urlencoded_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect()
}

async fn handle(
    State(tg): State<FakeTelegram>,
    Path((token_part, method)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    let expected = format!("bot{}", tg.inner.lock().unwrap().token);
    if token_part != expected {
        return err(401, "Unauthorized");
    }
    let ctype = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let p = if ctype.starts_with("multipart/form-data") {
        match multipart_params(request).await {
            Ok(p) => p,
            Err(r) => return r,
        }
    } else {
        let headers = request.headers().clone();
        let query = request.uri().query().map(str::to_string);
        let Ok(body) = axum::body::to_bytes(request.into_body(), 60 << 20).await else {
            return err(400, "Bad Request: request too large");
        };
        match params(&headers, &body, query.as_deref()) {
            Ok(p) => p,
            Err(r) => return r,
        }
    };
    let method = method.to_ascii_lowercase();
    tg.inner
        .lock()
        .unwrap()
        .calls
        .push((method.clone(), p.clone()));
    match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false
        })),
        "setmycommands" | "setmydescription" => ok(json!(true)),
        "setwebhook" => {
            let url = p["url"].as_str().unwrap_or_default().to_string();
            if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1")) {
                return err(
                    400,
                    "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
                );
            }
            let secret = p["secret_token"].as_str().map(str::to_string);
            let deliver = deliverer(url.clone(), secret.clone());
            let mut inner = tg.inner.lock().unwrap();
            // Updates queued for getUpdates now go to the webhook.
            for (_, u) in inner.updates.drain(..) {
                let _ = deliver.send(u);
            }
            inner.webhook = Some(Webhook {
                url,
                secret,
                deliver,
            });
            ok(json!(true))
        }
        "deletewebhook" => {
            tg.inner.lock().unwrap().webhook = None;
            ok(json!(true))
        }
        "getupdates" => {
            if tg.inner.lock().unwrap().webhook.is_some() {
                return err(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                );
            }
            get_updates(&tg, &p).await
        }
        "sendmessage" => send_message(&tg, &p, None),
        "editmessagetext" => {
            let id = p["message_id"].as_i64().unwrap_or(0);
            send_message(&tg, &p, Some(id))
        }
        "answercallbackquery" => {
            let id = p["callback_query_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let text = p["text"].as_str().map(str::to_string);
            if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
                return err(400, "Bad Request: MESSAGE_TOO_LONG");
            }
            let mut inner = tg.inner.lock().unwrap();
            if inner.callback_answers.contains_key(&id) {
                return err(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is invalid",
                );
            }
            inner.callback_answers.insert(id, text);
            ok(json!(true))
        }
        _ => err(404, "Not Found"),
    }
}

async fn get_updates(tg: &FakeTelegram, p: &Value) -> Response {
    let offset = p["offset"]
        .as_i64()
        .or_else(|| p["offset"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let timeout = p["timeout"]
        .as_u64()
        .or_else(|| p["timeout"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.min(50));
    loop {
        let notified = tg.notify.notified();
        {
            let mut inner = tg.inner.lock().unwrap();
            // Telegram forgets updates once a later offset confirms them.
            inner.updates.retain(|(id, _)| *id >= offset);
            let ready: Vec<Value> = inner
                .updates
                .iter()
                .map(|(_, u)| u.clone())
                .take(100)
                .collect();
            if !ready.is_empty() {
                return ok(json!(ready));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

/// Checks HTML the way Telegram's parser does: known tags only, properly nested, and `&` only
/// as an entity. Returns the visible text, or Telegram's error description.
pub fn parse_html(text: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    ];
    let mut visible = String::new();
    let mut stack: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        match bytes[i] {
            b'<' => {
                let end = text[i..].find('>').ok_or_else(|| {
                    format!(
                        "Bad Request: can't parse entities: Unclosed start tag at byte offset {i}"
                    )
                })? + i;
                let inner = &text[i + 1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        _ => {
                            return Err(format!(
                                "Bad Request: can't parse entities: Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                                stack.last().cloned().unwrap_or_default()
                            ));
                        }
                    }
                } else {
                    let name = inner
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Bad Request: can't parse entities: Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    stack.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let end = text[i..].find(';').map(|e| e + i);
                let entity = end.map(|e| &text[i + 1..e]);
                let decoded = match entity {
                    Some("lt") => '<',
                    Some("gt") => '>',
                    Some("amp") => '&',
                    Some("quot") => '"',
                    Some(e) if e.starts_with('#') => e[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('?'),
                    _ => {
                        return Err(format!(
                            "Bad Request: can't parse entities: Character '&' is reserved and must be escaped at byte offset {i}"
                        ));
                    }
                };
                visible.push(decoded);
                i = end.unwrap() + 1;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap();
                visible.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(visible)
}

#[allow(clippy::result_large_err)] // the error is the reply itself
fn keyboard(p: &Value) -> Result<Vec<Vec<(String, String)>>, Response> {
    let markup = match &p["reply_markup"] {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    };
    let mut rows = Vec::new();
    for row in markup["inline_keyboard"].as_array().into_iter().flatten() {
        let mut out = Vec::new();
        for b in row.as_array().into_iter().flatten() {
            let label = b["text"].as_str().unwrap_or_default().to_string();
            let data = b["callback_data"].as_str().unwrap_or_default().to_string();
            if label.is_empty() {
                return Err(err(400, "Bad Request: BUTTON_TEXT_INVALID"));
            }
            if data.len() > 64 {
                return Err(err(400, "Bad Request: BUTTON_DATA_INVALID"));
            }
            out.push((label, data));
        }
        rows.push(out);
    }
    Ok(rows)
}

fn send_message(tg: &FakeTelegram, p: &Value, edit: Option<i64>) -> Response {
    let chat_id = p["chat_id"]
        .as_i64()
        .or_else(|| p["chat_id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let raw = p["text"].as_str().unwrap_or_default().to_string();
    let html = p["parse_mode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("html"));
    let visible = if html {
        match parse_html(&raw) {
            Ok(v) => v,
            Err(description) => return err(400, &description),
        }
    } else {
        raw.clone()
    };
    if visible.trim().is_empty() {
        return err(400, "Bad Request: message text is empty");
    }
    if visible.chars().count() > 4096 {
        return err(400, "Bad Request: message is too long");
    }
    let buttons = match keyboard(p) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut inner = tg.inner.lock().unwrap();
    let Some(chat) = inner.known_chats.get(&chat_id).cloned() else {
        return err(400, "Bad Request: chat not found");
    };
    if inner.throttle_next > 0 {
        inner.throttle_next -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } })),
        )
            .into_response();
    }
    let message_id = match edit {
        Some(id) => {
            let Some(previous) = inner
                .events
                .iter()
                .rev()
                .find(|e| e.chat_id == chat_id && e.message_id == id)
                .cloned()
            else {
                return err(400, "Bad Request: message to edit not found");
            };
            if previous.text == visible && previous.buttons == buttons {
                return err(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                );
            }
            id
        }
        None => {
            let id = inner.next_message_id;
            inner.next_message_id += 1;
            id
        }
    };
    inner.events.push(BotMessage {
        message_id,
        chat_id,
        text: visible.clone(),
        buttons,
        edited: edit.is_some(),
    });
    let mut message = json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": chat,
        "from": { "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME },
        "text": visible,
    });
    if edit.is_some() {
        message["edit_date"] = json!(chrono::Utc::now().timestamp());
    }
    if !p["reply_markup"].is_null() {
        message["reply_markup"] = match &p["reply_markup"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
    }
    ok(message)
}

/// A person talking to the bot in a private chat.
#[derive(Clone)]
pub struct FakeUser {
    tg: FakeTelegram,
    pub id: i64,
    pub first_name: String,
    pub language_code: Option<String>,
    /// How many of the chat's bot messages this user has already read.
    seen: Arc<Mutex<usize>>,
}

impl FakeUser {
    fn sender_json(&self) -> Value {
        let mut from = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name });
        if let Some(l) = &self.language_code {
            from["language_code"] = json!(l);
        }
        from
    }

    fn chat_json(&self) -> Value {
        json!({ "id": self.id, "type": "private", "first_name": self.first_name })
    }

    /// Sends a text message (a command is just text starting with `/`).
    pub fn send(&self, text: &str) {
        let chat = self.chat_json();
        let message_id = {
            let mut inner = self.tg.inner.lock().unwrap();
            inner.known_chats.insert(self.id, chat.clone());
            let id = inner.next_message_id;
            inner.next_message_id += 1;
            id
        };
        let mut message = json!({
            "message_id": message_id,
            "date": chrono::Utc::now().timestamp(),
            "chat": chat,
            "from": self.sender_json(),
            "text": text,
        });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
        }
        self.tg.push_update(json!({ "message": message }));
    }

    /// Sends a sticker: something that is not text where text may be expected.
    pub fn send_sticker(&self) {
        let chat = self.chat_json();
        self.tg
            .inner
            .lock()
            .unwrap()
            .known_chats
            .insert(self.id, chat.clone());
        self.tg.push_update(json!({ "message": {
            "message_id": 900_000 + self.id % 1000,
            "date": chrono::Utc::now().timestamp(),
            "chat": chat,
            "from": self.sender_json(),
            "sticker": { "file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false }
        }}));
    }

    /// Presses the button whose label contains `label` on `message`. Returns the callback
    /// query id, to look up how the bot answered it.
    pub fn press(&self, message: &BotMessage, label: &str) -> String {
        let data = message
            .buttons
            .iter()
            .flatten()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| {
                panic!(
                    "no button {label:?} on {:?}; buttons: {:?}",
                    message.text,
                    message.button_labels()
                )
            })
            .1
            .clone();
        self.press_data(message.message_id, &data)
    }

    /// Sends a callback query with arbitrary data, as a forged or stale button would.
    pub fn press_data(&self, message_id: i64, data: &str) -> String {
        let query_id = format!("{}-{}", self.id, uuid::Uuid::new_v4().simple());
        self.tg.push_update(json!({ "callback_query": {
            "id": query_id,
            "from": self.sender_json(),
            "chat_instance": format!("ci{}", self.id),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": chrono::Utc::now().timestamp(),
                "chat": self.chat_json(),
                "from": { "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME },
                "text": "…"
            }
        }}));
        query_id
    }

    /// Waits (up to 10 s) for the next message the bot sends or edits in this chat.
    pub async fn next(&self) -> BotMessage {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            {
                let events = self.tg.events_for(self.id);
                let mut seen = self.seen.lock().unwrap();
                if events.len() > *seen {
                    *seen += 1;
                    return events[*seen - 1].clone();
                }
            }
            if tokio::time::Instant::now() > deadline {
                let events = self.tg.events_for(self.id);
                panic!(
                    "the bot sent nothing more to {} within 10 s; so far: {:#?}",
                    self.id, events
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits, without limit, for the next message the bot sends or edits in this chat.
    pub async fn next_quiet(&self) -> BotMessage {
        loop {
            {
                let events = self.tg.events_for(self.id);
                let mut seen = self.seen.lock().unwrap();
                if events.len() > *seen {
                    *seen += 1;
                    return events[*seen - 1].clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the answer to a button press.
    pub async fn answer_to(&self, query_id: &str) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = self.tg.callback_answer(query_id) {
                return a;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not answer callback {query_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that the bot says nothing more for a short while.
    pub async fn expect_silence(&self) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let events = self.tg.events_for(self.id);
        let seen = *self.seen.lock().unwrap();
        assert_eq!(
            events.len(),
            seen,
            "unexpected messages: {:#?}",
            &events[seen..]
        );
    }
}
