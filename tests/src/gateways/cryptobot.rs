//! A fake Crypto Pay API (@CryptoBot): `{base}/{method}` by GET or POST with parameters in the
//! query, a JSON or a form body alike; `Crypto-Pay-API-Token`; `{ok:true, result}` and
//! `{ok:false, error:{code, name}}` envelopes whose HTTP status mirrors the code; numeric invoice
//! ids with amounts as strings (but `fee_amount` a number); `accepted_assets` a comma-separated
//! string in and an array out (a JSON array in is a 500 `APP_ERROR`); `getInvoices` wrapped in
//! `items`; `invoice_paid` webhooks signed over the raw body, keyed by SHA-256 of the token.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::store::Store;
use super::{CallLog, Faults, Sent, iso_ms, random_alnum, random_in, serve_fake};

const ASSETS: [&str; 8] = ["USDT", "TON", "BTC", "ETH", "LTC", "BNB", "TRX", "USDC"];
const FIATS: [&str; 20] = [
    "USD", "EUR", "RUB", "BYN", "UAH", "GBP", "CNY", "KZT", "UZS", "GEL", "TRY", "AMD", "THB",
    "INR", "BRL", "IDR", "AZN", "AED", "PLN", "ILS",
];
const PAID_BUTTONS: [&str; 4] = ["viewItem", "openChannel", "openBot", "callback"];

#[derive(Clone)]
pub struct FakeCryptoBot {
    /// The API base to give the client as `api_base`: `http://127.0.0.1:port/api`.
    pub url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
    log: CallLog,
}

struct Inner {
    token: String,
    webhook_url: Option<String>,
    /// Invoice id → the Invoice object exactly as the API shows it; the webhook updates.
    store: Store<i64, Value>,
    next_update: i64,
}

/// A webhook body, fields in the order Crypto Pay sends them.
#[derive(Serialize)]
struct Update<'a> {
    update_id: i64,
    update_type: &'static str,
    request_date: String,
    payload: &'a Value,
}

type Params = Map<String, Value>;

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn error(code: u16, name: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "ok": false, "error": { "code": code, "name": name } })),
    )
        .into_response()
}

fn bad(name: &str) -> Response {
    error(400, name)
}

/// The HMAC key Crypto Pay signs webhooks with: the raw SHA-256 digest of the token.
fn sign(token: &str, body: &[u8]) -> String {
    let key = Sha256::digest(token.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn check_token(s: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers
        .get("crypto-pay-api-token")
        .and_then(|v| v.to_str().ok());
    if given == Some(s.token.as_str()) {
        Ok(())
    } else {
        Err(error(401, "UNAUTHORIZED"))
    }
}

/// The call's parameters, from the query string and a JSON or form body alike (multipart is
/// not understood by the fake).
fn params(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Result<Params, Response> {
    let mut p: Params = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    if body.is_empty() {
        return Ok(p);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => p.extend(map),
            _ => return Err(bad("JSON_INVALID")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        p.extend(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))),
        );
    }
    Ok(p)
}

/// A parameter as text, whether sent as a string or a number.
fn text(p: &Params, name: &str) -> Option<String> {
    match p.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean parameter (JSON or `"true"`/`"false"`); `Err` names the parameter.
fn flag(p: &Params, name: &str, default: bool) -> Result<bool, Response> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(_) => Err(bad(&format!("{}_INVALID", name.to_ascii_uppercase()))),
    }
}

/// A positive decimal amount (`"125.50"`, `3`).
fn positive_decimal(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 18 {
        return None;
    }
    text.parse::<f64>().ok().filter(|a| *a > 0.0)
}

/// Fiat per USDT, for what a paid fiat invoice reports.
fn usdt_price(fiat: &str) -> f64 {
    match fiat {
        "EUR" => 0.92,
        "RUB" => 90.0,
        "GBP" => 0.79,
        "UAH" => 41.0,
        _ => 1.0,
    }
}

impl Inner {
    fn create_invoice(&mut self, p: &Params) -> Result<Value, Response> {
        let currency_type = text(p, "currency_type").unwrap_or_else(|| "crypto".into());
        let mut invoice = Map::new();
        match currency_type.as_str() {
            "crypto" => {
                let asset = text(p, "asset").ok_or_else(|| bad("ASSET_REQUIRED"))?;
                if !ASSETS.contains(&asset.as_str()) {
                    return Err(bad("ASSET_INVALID"));
                }
                invoice.insert("asset".into(), json!(asset));
            }
            "fiat" => {
                let fiat = text(p, "fiat").ok_or_else(|| bad("FIAT_REQUIRED"))?;
                if !FIATS.contains(&fiat.as_str()) {
                    return Err(bad("FIAT_INVALID"));
                }
                invoice.insert("fiat".into(), json!(fiat));
                match p.get("accepted_assets") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(list)) => {
                        let assets: Vec<&str> = list.split(',').map(str::trim).collect();
                        if !assets.iter().all(|a| ASSETS.contains(a)) {
                            return Err(bad("ACCEPTED_ASSETS_INVALID"));
                        }
                        invoice.insert("accepted_assets".into(), json!(assets));
                    }
                    // What Crypto Pay really answers to a JSON array here.
                    Some(_) => return Err(error(500, "APP_ERROR")),
                }
            }
            _ => return Err(bad("CURRENCY_TYPE_INVALID")),
        }
        let amount = text(p, "amount").ok_or_else(|| bad("AMOUNT_REQUIRED"))?;
        if positive_decimal(&amount).is_none() {
            return Err(bad("AMOUNT_INVALID"));
        }
        let limited = |name: &str, max_chars: usize| -> Result<Option<String>, Response> {
            match text(p, name) {
                Some(t) if t.chars().count() > max_chars => {
                    Err(bad(&format!("{}_TOO_LONG", name.to_ascii_uppercase())))
                }
                other => Ok(other),
            }
        };
        let description = limited("description", 1024)?;
        let hidden_message = limited("hidden_message", 2048)?;
        let payload = limited("payload", 4096)?;
        let paid_btn_name = text(p, "paid_btn_name");
        let paid_btn_url = text(p, "paid_btn_url");
        if let Some(name) = &paid_btn_name {
            if !PAID_BUTTONS.contains(&name.as_str()) {
                return Err(bad("PAID_BTN_NAME_INVALID"));
            }
            if !paid_btn_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http"))
            {
                return Err(bad("PAID_BTN_URL_REQUIRED"));
            }
        }
        let expires_in = match text(p, "expires_in") {
            None => None,
            Some(t) => match t.parse::<i64>() {
                Ok(secs) if (1..=2_678_400).contains(&secs) => Some(secs),
                _ => return Err(bad("EXPIRES_IN_INVALID")),
            },
        };
        let allow_comments = flag(p, "allow_comments", true)?;
        let allow_anonymous = flag(p, "allow_anonymous", true)?;

        let id = self.store.next_serial(1) as i64;
        let hash = format!("IV{}", random_alnum(10));
        let now = Utc::now();
        let bot_url = format!("https://t.me/CryptoBot?start={hash}");
        let fields = [
            ("invoice_id", json!(id)),
            ("hash", json!(hash)),
            ("currency_type", json!(currency_type)),
            ("amount", json!(amount)),
            ("pay_url", json!(bot_url)),
            ("bot_invoice_url", json!(bot_url)),
            (
                "mini_app_invoice_url",
                json!(format!(
                    "https://t.me/CryptoBot/app?startapp=invoice-{hash}&mode=compact"
                )),
            ),
            (
                "web_app_invoice_url",
                json!(format!("https://app.send.tg/invoices/{hash}")),
            ),
            ("status", json!("active")),
            ("created_at", json!(iso_ms(now))),
            ("allow_comments", json!(allow_comments)),
            ("allow_anonymous", json!(allow_anonymous)),
        ];
        invoice.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
        let optional = [
            ("description", description),
            ("hidden_message", hidden_message),
            ("payload", payload),
            ("paid_btn_name", paid_btn_name),
            ("paid_btn_url", paid_btn_url),
            (
                "expiration_date",
                expires_in.map(|secs| iso_ms(now + Duration::seconds(secs))),
            ),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                invoice.insert(name.into(), json!(v));
            }
        }
        let invoice = Value::Object(invoice);
        self.store.insert(id, invoice.clone());
        Ok(invoice)
    }

    fn get_invoices(&self, p: &Params) -> Result<Value, Response> {
        let ids: Option<Vec<i64>> = match text(p, "invoice_ids") {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|id| id.trim().parse::<i64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("INVOICE_IDS_INVALID"))?,
            ),
        };
        let status = text(p, "status");
        if status
            .as_deref()
            .is_some_and(|s| s != "active" && s != "paid")
        {
            return Err(bad("STATUS_INVALID"));
        }
        let number = |name: &str, default: usize| match text(p, name) {
            None => Some(default),
            Some(t) => t.parse::<usize>().ok(),
        };
        let offset = number("offset", 0).ok_or_else(|| bad("OFFSET_INVALID"))?;
        let count = number("count", 100)
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| bad("COUNT_INVALID"))?;
        let (asset, fiat) = (text(p, "asset"), text(p, "fiat"));
        let same = |invoice: &Value, field: &str, wanted: &Option<String>| {
            wanted
                .as_deref()
                .is_none_or(|w| invoice[field].as_str() == Some(w))
        };
        // Newest first; unknown ids are simply absent.
        let items: Vec<Value> = self
            .store
            .iter()
            .rev()
            .filter(|(id, _)| ids.as_ref().is_none_or(|ids| ids.contains(id)))
            .map(|(_, invoice)| invoice)
            .filter(|&i| {
                same(i, "status", &status) && same(i, "asset", &asset) && same(i, "fiat", &fiat)
            })
            .skip(offset)
            .take(count)
            .cloned()
            .collect();
        Ok(json!({ "items": items }))
    }

    fn invoice(&mut self, id: i64) -> &mut Value {
        self.store.expect_mut(&id, "CryptoBot invoice")
    }
}

/// Marks an active invoice paid in USDT at `at`.
fn mark_paid(invoice: &mut Value, at: DateTime<Utc>) {
    let amount = invoice["amount"]
        .as_str()
        .and_then(positive_decimal)
        .unwrap_or(0.0);
    let (paid_amount, fiat_rate) = match invoice["fiat"].as_str() {
        Some(fiat) => (amount / usdt_price(fiat), Some(usdt_price(fiat))),
        None => (amount, None),
    };
    let fee = (paid_amount * 0.03 * 1e8).round() / 1e8;
    let o = invoice.as_object_mut().expect("an invoice is an object");
    let asset = o.get("asset").cloned().unwrap_or(json!("USDT"));
    o.insert("status".into(), json!("paid"));
    o.insert("paid_asset".into(), asset.clone());
    o.insert("paid_amount".into(), json!(format!("{paid_amount:.8}")));
    if let Some(rate) = fiat_rate {
        o.insert("paid_fiat_rate".into(), json!(format!("{rate:.8}")));
    }
    o.insert("paid_usd_rate".into(), json!("1.00000000"));
    o.insert("fee_asset".into(), asset);
    o.insert("fee_amount".into(), json!(fee));
    o.insert("fee_in_usd".into(), json!(format!("{fee:.8}")));
    o.insert("paid_at".into(), json!(iso_ms(at)));
    o.insert("paid_anonymously".into(), json!(false));
}

impl FakeCryptoBot {
    pub async fn start(token: &str) -> FakeCryptoBot {
        crate::app::never_log(token);
        let state = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            webhook_url: None,
            store: Store::new(random_in(10_000, 90_000)),
            next_update: random_in(1_000, 30_000) as i64,
        }));
        let faults = Faults::default();
        let log = CallLog::default();
        let app = Router::new()
            .route("/api/getMe", get(get_me).post(get_me))
            .route(
                "/api/createInvoice",
                get(create_invoice).post(create_invoice),
            )
            .route("/api/getInvoices", get(get_invoices).post(get_invoices))
            .route(
                "/api/deleteInvoice",
                get(delete_invoice).post(delete_invoice),
            )
            .route("/api/{method}", get(unknown_method).post(unknown_method))
            .with_state(state.clone());
        let addr = serve_fake(app, faults.clone(), log.clone()).await;
        FakeCryptoBot {
            url: format!("http://{addr}/api"),
            faults,
            state,
            log,
        }
    }

    /// The app's webhook URL (set in @CryptoBot). Until it is set, nothing is queued.
    pub fn set_webhook_url(&self, url: &str) {
        self.state.lock().unwrap().webhook_url = Some(url.to_string());
    }

    /// The customer pays the invoice now: `paid`, and a signed `invoice_paid` update is queued.
    pub fn pay(&self, invoice_id: i64) {
        self.pay_at(invoice_id, Utc::now());
    }

    /// Like `pay`, but paid and reported at `request_date` (an old update, for staleness).
    pub fn pay_at(&self, invoice_id: i64, request_date: DateTime<Utc>) {
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        let invoice = s.invoice(invoice_id);
        assert_eq!(
            invoice["status"], "active",
            "invoice {invoice_id} is not active"
        );
        mark_paid(invoice, request_date);
        let invoice = invoice.clone();
        let Some(url) = s.webhook_url.clone() else {
            return;
        };
        s.next_update += 1;
        let update = Update {
            update_id: s.next_update,
            update_type: "invoice_paid",
            request_date: iso_ms(request_date),
            payload: &invoice,
        };
        let body = serde_json::to_vec(&update).expect("an update serializes");
        let signature = sign(&s.token, &body);
        let sent = Sent::post_json(
            &url,
            body,
            vec![("crypto-pay-api-signature".into(), signature)],
        );
        s.store.queue(sent);
    }

    /// The invoice's time ran out: `expired` (Crypto Pay sends no update for it).
    pub fn expire(&self, invoice_id: i64) {
        let mut s = self.state.lock().unwrap();
        let invoice = s.invoice(invoice_id);
        assert_eq!(
            invoice["status"], "active",
            "invoice {invoice_id} is not active"
        );
        invoice["status"] = json!("expired");
    }

    /// The signature Crypto Pay would put on `body` (to sign a hand-made update).
    pub fn signature(&self, body: &[u8]) -> String {
        sign(&self.state.lock().unwrap().token, body)
    }

    /// The invoice as the API shows it.
    pub fn invoice(&self, invoice_id: i64) -> Option<Value> {
        self.state.lock().unwrap().store.get(&invoice_id).cloned()
    }

    /// Invoice ids in the order they were created.
    pub fn invoice_ids(&self) -> Vec<i64> {
        self.state.lock().unwrap().store.ids()
    }

    /// Webhook updates queued so far, oldest first.
    pub fn outbox(&self) -> Vec<Sent> {
        self.state.lock().unwrap().store.outbox()
    }

    pub fn last_callback(&self) -> Option<Sent> {
        self.state.lock().unwrap().store.last()
    }

    /// Requests handled whose `"METHOD /path"` contains `path_contains`.
    pub fn calls(&self, path_contains: &str) -> usize {
        self.log.count(path_contains)
    }
}

type St = State<Arc<Mutex<Inner>>>;

/// Checks the token and reads the parameters, then runs `call` on the state.
fn handle(
    state: &Mutex<Inner>,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
    call: impl FnOnce(&mut Inner, &Params) -> Result<Value, Response>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = check_token(&s, headers) {
        return r;
    }
    let p = match params(query, headers, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match call(&mut s, &p) {
        Ok(result) => ok(result),
        Err(r) => r,
    }
}

async fn get_me(
    State(state): St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(&state, &headers, q, &body, |_, _| {
        Ok(json!({
            "app_id": 12345,
            "name": "Fake shop",
            "payment_processing_bot_username": "CryptoBot",
        }))
    })
}

async fn create_invoice(
    State(state): St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(&state, &headers, q, &body, |s, p| s.create_invoice(p))
}

async fn get_invoices(
    State(state): St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(&state, &headers, q, &body, |s, p| s.get_invoices(p))
}

async fn delete_invoice(
    State(state): St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    handle(&state, &headers, q, &body, |s, p| {
        let id = text(p, "invoice_id")
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| bad("INVOICE_ID_INVALID"))?;
        match s.store.remove(&id) {
            Some(_) => Ok(json!(true)),
            None => Err(bad("INVOICE_NOT_FOUND")),
        }
    })
}

async fn unknown_method(State(state): St, headers: HeaderMap) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = check_token(&s, &headers) {
        return r;
    }
    error(405, "METHOD_NOT_FOUND")
}
