//! A fake Telegram Bot API server: real HTTP and JSON on 127.0.0.1, long-polling `getUpdates`,
//! and the checks Telegram makes (HTML entities, text length, callback data size, unknown chats,
//! photo uploads, Telegram Stars invoices), answering errors in Telegram's own shape. Tests play
//! users through [`FakeUser`] and the groups the bot posts in through [`FakeGroup`].
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
    /// Set for `sendPhoto`; `text` is then the visible caption ("" without one).
    pub photo: Option<Photo>,
    /// Set for `sendInvoice`; `text` is then "{title}\n{description}".
    pub invoice: Option<Invoice>,
    /// The message this one replies to (`reply_parameters.message_id` or `reply_to_message_id`).
    pub reply_to: Option<i64>,
}

/// A photo the bot sent, or one a user sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Photo {
    /// Size of the uploaded file (for a file_id sent again, of the file it names).
    pub bytes: usize,
    pub is_png: bool,
    /// The id Telegram gave the file, which the bot may send again instead of uploading. Its
    /// file_unique_id is the same with "AQAD" for the leading "AgAC".
    pub file_id: String,
}

/// A Telegram Stars invoice the bot sent, for [`FakeUser::pay`].
#[derive(Clone, Debug, PartialEq)]
pub struct Invoice {
    pub message_id: i64,
    pub chat_id: i64,
    pub title: String,
    pub description: String,
    /// The bot's own payload, handed back in the pre-checkout query and the payment.
    pub payload: String,
    pub currency: String,
    pub total_amount: i64,
}

/// How [`FakeUser::pay`] ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Payment {
    /// The bot accepted the pre-checkout query and Telegram sent it `successful_payment`.
    Paid { charge_id: String },
    /// The bot refused the pre-checkout query; the user saw this message.
    Refused { error_message: String },
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
    /// Every message the bot sent or edited, in order, by chat.
    events: HashMap<i64, Vec<BotMessage>>,
    /// Every method called, with its parameters (unless `forget_calls` was said).
    calls: Vec<(String, Value)>,
    /// Set by a benchmark that makes millions of calls: keep none of them.
    forget_calls: bool,
    /// Woken when the bot sends or edits a message in their chat, so whoever waits for it
    /// reads it at once.
    wakers: HashMap<i64, Arc<Notify>>,
    /// Callback query id → the answer's text (None for a silent answer).
    callback_answers: HashMap<String, Option<String>>,
    /// Answer the next N sends with 429 Too Many Requests.
    throttle_next: u32,
    /// Sends to these chats still to fail with 502, as Telegram does on a bad day.
    failing_chats: HashMap<i64, u32>,
    /// Groups the bot was removed from (it may not post there any more).
    left_groups: std::collections::HashSet<i64>,
    /// Users who blocked the bot.
    blocked: std::collections::HashSet<i64>,
    /// Set by `setWebhook`: updates are POSTed there (in order) instead of queued for getUpdates.
    webhook: Option<Webhook>,
    /// Photos by file_id: those the bot uploaded and those users sent, which the bot may reuse.
    photos: HashMap<String, Photo>,
    /// Pre-checkout query id → the bot's answer (None until it answers; it may answer once).
    pre_checkouts: HashMap<String, Option<Result<(), String>>>,
    /// Star payment charge id → the user who paid it: the only charges a refund may name.
    charges: HashMap<String, i64>,
    /// Refunded charges as (user id, charge id), in order.
    refunds: Vec<(i64, String)>,
    /// The bot's Star transactions, oldest first, as `getStarTransactions` returns them.
    star_transactions: Vec<Value>,
}

impl Inner {
    /// Telegram numbers messages in order; this fake shares one counter among all chats.
    fn new_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }
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

    /// A supergroup the bot is a member of, and so may post in (the staff group, say); use a
    /// negative `chat_id` as Telegram does.
    pub fn group(&self, chat_id: i64, title: &str) -> FakeGroup {
        let chat = json!({ "id": chat_id, "type": "supergroup", "title": title });
        self.inner.lock().unwrap().known_chats.insert(chat_id, chat);
        FakeGroup {
            tg: self.clone(),
            chat_id,
            seen: Arc::new(Mutex::new(0)),
        }
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

    /// Star payments the bot refunded, as (user id, telegram_payment_charge_id), in order.
    /// A Stars payment the bot received that vpnshop never invoiced (a previous bot's sale,
    /// another service on the same token): a charge and its Star transaction. Returns the
    /// charge id.
    pub fn star_payment_from_elsewhere(&self, user_id: i64, amount: i64, payload: &str) -> String {
        let charge_id = format!("stxELSE{}", uuid::Uuid::new_v4().simple());
        let mut inner = self.inner.lock().unwrap();
        inner.charges.insert(charge_id.clone(), user_id);
        inner.star_transactions.push(json!({
            "id": charge_id,
            "amount": amount,
            "date": chrono::Utc::now().timestamp(),
            "source": { "type": "user", "transaction_type": "invoice_payment",
                        "user": { "id": user_id, "is_bot": false, "first_name": "someone" },
                        "invoice_payload": payload },
        }));
        charge_id
    }

    pub fn refunds(&self) -> Vec<(i64, String)> {
        self.inner.lock().unwrap().refunds.clone()
    }

    /// The bot is removed from group `chat_id`, as an admin of the group might do.
    pub fn remove_bot_from(&self, chat_id: i64) {
        self.inner.lock().unwrap().left_groups.insert(chat_id);
    }

    /// The bot is added to group `chat_id` again.
    pub fn readd_bot_to(&self, chat_id: i64) {
        self.inner.lock().unwrap().left_groups.remove(&chat_id);
    }

    /// Makes the next `n` sends to `chat_id` fail with 502 Bad Gateway (nothing delivered).
    pub fn fail_next_sends_to(&self, chat_id: i64, n: u32) {
        self.inner.lock().unwrap().failing_chats.insert(chat_id, n);
    }

    /// Makes the next `n` message sends fail with 429 and `retry_after: 1`.
    pub fn throttle_next(&self, n: u32) {
        self.inner.lock().unwrap().throttle_next = n;
    }

    fn events_for(&self, chat_id: i64) -> Vec<BotMessage> {
        let inner = self.inner.lock().unwrap();
        inner.events.get(&chat_id).cloned().unwrap_or_default()
    }

    /// The `n`-th message (from 0) the bot sent or edited in `chat_id`, if it has come.
    fn event_at(&self, chat_id: i64, n: usize) -> Option<BotMessage> {
        let inner = self.inner.lock().unwrap();
        inner.events.get(&chat_id).and_then(|e| e.get(n)).cloned()
    }

    /// What wakes whoever waits for the bot's next message in `chat_id`.
    fn waker(&self, chat_id: i64) -> Arc<Notify> {
        let mut inner = self.inner.lock().unwrap();
        inner.wakers.entry(chat_id).or_default().clone()
    }

    /// How many chats the bot has sent at least one message to.
    pub fn chats_answered(&self) -> usize {
        self.inner.lock().unwrap().events.len()
    }

    /// Stops keeping a record of every call (for a benchmark: [`FakeTelegram::calls`] then
    /// sees only what came before).
    pub fn forget_calls(&self) {
        self.inner.lock().unwrap().forget_calls = true;
    }

    /// How many updates were queued for the bot and not yet fetched by `getUpdates`.
    pub fn pending_updates(&self) -> usize {
        self.inner.lock().unwrap().updates.len()
    }
}

/// Reads a multipart call (files, as teloxide sends `sendPhoto` and `setWebhook`): text fields
/// become parameters (JSON-looking ones parsed), files become `{"file_name", "size", "magic"}`,
/// the magic being the hex of the first 8 bytes, which tell the file's format.
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
            Some(f) => {
                let magic: String = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
                json!({ "file_name": f, "size": data.len(), "magic": magic })
            }
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

/// An integer parameter: a JSON number, or text in a form.
fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A boolean parameter: JSON `true`, or "true"/"1" in a form.
fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("true") || s == "1")
    })
}

/// A JSON-serialized parameter (reply_markup, prices, …): JSON itself, or a string of it in a form.
fn json_param(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    }
}

/// The message a send replies to: `reply_parameters.message_id`, or the older
/// `reply_to_message_id`.
fn replied_id(p: &Value) -> Option<i64> {
    int(&json_param(&p["reply_parameters"])["message_id"])
        .or_else(|| int(&p["reply_to_message_id"]))
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
    {
        let mut inner = tg.inner.lock().unwrap();
        if !inner.forget_calls {
            inner.calls.push((method.clone(), p.clone()));
        }
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false
        })),
        "setmycommands" | "setmydescription" => ok(json!(true)),
        "getchat" => {
            let id = int(&p["chat_id"]).unwrap_or(0);
            let inner = tg.inner.lock().unwrap();
            match inner.known_chats.get(&id) {
                // A group the bot left is not visible to it any more.
                Some(_) if inner.left_groups.contains(&id) => {
                    err(403, "Forbidden: bot was kicked from the supergroup chat")
                }
                Some(chat) => {
                    let mut full = chat.clone();
                    full["accent_color_id"] = json!(0);
                    full["max_reaction_count"] = json!(11);
                    full["accepted_gift_types"] = json!({
                        "unlimited_gifts": false, "limited_gifts": false,
                        "unique_gifts": false, "premium_subscription": false
                    });
                    ok(full)
                }
                None => err(400, "Bad Request: chat not found"),
            }
        }
        "getchatmember" => {
            let chat = int(&p["chat_id"]).unwrap_or(0);
            let user = int(&p["user_id"]).unwrap_or(0);
            let inner = tg.inner.lock().unwrap();
            if !inner.known_chats.contains_key(&chat) {
                return err(400, "Bad Request: chat not found");
            }
            let status = if user == BOT_ID && inner.left_groups.contains(&chat) {
                "left"
            } else {
                "member"
            };
            ok(json!({ "status": status, "user": bot_user() }))
        }
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
        "sendmessage" => send_message(&tg, &p, None).into_response(),
        "editmessagetext" => {
            let id = int(&p["message_id"]).unwrap_or(0);
            send_message(&tg, &p, Some(id)).into_response()
        }
        "sendphoto" => send_photo(&tg, &p).into_response(),
        "editmessagecaption" => edit_caption(&tg, &p).into_response(),
        "sendinvoice" => send_invoice(&tg, &p).into_response(),
        "answerprecheckoutquery" => answer_pre_checkout_query(&tg, &p).into_response(),
        "refundstarpayment" => refund_star_payment(&tg, &p).into_response(),
        "getstartransactions" => get_star_transactions(&tg, &p).into_response(),
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
    let offset = int(&p["offset"]).unwrap_or(0);
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
    let mut rows = Vec::new();
    for row in json_param(&p["reply_markup"])["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let mut out = Vec::new();
        for b in row.as_array().into_iter().flatten() {
            let label = b["text"].as_str().unwrap_or_default().to_string();
            // A URL button keeps its URL where a callback button keeps its data.
            let data = b["callback_data"]
                .as_str()
                .or(b["url"].as_str())
                .unwrap_or_default()
                .to_string();
            if label.is_empty() {
                return Err(err(400, "Bad Request: BUTTON_TEXT_INVALID"));
            }
            if b["callback_data"].as_str().is_some_and(|d| d.len() > 64) {
                return Err(err(400, "Bad Request: BUTTON_DATA_INVALID"));
            }
            if b["url"].as_str().is_some_and(|u| !u.starts_with("http")) {
                return Err(err(400, "Bad Request: BUTTON_URL_INVALID"));
            }
            out.push((label, data));
        }
        rows.push(out);
    }
    Ok(rows)
}

/// The visible text of `raw` (a message text or a caption) under the call's `parse_mode`,
/// HTML checked as Telegram does.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn visible_text(p: &Value, raw: &str) -> Result<String, Response> {
    let html = p["parse_mode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("html"));
    if html {
        parse_html(raw).map_err(|description| err(400, &description))
    } else {
        Ok(raw.to_string())
    }
}

/// What every send goes through: Telegram refuses chats that never talked to the bot, and
/// `throttle_next` answers 429. Returns the chat.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn admit(inner: &mut Inner, chat_id: i64) -> Result<Value, Response> {
    let chat = inner
        .known_chats
        .get(&chat_id)
        .cloned()
        .ok_or_else(|| err(400, "Bad Request: chat not found"))?;
    if inner.blocked.contains(&chat_id) {
        return Err(err(403, "Forbidden: bot was blocked by the user"));
    }
    if let Some(n) = inner.failing_chats.get_mut(&chat_id)
        && *n > 0
    {
        *n -= 1;
        return Err(err(502, "Bad Gateway"));
    }
    if inner.throttle_next > 0 {
        inner.throttle_next -= 1;
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({ "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": { "retry_after": 1 } })),
        )
            .into_response());
    }
    Ok(chat)
}

fn bot_user() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME })
}

fn new_file_id() -> String {
    format!("AgAC{}", uuid::Uuid::new_v4().simple())
}

/// A PhotoSize of `photo`, `side` pixels square.
fn photo_size(photo: &Photo, side: u32) -> Value {
    let unique = photo.file_id.strip_prefix("AgAC").unwrap_or(&photo.file_id);
    json!({
        "file_id": photo.file_id, "file_unique_id": format!("AQAD{unique}"),
        "width": side, "height": side, "file_size": photo.bytes
    })
}

/// The Message object Telegram returns for what the bot sent, and quotes in replies to it.
fn message_json(m: &BotMessage, chat: &Value) -> Value {
    let mut message = json!({
        "message_id": m.message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": chat,
        "from": bot_user(),
    });
    if let Some(photo) = &m.photo {
        message["photo"] = json!([photo_size(photo, 512)]);
        if !m.text.is_empty() {
            message["caption"] = json!(m.text);
        }
    } else if let Some(i) = &m.invoice {
        message["invoice"] = json!({
            "title": i.title, "description": i.description, "start_parameter": "",
            "currency": i.currency, "total_amount": i.total_amount
        });
    } else {
        message["text"] = json!(m.text);
    }
    if m.edited {
        message["edit_date"] = json!(chrono::Utc::now().timestamp());
    }
    message
}

/// Records what the bot sent and answers with the Message, keyboard included.
fn record(inner: &mut Inner, m: BotMessage, chat: &Value, p: &Value) -> Response {
    let mut message = message_json(&m, chat);
    let markup = json_param(&p["reply_markup"]);
    if !markup.is_null() {
        message["reply_markup"] = markup;
    }
    if let Some(waker) = inner.wakers.get(&m.chat_id) {
        waker.notify_waiters();
    }
    inner.events.entry(m.chat_id).or_default().push(m);
    ok(message)
}

#[allow(clippy::result_large_err)] // the error is the reply itself
fn send_message(tg: &FakeTelegram, p: &Value, edit: Option<i64>) -> Result<Response, Response> {
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    let visible = visible_text(p, p["text"].as_str().unwrap_or_default())?;
    if visible.trim().is_empty() {
        return Err(err(400, "Bad Request: message text is empty"));
    }
    if visible.chars().count() > 4096 {
        return Err(err(400, "Bad Request: message is too long"));
    }
    let buttons = keyboard(p)?;
    let mut inner = tg.inner.lock().unwrap();
    let chat = admit(&mut inner, chat_id)?;
    let (message_id, reply_to) = match edit {
        Some(id) => {
            let previous = inner
                .events
                .get(&chat_id)
                .and_then(|e| e.iter().rev().find(|e| e.message_id == id))
                .cloned()
                .ok_or_else(|| err(400, "Bad Request: message to edit not found"))?;
            if previous.photo.is_some() || previous.invoice.is_some() {
                return Err(err(
                    400,
                    "Bad Request: there is no text in the message to edit",
                ));
            }
            if previous.text == visible && previous.buttons == buttons {
                return Err(err(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                ));
            }
            (id, previous.reply_to)
        }
        None => (inner.new_message_id(), replied_id(p)),
    };
    let message = BotMessage {
        message_id,
        chat_id,
        text: visible,
        buttons,
        edited: edit.is_some(),
        photo: None,
        invoice: None,
        reply_to,
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `editMessageCaption`: a new caption (and keyboard) for a photo the bot sent.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn edit_caption(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    let id = int(&p["message_id"]).unwrap_or(0);
    let caption = visible_text(p, p["caption"].as_str().unwrap_or_default())?;
    if caption.chars().count() > 1024 {
        return Err(err(400, "Bad Request: message caption is too long"));
    }
    let buttons = keyboard(p)?;
    let mut inner = tg.inner.lock().unwrap();
    let chat = admit(&mut inner, chat_id)?;
    let previous = inner
        .events
        .get(&chat_id)
        .and_then(|e| e.iter().rev().find(|e| e.message_id == id))
        .cloned()
        .ok_or_else(|| err(400, "Bad Request: message to edit not found"))?;
    if previous.photo.is_none() {
        return Err(err(
            400,
            "Bad Request: there is no caption in the message to edit",
        ));
    }
    if previous.text == caption && previous.buttons == buttons {
        return Err(err(400, "Bad Request: message is not modified"));
    }
    let message = BotMessage {
        text: caption,
        buttons,
        edited: true,
        ..previous
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `sendPhoto`: a PNG or JPEG upload (Telegram reads the file, so its first bytes must say so),
/// or the file_id of a photo Telegram already has.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn send_photo(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    // teloxide uploads as `photo=attach://<part>` plus that part; a part named `photo` works too.
    let file = match &p["photo"] {
        Value::String(s) if s.starts_with("attach://") => &p[&s["attach://".len()..]],
        v => v,
    };
    let caption = visible_text(p, p["caption"].as_str().unwrap_or_default())?;
    if caption.chars().count() > 1024 {
        return Err(err(400, "Bad Request: message caption is too long"));
    }
    let buttons = keyboard(p)?;
    let mut inner = tg.inner.lock().unwrap();
    let photo = match file {
        Value::Object(_) => {
            let magic = file["magic"].as_str().unwrap_or_default();
            let is_png = magic == "89504e470d0a1a0a";
            if !is_png && !magic.starts_with("ffd8ff") {
                return Err(err(400, "Bad Request: IMAGE_PROCESS_FAILED"));
            }
            Photo {
                bytes: file["size"].as_u64().unwrap_or(0) as usize,
                is_png,
                file_id: new_file_id(),
            }
        }
        Value::String(id) => inner
            .photos
            .get(id)
            .cloned()
            .ok_or_else(|| err(400, "Bad Request: wrong file identifier/HTTP URL specified"))?,
        _ => return Err(err(400, "Bad Request: there is no photo in the request")),
    };
    let chat = admit(&mut inner, chat_id)?;
    inner.photos.insert(photo.file_id.clone(), photo.clone());
    let message = BotMessage {
        message_id: inner.new_message_id(),
        chat_id,
        text: caption,
        buttons,
        edited: false,
        photo: Some(photo),
        invoice: None,
        reply_to: replied_id(p),
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `sendInvoice`, for Telegram Stars: currency XTR, no provider token, no tips, exactly one price.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn send_invoice(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    let text = |key: &str| p[key].as_str().unwrap_or_default().to_string();
    let (title, description, payload) = (text("title"), text("description"), text("payload"));
    if !(1..=32).contains(&title.chars().count()) {
        return Err(err(400, "Bad Request: TITLE_INVALID"));
    }
    if !(1..=255).contains(&description.chars().count()) {
        return Err(err(400, "Bad Request: DESCRIPTION_INVALID"));
    }
    if !(1..=128).contains(&payload.len()) {
        return Err(err(400, "Bad Request: INVOICE_PAYLOAD_INVALID"));
    }
    // This fake knows no payment providers: anything but Stars has nobody to pay through.
    if text("currency") != "XTR" {
        return Err(err(400, "Bad Request: PAYMENT_PROVIDER_INVALID"));
    }
    let amounts: Vec<i64> = json_param(&p["prices"])
        .as_array()
        .into_iter()
        .flatten()
        .map(|price| int(&price["amount"]).unwrap_or(0))
        .collect();
    let tips = int(&p["max_tip_amount"]).unwrap_or(0) != 0
        || json_param(&p["suggested_tip_amounts"])
            .as_array()
            .is_some_and(|a| !a.is_empty());
    if !text("provider_token").is_empty() || tips || amounts.len() != 1 || amounts[0] < 1 {
        return Err(err(400, "Bad Request: STARS_INVOICE_INVALID"));
    }
    let buttons = keyboard(p)?;
    // An invoice's own keyboard must start with its Pay button.
    let pay_first = flag(&json_param(&p["reply_markup"])["inline_keyboard"][0][0]["pay"]);
    if !buttons.is_empty() && !pay_first {
        return Err(err(400, "Bad Request: REPLY_MARKUP_BUY_EMPTY"));
    }
    let mut inner = tg.inner.lock().unwrap();
    let chat = admit(&mut inner, chat_id)?;
    let message_id = inner.new_message_id();
    let invoice = Invoice {
        message_id,
        chat_id,
        title: title.clone(),
        description: description.clone(),
        payload,
        currency: "XTR".to_string(),
        total_amount: amounts[0],
    };
    let message = BotMessage {
        message_id,
        chat_id,
        text: format!("{title}\n{description}"),
        buttons,
        edited: false,
        photo: None,
        invoice: Some(invoice),
        reply_to: replied_id(p),
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `answerPreCheckoutQuery`: once per query, with an error message when refusing.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn answer_pre_checkout_query(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let answer = if flag(&p["ok"]) {
        Ok(())
    } else {
        let message = p["error_message"].as_str().filter(|m| !m.trim().is_empty());
        Err(message
            .ok_or_else(|| err(400, "Bad Request: ERROR_MESSAGE_EMPTY"))?
            .to_string())
    };
    let id = p["pre_checkout_query_id"].as_str().unwrap_or_default();
    let mut inner = tg.inner.lock().unwrap();
    let slot = inner
        .pre_checkouts
        .get_mut(id)
        .filter(|a| a.is_none())
        .ok_or_else(|| err(400, "Bad Request: QUERY_ID_INVALID"))?;
    *slot = Some(answer);
    Ok(ok(json!(true)))
}

/// `refundStarPayment`: only a charge this user paid, and only once.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn refund_star_payment(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let refund = (
        int(&p["user_id"]).unwrap_or(0),
        p["telegram_payment_charge_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let mut inner = tg.inner.lock().unwrap();
    if inner.charges.get(&refund.1) != Some(&refund.0) {
        return Err(err(400, "Bad Request: CHARGE_NOT_FOUND"));
    }
    if inner.refunds.contains(&refund) {
        return Err(err(400, "Bad Request: CHARGE_ALREADY_REFUNDED"));
    }
    let user = inner.known_chats.get(&refund.0).cloned();
    let amount = inner
        .star_transactions
        .iter()
        .find(|t| t["id"] == refund.1.as_str())
        .map_or(0, |t| t["amount"].as_i64().unwrap_or(0));
    inner.star_transactions.push(json!({
        "id": refund.1,
        "amount": amount,
        "date": chrono::Utc::now().timestamp(),
        "receiver": { "type": "user", "transaction_type": "invoice_payment",
                      "user": user_of_chat(user, refund.0) },
    }));
    inner.refunds.push(refund);
    Ok(ok(json!(true)))
}

/// A `User` for a private chat the fake knows (or a bare one).
fn user_of_chat(chat: Option<Value>, id: i64) -> Value {
    let first_name = chat
        .as_ref()
        .and_then(|c| c["first_name"].as_str())
        .unwrap_or("user")
        .to_string();
    json!({ "id": id, "is_bot": false, "first_name": first_name })
}

/// `getStarTransactions`: `offset` transactions skipped, at most `limit` (1–100, default 100),
/// in chronological order.
#[allow(clippy::result_large_err)] // the error is the reply itself
fn get_star_transactions(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let offset = int(&p["offset"]).unwrap_or(0);
    let limit = int(&p["limit"]).unwrap_or(100);
    if offset < 0 || !(1..=100).contains(&limit) {
        return Err(err(400, "Bad Request: invalid offset or limit"));
    }
    let inner = tg.inner.lock().unwrap();
    let page: Vec<Value> = inner
        .star_transactions
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .cloned()
        .collect();
    Ok(ok(json!({ "transactions": page })))
}

/// Waits for the next of the bot's messages in `chat_id` that `seen` has not counted: up to
/// `limit`, then panics, or forever without one.
async fn next_in(
    tg: &FakeTelegram,
    chat_id: i64,
    seen: &Mutex<usize>,
    limit: Option<Duration>,
) -> BotMessage {
    let start = tokio::time::Instant::now();
    loop {
        // Listen before looking, so a message recorded in between still wakes us.
        let waker = tg.waker(chat_id);
        let sent = waker.notified();
        {
            let mut seen = seen.lock().unwrap();
            if let Some(m) = tg.event_at(chat_id, *seen) {
                *seen += 1;
                return m;
            }
        }
        if let Some(limit) = limit
            && start.elapsed() > limit
        {
            panic!(
                "the bot sent nothing more to {chat_id} within {limit:?}; so far: {:#?}",
                tg.events_for(chat_id)
            );
        }
        // The wake-up is only a shortcut: look again at least every 50 ms regardless.
        let _ = tokio::time::timeout(Duration::from_millis(50), sent).await;
    }
}

/// Asserts that the bot says nothing more in `chat_id` for a short while.
async fn silence_in(tg: &FakeTelegram, chat_id: i64, seen: &Mutex<usize>) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = tg.events_for(chat_id);
    let seen = *seen.lock().unwrap();
    assert_eq!(
        events.len(),
        seen,
        "unexpected messages: {:#?}",
        &events[seen..]
    );
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

    /// Sends `message` (its content: text, photo, …) from this user into `chat`, which
    /// thereby is a chat the bot may write to.
    fn post(&self, chat: Value, mut message: Value) {
        {
            let mut inner = self.tg.inner.lock().unwrap();
            let chat_id = chat["id"].as_i64().unwrap_or_default();
            inner.known_chats.insert(chat_id, chat.clone());
            message["message_id"] = json!(inner.new_message_id());
        }
        message["date"] = json!(chrono::Utc::now().timestamp());
        message["chat"] = chat;
        message["from"] = self.sender_json();
        self.tg.push_update(json!({ "message": message }));
    }

    /// Sends a text message (a command is just text starting with `/`).
    pub fn send(&self, text: &str) {
        let mut message = json!({ "text": text });
        if text.starts_with('/') {
            let len = text
                .split_whitespace()
                .next()
                .unwrap_or(text)
                .encode_utf16()
                .count();
            message["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
        }
        self.post(self.chat_json(), message);
    }

    /// Sends a sticker: something that is not text where text may be expected.
    pub fn send_sticker(&self) {
        self.post(
            self.chat_json(),
            json!({ "sticker": { "file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false } }),
        );
    }

    /// Sends a photo, as Telegram delivers one: two sizes, each with a file_id the bot may
    /// send again. Returns the large size's file_unique_id ("AQAD…" where its file_id is
    /// "AgAC…" with the same tail).
    pub fn send_photo(&self, caption: Option<&str>) -> String {
        let sizes = [(90, 1_254), (800, 48_211)].map(|(side, bytes)| {
            let photo = Photo {
                bytes,
                is_png: false,
                file_id: new_file_id(),
            };
            (photo_size(&photo, side), photo)
        });
        let mut message = json!({ "photo": [sizes[0].0, sizes[1].0] });
        if let Some(c) = caption {
            message["caption"] = json!(c);
        }
        {
            let mut inner = self.tg.inner.lock().unwrap();
            for (_, photo) in &sizes {
                inner.photos.insert(photo.file_id.clone(), photo.clone());
            }
        }
        self.post(self.chat_json(), message);
        sizes[1].0["file_unique_id"].as_str().unwrap().to_string()
    }

    /// Replies with `text` to the message `message_id` the bot sent in `chat_id`: this user's
    /// private chat, or a [`FakeTelegram::group`] (as staff answer there).
    pub fn reply_to(&self, chat_id: i64, message_id: i64, text: &str) {
        let (chat, replied) = {
            let inner = self.tg.inner.lock().unwrap();
            let chat = if chat_id == self.id {
                Some(self.chat_json())
            } else {
                let group = inner.known_chats.get(&chat_id);
                group.filter(|c| c["type"] != "private").cloned()
            };
            let replied = inner
                .events
                .get(&chat_id)
                .and_then(|e| e.iter().rev().find(|e| e.message_id == message_id))
                .cloned();
            (chat, replied)
        };
        let chat = chat
            .unwrap_or_else(|| panic!("chat {chat_id} is neither {}'s own nor a group", self.id));
        let replied = replied
            .unwrap_or_else(|| panic!("the bot sent no message {message_id} in chat {chat_id}"));
        let message = json!({ "text": text, "reply_to_message": message_json(&replied, &chat) });
        self.post(chat, message);
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

    /// Presses a button on a message the bot sent in a group (the staff chat).
    pub fn press_in_group(&self, message: &BotMessage, label: &str) -> String {
        let data = message
            .buttons
            .iter()
            .flatten()
            .find(|(l, _)| l.contains(label))
            .unwrap_or_else(|| {
                panic!(
                    "no button {label:?}; buttons: {:?}",
                    message.button_labels()
                )
            })
            .1
            .clone();
        self.press_data_in_group(message.chat_id, message.message_id, &data)
    }

    /// A callback query from a group message with arbitrary data (a forged Approve).
    pub fn press_data_in_group(&self, chat_id: i64, message_id: i64, data: &str) -> String {
        let chat = self
            .tg
            .inner
            .lock()
            .unwrap()
            .known_chats
            .get(&chat_id)
            .cloned()
            .unwrap_or_else(|| panic!("no group {chat_id}"));
        let query_id = format!("{}-{}", self.id, uuid::Uuid::new_v4().simple());
        self.tg.push_update(json!({ "callback_query": {
            "id": query_id,
            "from": self.sender_json(),
            "chat_instance": format!("ci{chat_id}"),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": chrono::Utc::now().timestamp(),
                "chat": chat,
                "from": bot_user(),
                "caption": "…",
                "photo": [{ "file_id": "AgACx", "file_unique_id": "AQADx", "width": 90, "height": 90 }]
            }
        }}));
        query_id
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
                "from": bot_user(),
                "text": "…"
            }
        }}));
        query_id
    }

    /// Opens `invoice`'s payment form and confirms it: Telegram sends the bot a
    /// `pre_checkout_query` and gives it 10 s to answer. Returns the answer (Err with the
    /// message shown to the user when refused); no payment follows.
    pub async fn pre_checkout(&self, invoice: &Invoice) -> Result<(), String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.tg
            .inner
            .lock()
            .unwrap()
            .pre_checkouts
            .insert(id.clone(), None);
        self.tg.push_update(json!({ "pre_checkout_query": {
            "id": id,
            "from": self.sender_json(),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        }}));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self.tg.inner.lock().unwrap().pre_checkouts[&id].clone();
            if let Some(answer) = answer {
                return answer;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not answer the pre-checkout query for {:?} within 10 s, after which Telegram cancels the payment",
                invoice.payload
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pays `invoice` in Stars: the pre-checkout step, then, when the bot accepts, the
    /// `successful_payment` message in this user's chat with a fresh charge id the bot may
    /// refund. Paying one invoice twice works, as with a forwarded copy.
    pub async fn pay(&self, invoice: &Invoice) -> Payment {
        if let Err(error_message) = self.pre_checkout(invoice).await {
            return Payment::Refused { error_message };
        }
        Payment::Paid {
            charge_id: self.complete_payment(invoice),
        }
    }

    /// The `successful_payment` Telegram sends after a pre-checkout the bot approved. Called on
    /// its own it plays the race of one invoice paid twice (two devices, or a forward) where
    /// both pre-checkouts were approved before either payment arrived. Returns the charge id.
    pub fn complete_payment(&self, invoice: &Invoice) -> String {
        let charge_id = self.charge(invoice);
        self.post(
            self.chat_json(),
            json!({ "successful_payment": {
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
                "invoice_payload": invoice.payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": "",
            }}),
        );
        charge_id
    }

    /// A payment Telegram took but whose `successful_payment` update the bot never received
    /// (it was down past the update's 24 hours, or the update was lost): it exists only in
    /// `getStarTransactions`. Returns the charge id.
    pub async fn pay_without_update(&self, invoice: &Invoice) -> String {
        self.pre_checkout(invoice)
            .await
            .expect("the bot accepts the pre-checkout");
        self.charge(invoice)
    }

    /// Records the charge and its Star transaction.
    fn charge(&self, invoice: &Invoice) -> String {
        let charge_id = format!("stxTEST{}", uuid::Uuid::new_v4().simple());
        let mut inner = self.tg.inner.lock().unwrap();
        inner.charges.insert(charge_id.clone(), self.id);
        inner.star_transactions.push(json!({
            "id": charge_id,
            "amount": invoice.total_amount,
            "date": chrono::Utc::now().timestamp(),
            "source": { "type": "user", "transaction_type": "invoice_payment",
                        "user": self.sender_json(), "invoice_payload": invoice.payload },
        }));
        charge_id
    }

    /// Waits (up to 30 s) for the next message the bot sends or edits in this chat.
    pub async fn next(&self) -> BotMessage {
        next_in(&self.tg, self.id, &self.seen, Some(Duration::from_secs(30))).await
    }

    /// The next message the bot sent or edited in this chat, if there is one already.
    pub fn try_next(&self) -> Option<BotMessage> {
        let events = self.tg.events_for(self.id);
        let mut seen = self.seen.lock().unwrap();
        (events.len() > *seen).then(|| {
            *seen += 1;
            events[*seen - 1].clone()
        })
    }

    /// Blocks the bot: Telegram refuses every message to this user from now on.
    pub fn block_bot(&self) {
        self.tg.inner.lock().unwrap().blocked.insert(self.id);
    }

    /// Waits, without limit, for the next message the bot sends or edits in this chat.
    pub async fn next_quiet(&self) -> BotMessage {
        next_in(&self.tg, self.id, &self.seen, None).await
    }

    /// Waits for the answer to a button press.
    pub async fn answer_to(&self, query_id: &str) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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
        silence_in(&self.tg, self.id, &self.seen).await;
    }
}

/// A group the bot posts in, from [`FakeTelegram::group`]; users write there with
/// [`FakeUser::reply_to`].
#[derive(Clone)]
pub struct FakeGroup {
    tg: FakeTelegram,
    pub chat_id: i64,
    /// How many of the group's bot messages the test has already read.
    seen: Arc<Mutex<usize>>,
}

impl FakeGroup {
    /// Waits (up to 30 s) for the next message the bot sends or edits in this group.
    pub async fn next(&self) -> BotMessage {
        next_in(
            &self.tg,
            self.chat_id,
            &self.seen,
            Some(Duration::from_secs(30)),
        )
        .await
    }

    /// Asserts that the bot says nothing more in this group for a short while.
    pub async fn expect_silence(&self) {
        silence_in(&self.tg, self.chat_id, &self.seen).await;
    }
}
