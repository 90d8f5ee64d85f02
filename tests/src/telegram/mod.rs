//! A fake Telegram Bot API server: real HTTP and JSON on 127.0.0.1, long-polling `getUpdates`,
//! and the checks Telegram makes (HTML entities, text length, callback data size, unknown chats,
//! photo uploads, Telegram Stars invoices), answering errors in Telegram's own shape. Tests play
//! users through [`FakeUser`] and the groups the bot posts in through [`FakeGroup`].
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

mod html;
mod server;
mod user;

pub use html::parse_html;
pub use user::{FakeGroup, FakeUser};

use server::handle;

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
    /// Set for `sendDocument`; `text` is then the visible caption.
    pub document: Option<Document>,
    /// Set for `sendInvoice`; `text` is then "{title}\n{description}".
    pub invoice: Option<Invoice>,
    /// The message this one replies to (`reply_parameters.message_id` or `reply_to_message_id`).
    pub reply_to: Option<i64>,
    /// The forum topic it is in (`message_thread_id`, or the replied message's topic).
    pub thread: Option<i64>,
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

/// A file the bot sent as a document: its name and every byte.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub file_name: String,
    pub bytes: Vec<u8>,
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

/// Sliding one-second windows of what was let through.
struct Limits {
    per_second: usize,
    retry_after: u64,
    recent: std::collections::VecDeque<std::time::Instant>,
    per_chat: HashMap<i64, std::time::Instant>,
    refused: u64,
    accepted: u64,
}

impl Limits {
    /// Whether one more send to `chat` now stays within the limits (and if so, counts it).
    fn admit(&mut self, chat: i64) -> bool {
        let now = std::time::Instant::now();
        let second = Duration::from_secs(1);
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            self.recent.pop_front();
        }
        let chat_busy = chat > 0
            && self
                .per_chat
                .get(&chat)
                .is_some_and(|t| now.duration_since(*t) < second);
        if self.recent.len() >= self.per_second || chat_busy {
            self.refused += 1;
            return false;
        }
        self.recent.push_back(now);
        self.per_chat.insert(chat, now);
        self.accepted += 1;
        true
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
    /// Telegram's rate limits, when a test or benchmark wants them enforced.
    limits: Option<Limits>,
    /// Sends to these chats still to fail with 502, as Telegram does on a bad day.
    failing_chats: HashMap<i64, u32>,
    /// Groups the bot was removed from (it may not post there any more).
    left_groups: std::collections::HashSet<i64>,
    /// Users who blocked the bot.
    blocked: std::collections::HashSet<i64>,
    /// Groups that are forums, with their topics' thread ids.
    forums: HashMap<i64, std::collections::HashSet<i64>>,
    /// Public channels by @username, with their members' user ids.
    channels: HashMap<String, std::collections::HashSet<i64>>,
    /// How often `getChatMember` was asked about a channel.
    channel_checks: usize,
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
    /// Messages the bot deleted, as (chat id, message id), in order.
    deleted: Vec<(i64, i64)>,
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
            // Uploads up to a little over Telegram's own 50 MB (which answers 413 above it).
            .layer(axum::extract::DefaultBodyLimit::max(60 << 20))
            .with_state(fake.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        fake
    }

    /// Private chats of users who started the bot some time ago (before the shop moved to
    /// vpnshop, say): the bot may write to them.
    pub fn know_users(&self, ids: impl IntoIterator<Item = i64>) {
        let mut inner = self.inner.lock().unwrap();
        for id in ids {
            let chat = json!({ "id": id, "type": "private", "first_name": format!("u{id}") });
            inner.known_chats.insert(id, chat);
        }
    }

    /// Everything the bot sent or edited in `chat`, in order.
    pub fn messages_in(&self, chat: i64) -> Vec<BotMessage> {
        self.events_for(chat)
    }

    /// Enforces Telegram's limits as the real one does under load: more than `per_second`
    /// messages to all chats together, or more than one a second to one private chat, in any
    /// second (sliding) is answered 429 with `retry_after`. Edits count as sends.
    pub fn enforce_limits(&self, per_second: usize, retry_after: u64) {
        self.inner.lock().unwrap().limits = Some(Limits {
            per_second,
            retry_after,
            recent: Default::default(),
            per_chat: Default::default(),
            refused: 0,
            accepted: 0,
        });
    }

    /// How many sends the limits refused with 429, and how many they let through.
    pub fn limit_counts(&self) -> (u64, u64) {
        self.inner
            .lock()
            .unwrap()
            .limits
            .as_ref()
            .map_or((0, 0), |l| (l.refused, l.accepted))
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

    /// The ids of the messages the bot deleted in `chat`, in order.
    pub fn deleted_in(&self, chat: i64) -> Vec<i64> {
        let inner = self.inner.lock().unwrap();
        inner
            .deleted
            .iter()
            .filter(|(c, _)| *c == chat)
            .map(|(_, m)| *m)
            .collect()
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

    /// Group `chat_id` is a forum with these topics (thread ids).
    pub fn make_forum(&self, chat_id: i64, topics: &[i64]) {
        self.inner
            .lock()
            .unwrap()
            .forums
            .insert(chat_id, topics.iter().copied().collect());
    }

    /// A public channel `@name` exists (the bot an admin of it, so it may ask who joined).
    pub fn open_channel(&self, name: &str) {
        self.inner
            .lock()
            .unwrap()
            .channels
            .entry(name.to_string())
            .or_default();
    }

    /// User `user` joins channel `@name`.
    pub fn join_channel(&self, name: &str, user: i64) {
        self.inner
            .lock()
            .unwrap()
            .channels
            .entry(name.to_string())
            .or_default()
            .insert(user);
    }

    /// How many times the bot asked whether someone is in a channel.
    pub fn channel_checks(&self) -> usize {
        self.inner.lock().unwrap().channel_checks
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

/// Waits for the next of the bot's messages in `chat_id` that `seen` has not counted: up to
/// `limit`, then panics, or forever without one.
pub(super) async fn next_in(
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
pub(super) async fn silence_in(tg: &FakeTelegram, chat_id: i64, seen: &Mutex<usize>) {
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
