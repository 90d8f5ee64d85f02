//! The fake's HTTP side: each Bot API method the bot calls, answered as Telegram does
//! (errors in Telegram's shape), and the Message objects it returns.
use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::html::visible_text;
use super::*;

/// Reads a multipart call (files, as teloxide sends `sendPhoto` and `setWebhook`): text fields
/// become parameters (JSON-looking ones parsed), files become `{"file_name", "size", "magic"}`,
/// the magic being the hex of the first 8 bytes, which tell the file's format.
pub(super) async fn multipart_params(request: axum::extract::Request) -> Result<Value, Response> {
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
                let size = data.len();
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD.encode(&data);
                json!({ "file_name": f, "size": size, "magic": magic, "data": data })
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
pub(super) fn params(
    headers: &HeaderMap,
    body: &Bytes,
    query: Option<&str>,
) -> Result<Value, Response> {
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

pub(super) fn serde_urlencoded_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect()
}

/// An integer parameter: a JSON number, or text in a form.
pub(super) fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A boolean parameter: JSON `true`, or "true"/"1" in a form.
pub(super) fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("true") || s == "1")
    })
}

/// A JSON-serialized parameter (reply_markup, prices, …): JSON itself, or a string of it in a form.
pub(super) fn json_param(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        v => v.clone(),
    }
}

/// The message a send replies to: `reply_parameters.message_id`, or the older
/// `reply_to_message_id`.
/// The forum topic a new message goes to: the one asked for, which must exist in a forum, or
/// the replied message's.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn thread_of(inner: &Inner, chat_id: i64, p: &Value) -> Result<Option<i64>, Response> {
    if let Some(thread) = int(&p["message_thread_id"]) {
        let known = inner
            .forums
            .get(&chat_id)
            .is_some_and(|topics| topics.contains(&thread));
        if !known {
            return Err(err(400, "Bad Request: message thread not found"));
        }
        return Ok(Some(thread));
    }
    Ok(replied_id(p).and_then(|r| {
        inner
            .events
            .get(&chat_id)
            .and_then(|e| e.iter().find(|m| m.message_id == r))
            .and_then(|m| m.thread)
    }))
}

pub(super) fn replied_id(p: &Value) -> Option<i64> {
    int(&json_param(&p["reply_parameters"])["message_id"])
        .or_else(|| int(&p["reply_to_message_id"]))
}

pub(super) async fn handle(
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
        "getchatmember" if p["chat_id"].as_str().is_some_and(|c| c.starts_with('@')) => {
            // A public channel, by @username: is the user in it?
            let name = p["chat_id"].as_str().unwrap_or_default().to_string();
            let user = int(&p["user_id"]).unwrap_or(0);
            let mut inner = tg.inner.lock().unwrap();
            inner.channel_checks += 1;
            let Some(members) = inner.channels.get(&name) else {
                return err(400, "Bad Request: chat not found");
            };
            let status = if members.contains(&user) {
                "member"
            } else {
                "left"
            };
            ok(json!({
                "status": status,
                "user": { "id": user, "is_bot": false, "first_name": "Someone" }
            }))
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
        "deletemessage" => {
            let chat = int(&p["chat_id"]).unwrap_or(0);
            let Some(message) = int(&p["message_id"]) else {
                return err(400, "Bad Request: message identifier is not specified");
            };
            let mut inner = tg.inner.lock().unwrap();
            if inner.deleted.contains(&(chat, message)) {
                return err(400, "Bad Request: message to delete not found");
            }
            inner.deleted.push((chat, message));
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
        "senddocument" => send_document(&tg, &p).into_response(),
        "editmessagecaption" => edit_caption(&tg, &p).into_response(),
        "editmessagereplymarkup" => edit_reply_markup(&tg, &p).into_response(),
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

pub(super) async fn get_updates(tg: &FakeTelegram, p: &Value) -> Response {
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

#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn keyboard(p: &Value) -> Result<Vec<Vec<(String, String)>>, Response> {
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

/// What every send goes through: Telegram refuses chats that never talked to the bot, and
/// `throttle_next` answers 429. Returns the chat.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn admit(inner: &mut Inner, chat_id: i64) -> Result<Value, Response> {
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
    if let Some(limits) = inner.limits.as_mut()
        && !limits.admit(chat_id)
    {
        let after = limits.retry_after;
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({ "ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {after}"), "parameters": { "retry_after": after } })),
        )
            .into_response());
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

pub(super) fn bot_user() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "VPN Shop", "username": BOT_USERNAME })
}

pub(super) fn new_file_id() -> String {
    format!("AgAC{}", uuid::Uuid::new_v4().simple())
}

/// A PhotoSize of `photo`, `side` pixels square.
pub(super) fn photo_size(photo: &Photo, side: u32) -> Value {
    let unique = photo.file_id.strip_prefix("AgAC").unwrap_or(&photo.file_id);
    json!({
        "file_id": photo.file_id, "file_unique_id": format!("AQAD{unique}"),
        "width": side, "height": side, "file_size": photo.bytes
    })
}

/// The Message object Telegram returns for what the bot sent, and quotes in replies to it.
pub(super) fn message_json(m: &BotMessage, chat: &Value) -> Value {
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

/// An inline keyboard as Telegram shows it in a Message: a URL button keeps its URL, any other
/// its callback data.
pub(super) fn markup_json(buttons: &[Vec<(String, String)>]) -> Value {
    let rows: Vec<Vec<Value>> = buttons
        .iter()
        .map(|row| {
            row.iter()
                .map(|(text, data)| {
                    if data.starts_with("https://") || data.starts_with("http://") {
                        json!({ "text": text, "url": data })
                    } else {
                        json!({ "text": text, "callback_data": data })
                    }
                })
                .collect()
        })
        .collect();
    json!({ "inline_keyboard": rows })
}

/// Records what the bot sent and answers with the Message, keyboard included.
pub(super) fn record(inner: &mut Inner, m: BotMessage, chat: &Value, p: &Value) -> Response {
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
pub(super) fn send_message(
    tg: &FakeTelegram,
    p: &Value,
    edit: Option<i64>,
) -> Result<Response, Response> {
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
    let thread = match edit {
        Some(id) => inner
            .events
            .get(&chat_id)
            .and_then(|e| e.iter().rev().find(|e| e.message_id == id))
            .and_then(|m| m.thread),
        None => thread_of(&inner, chat_id, p)?,
    };
    let message = BotMessage {
        message_id,
        chat_id,
        text: visible,
        buttons,
        edited: edit.is_some(),
        photo: None,
        document: None,
        invoice: None,
        reply_to,
        thread,
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `editMessageCaption`: a new caption (and keyboard) for a photo the bot sent.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn edit_caption(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
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

/// `editMessageReplyMarkup`: new buttons under a message (text or photo) the bot sent, its text
/// unchanged.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn edit_reply_markup(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    let id = int(&p["message_id"]).unwrap_or(0);
    let buttons = keyboard(p)?;
    let mut inner = tg.inner.lock().unwrap();
    let chat = admit(&mut inner, chat_id)?;
    let previous = inner
        .events
        .get(&chat_id)
        .and_then(|e| e.iter().rev().find(|e| e.message_id == id))
        .cloned()
        .ok_or_else(|| err(400, "Bad Request: message to edit not found"))?;
    if previous.buttons == buttons {
        return Err(err(400, "Bad Request: message is not modified"));
    }
    let message = BotMessage {
        buttons,
        edited: true,
        ..previous
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `sendPhoto`: a PNG or JPEG upload (Telegram reads the file, so its first bytes must say so),
/// or the file_id of a photo Telegram already has.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn send_photo(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
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
    let thread = thread_of(&inner, chat_id, p)?;
    inner.photos.insert(photo.file_id.clone(), photo.clone());
    let message = BotMessage {
        message_id: inner.new_message_id(),
        chat_id,
        text: caption,
        buttons,
        edited: false,
        photo: Some(photo),
        document: None,
        invoice: None,
        reply_to: replied_id(p),
        thread,
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `sendDocument`: a file uploaded by the bot (Telegram refuses bots' uploads over 50 MB).
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn send_document(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
    use base64::Engine;
    let chat_id = int(&p["chat_id"]).unwrap_or(0);
    let file = match &p["document"] {
        Value::String(s) if s.starts_with("attach://") => &p[&s["attach://".len()..]],
        v => v,
    };
    let Value::Object(_) = file else {
        return Err(err(400, "Bad Request: there is no document in the request"));
    };
    let size = file["size"].as_u64().unwrap_or(0);
    if size > 50 << 20 {
        return Err(err(413, "Request Entity Too Large"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file["data"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let caption = visible_text(p, p["caption"].as_str().unwrap_or_default())?;
    if caption.chars().count() > 1024 {
        return Err(err(400, "Bad Request: message caption is too long"));
    }
    let buttons = keyboard(p)?;
    let mut inner = tg.inner.lock().unwrap();
    let chat = admit(&mut inner, chat_id)?;
    let thread = thread_of(&inner, chat_id, p)?;
    let message = BotMessage {
        message_id: inner.new_message_id(),
        chat_id,
        text: caption,
        buttons,
        edited: false,
        photo: None,
        document: Some(super::Document {
            file_name: file["file_name"].as_str().unwrap_or_default().to_string(),
            bytes,
        }),
        invoice: None,
        reply_to: replied_id(p),
        thread,
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `sendInvoice`, for Telegram Stars: currency XTR, no provider token, no tips, exactly one price.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn send_invoice(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
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
        document: None,
        invoice: Some(invoice),
        reply_to: replied_id(p),
        thread: None,
    };
    Ok(record(&mut inner, message, &chat, p))
}

/// `answerPreCheckoutQuery`: once per query, with an error message when refusing.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn answer_pre_checkout_query(
    tg: &FakeTelegram,
    p: &Value,
) -> Result<Response, Response> {
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
pub(super) fn refund_star_payment(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
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
pub(super) fn user_of_chat(chat: Option<Value>, id: i64) -> Value {
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
pub(super) fn get_star_transactions(tg: &FakeTelegram, p: &Value) -> Result<Response, Response> {
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
