//! A fake NOWPayments v1: `x-api-key` on every call but `/auth` and `/status`; hosted invoices
//! created with 201 whose `id` and `price_amount` come back as strings, while the payments under
//! them carry `invoice_id` and amounts as numbers; listing payments also needs a 5-minute JWT
//! from `/auth`; errors are `{status:false, statusCode, code, message}`; IPNs are signed with
//! `x-nowpayments-sig`, the HMAC-SHA512 of the body with keys sorted at every level.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Sha512;

use super::store::Store;
use super::{CallLog, Faults, Sent, iso_ms, random_alnum, random_in, serve_fake};

/// The coin every fake payment is made in.
pub const PAY_CURRENCY: &str = "usdttrc20";

/// Statuses `pay` accepts, in the order a payment goes through them.
pub const STATUSES: [&str; 9] = [
    "waiting",
    "confirming",
    "confirmed",
    "sending",
    "finished",
    "partially_paid",
    "failed",
    "refunded",
    "expired",
];

const FIATS: [&str; 6] = ["usd", "eur", "rub", "gbp", "try", "uah"];
const COINS: [&str; 6] = ["btc", "eth", "ltc", "trx", "usdttrc20", "usdterc20"];

#[derive(Clone)]
pub struct FakeNowPayments {
    /// The API base to give the client as `api_base`: `http://127.0.0.1:port/v1`.
    pub url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
    log: CallLog,
}

struct Inner {
    api_key: String,
    ipn_secret: String,
    email: String,
    password: String,
    /// `http://127.0.0.1:port`, where the invoice pages are.
    root: String,
    /// Invoices under their ids as the API writes them (strings of digits), and the IPNs.
    store: Store<String, Invoice>,
    payments: Vec<Payment>,
    /// Issued JWTs and when each expires.
    tokens: Vec<(String, DateTime<Utc>)>,
    next_payment: u64,
}

struct Invoice {
    id: u64,
    token_id: String,
    price_amount: f64,
    price_currency: String,
    pay_currency: Option<String>,
    order_id: Option<String>,
    order_description: Option<String>,
    ipn_callback_url: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    partially_paid_url: Option<String>,
    is_fixed_rate: bool,
    is_fee_paid_by_user: bool,
    created_at: DateTime<Utc>,
}

struct Payment {
    payment_id: u64,
    invoice_id: u64,
    purchase_id: u64,
    status: String,
    pay_address: String,
    pay_amount: f64,
    actually_paid: f64,
    payin_hash: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The body of an IPN, fields in the order NOWPayments sends them.
#[derive(Serialize)]
struct Ipn<'a> {
    payment_id: u64,
    parent_payment_id: Option<u64>,
    invoice_id: u64,
    payment_status: &'a str,
    pay_address: &'a str,
    payin_extra_id: Option<String>,
    price_amount: Value,
    price_currency: &'a str,
    pay_amount: Value,
    actually_paid: Value,
    actually_paid_at_fiat: u8,
    pay_currency: &'a str,
    order_id: Option<&'a str>,
    order_description: Option<&'a str>,
    purchase_id: String,
    outcome_amount: Value,
    outcome_currency: &'a str,
    payment_extra_ids: Option<Vec<u64>>,
    fee: Fee,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fee {
    currency: &'static str,
    deposit_fee: Value,
    withdrawal_fee: Value,
    service_fee: Value,
}

/// A number as JavaScript prints it: whole values without a fraction (`5`, not `5.0`).
fn js_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// USDT per unit of the invoice's currency.
fn usdt_rate(currency: &str) -> f64 {
    match currency {
        "eur" => 1.08,
        "rub" => 0.011,
        "gbp" => 1.27,
        _ => 1.0,
    }
}

/// The JSON NOWPayments signs: keys sorted at every level, arrays in order, no spaces.
fn sorted_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), sorted_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(sorted_json).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut mac =
        Hmac::<Sha512>::new_from_slice(secret.trim().as_bytes()).expect("HMAC takes any key");
    mac.update(sorted_json(&value).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "status": false,
            "statusCode": status.as_u16(),
            "code": code,
            "message": message,
        })),
    )
        .into_response()
}

fn bad_params(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "INVALID_REQUEST_PARAMS", message)
}

fn check_api_key(s: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let given = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if given == Some(s.api_key.as_str()) {
        Ok(())
    } else {
        Err(error(
            StatusCode::FORBIDDEN,
            "INVALID_API_KEY",
            "Invalid api key",
        ))
    }
}

fn check_bearer(s: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "AUTH_REQUIRED",
            "Authorization header is empty (Bearer JWTtoken is required)",
        ));
    };
    let now = Utc::now();
    if s.tokens.iter().any(|(t, exp)| t == token && *exp > now) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "jwt expired or invalid",
        ))
    }
}

fn json_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(bad_params("Request body must be a JSON object")),
    }
}

/// An optional string field (`Err`: the Joi-style message).
fn opt_text(body: &Map<String, Value>, field: &str) -> Result<Option<String>, Response> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad_params(&format!("\"{field}\" must be a string"))),
    }
}

/// An optional URL field: a string containing http(s).
fn opt_url(body: &Map<String, Value>, field: &str) -> Result<Option<String>, Response> {
    let url = opt_text(body, field)?;
    match url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Err(bad_params(&format!("\"{field}\" must be a valid uri")))
        }
        other => Ok(other),
    }
}

fn opt_flag(body: &Map<String, Value>, field: &str) -> Result<bool, Response> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad_params(&format!("\"{field}\" must be a boolean"))),
    }
}

impl Invoice {
    fn json(&self, root: &str) -> Value {
        json!({
            "id": self.id.to_string(),
            "token_id": self.token_id,
            "order_id": self.order_id,
            "order_description": self.order_description,
            "price_amount": js_number(self.price_amount).to_string(),
            "price_currency": self.price_currency,
            "pay_currency": self.pay_currency,
            "ipn_callback_url": self.ipn_callback_url,
            "invoice_url": format!("{root}/payment/?iid={}", self.id),
            "success_url": self.success_url,
            "cancel_url": self.cancel_url,
            "partially_paid_url": self.partially_paid_url,
            "payout_currency": null,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.created_at),
            "is_fixed_rate": self.is_fixed_rate,
            "is_fee_paid_by_user": self.is_fee_paid_by_user,
        })
    }
}

impl Payment {
    fn outcome(&self) -> f64 {
        round6(self.actually_paid * 0.995)
    }

    fn deposit_fee(&self) -> f64 {
        round6(self.actually_paid * 0.005)
    }

    /// As `GET /payment/{id}` and the payment list show it (ids as numbers).
    fn json(&self, invoice: &Invoice) -> Value {
        json!({
            "payment_id": self.payment_id,
            "invoice_id": self.invoice_id,
            "payment_status": self.status,
            "pay_address": self.pay_address,
            "payin_extra_id": null,
            "price_amount": js_number(invoice.price_amount),
            "price_currency": invoice.price_currency,
            "pay_amount": js_number(self.pay_amount),
            "actually_paid": js_number(self.actually_paid),
            "actually_paid_at_fiat": 0,
            "pay_currency": PAY_CURRENCY,
            "order_id": invoice.order_id,
            "order_description": invoice.order_description,
            "purchase_id": self.purchase_id,
            "outcome_amount": js_number(self.outcome()),
            "outcome_currency": PAY_CURRENCY,
            "payout_hash": null,
            "payin_hash": self.payin_hash,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.updated_at),
            "burning_percent": "null",
            "type": "crypto2crypto",
            "payment_extra_ids": null,
            "parent_payment_id": null,
            "origin_type": null,
        })
    }

    /// The IPN body, as sent (ids as numbers but `purchase_id` a string).
    fn ipn(&self, invoice: &Invoice) -> Vec<u8> {
        let ipn = Ipn {
            payment_id: self.payment_id,
            parent_payment_id: None,
            invoice_id: self.invoice_id,
            payment_status: &self.status,
            pay_address: &self.pay_address,
            payin_extra_id: None,
            price_amount: js_number(invoice.price_amount),
            price_currency: &invoice.price_currency,
            pay_amount: js_number(self.pay_amount),
            actually_paid: js_number(self.actually_paid),
            actually_paid_at_fiat: 0,
            pay_currency: PAY_CURRENCY,
            order_id: invoice.order_id.as_deref(),
            order_description: invoice.order_description.as_deref(),
            purchase_id: self.purchase_id.to_string(),
            outcome_amount: js_number(self.outcome()),
            outcome_currency: PAY_CURRENCY,
            payment_extra_ids: None,
            fee: Fee {
                currency: PAY_CURRENCY,
                deposit_fee: js_number(self.deposit_fee()),
                withdrawal_fee: json!(0),
                service_fee: json!(0),
            },
        };
        serde_json::to_vec(&ipn).expect("an IPN serializes")
    }
}

impl FakeNowPayments {
    pub async fn start(api_key: &str, ipn_secret: &str, email: &str, password: &str) -> Self {
        for secret in [api_key, ipn_secret, password] {
            crate::app::never_log(secret);
        }
        let state = Arc::new(Mutex::new(Inner {
            api_key: api_key.to_string(),
            ipn_secret: ipn_secret.to_string(),
            email: email.to_string(),
            password: password.to_string(),
            root: String::new(),
            store: Store::new(random_in(4_000_000_000, 5_000_000_000)),
            payments: Vec::new(),
            tokens: Vec::new(),
            next_payment: random_in(5_000_000_000, 6_000_000_000),
        }));
        let faults = Faults::default();
        let log = CallLog::default();
        let app = Router::new()
            .route("/v1/status", get(status))
            .route("/v1/auth", post(auth))
            .route("/v1/invoice", post(create_invoice))
            .route("/v1/payment/", get(list_payments))
            .route("/v1/payment/{id}", get(read_payment))
            .route("/payment/", get(invoice_page))
            .with_state(state.clone());
        let addr = serve_fake(app, faults.clone(), log.clone()).await;
        state.lock().unwrap().root = format!("http://{addr}");
        FakeNowPayments {
            url: format!("http://{addr}/v1"),
            faults,
            state,
            log,
        }
    }

    /// The customer's payment under `invoice_id` reaches `status` (one of [`STATUSES`]): the
    /// first call creates the payment, later ones move it on. Queues a signed IPN to the
    /// invoice's `ipn_callback_url` (none without one). Returns the payment id.
    pub fn pay(&self, invoice_id: &str, status: &str) -> u64 {
        assert!(
            STATUSES.contains(&status),
            "not a NOWPayments status: {status}"
        );
        let mut guard = self.state.lock().unwrap();
        let s = &mut *guard;
        let invoice = s.store.expect(invoice_id, "NOWPayments invoice");
        let now = Utc::now();
        let index = match s.payments.iter().position(|p| p.invoice_id == invoice.id) {
            Some(i) => i,
            None => {
                s.next_payment += random_in(1, 1000);
                s.payments.push(Payment {
                    payment_id: s.next_payment,
                    invoice_id: invoice.id,
                    purchase_id: random_in(4_000_000_000, 6_000_000_000),
                    status: String::new(),
                    pay_address: format!("T{}", random_alnum(33)),
                    pay_amount: round6(invoice.price_amount * usdt_rate(&invoice.price_currency)),
                    actually_paid: 0.0,
                    payin_hash: None,
                    created_at: now,
                    updated_at: now,
                });
                s.payments.len() - 1
            }
        };
        let payment = &mut s.payments[index];
        payment.status = status.to_string();
        payment.updated_at = now;
        payment.actually_paid = match status {
            "waiting" | "expired" | "failed" => 0.0,
            "partially_paid" => round6(payment.pay_amount / 2.0),
            _ => payment.pay_amount,
        };
        if payment.actually_paid > 0.0 && payment.payin_hash.is_none() {
            payment.payin_hash = Some(hex::encode(random_alnum(32)));
        }
        let ipn = invoice.ipn_callback_url.as_ref().map(|url| {
            let body = payment.ipn(invoice);
            let sig = sign(&s.ipn_secret, &body);
            Sent::post_json(url, body, vec![("x-nowpayments-sig".into(), sig)])
        });
        let payment_id = payment.payment_id;
        if let Some(sent) = ipn {
            s.store.queue(sent);
        }
        payment_id
    }

    /// The signature NOWPayments would put on `body` (to sign a hand-made IPN).
    pub fn signature(&self, body: &[u8]) -> String {
        sign(&self.state.lock().unwrap().ipn_secret, body)
    }

    /// Forgets every JWT, as when they expire.
    pub fn expire_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    /// Invoice ids (strings of digits) in the order they were created.
    pub fn invoice_ids(&self) -> Vec<String> {
        self.state.lock().unwrap().store.ids()
    }

    /// IPNs queued so far, oldest first.
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

async fn status() -> Response {
    Json(json!({ "message": "OK" })).into_response()
}

async fn auth(State(state): St, body: Bytes) -> Response {
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let email = body.get("email").and_then(Value::as_str);
    let password = body.get("password").and_then(Value::as_str);
    let (Some(email), Some(password)) = (email, password) else {
        return bad_params("\"email\" and \"password\" are required");
    };
    let mut s = state.lock().unwrap();
    if email != s.email || password != s.password {
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "Invalid email or password",
        );
    }
    let now = Utc::now();
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = json!({
        "id": random_in(5_000_000_000, 6_000_000_000).to_string(),
        "iat": now.timestamp(),
        "exp": now.timestamp() + 300,
    });
    let token = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        random_alnum(43)
    );
    crate::app::never_log(&token);
    s.tokens.push((token.clone(), now + Duration::minutes(5)));
    Json(json!({ "token": token })).into_response()
}

async fn create_invoice(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = check_api_key(&s, &headers) {
        return r;
    }
    let body = match json_object(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match new_invoice(&mut s, &body) {
        Ok(invoice) => (StatusCode::CREATED, Json(invoice)).into_response(),
        Err(r) => r,
    }
}

fn new_invoice(s: &mut Inner, body: &Map<String, Value>) -> Result<Value, Response> {
    // Joi converts numeric strings, as the real API does.
    let price_amount = match body.get("price_amount") {
        None | Some(Value::Null) => return Err(bad_params("\"price_amount\" is required")),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(t)) => t.parse::<f64>().ok(),
        Some(_) => None,
    };
    let Some(price_amount) = price_amount.filter(|p| p.is_finite() && *p > 0.0) else {
        return Err(bad_params("\"price_amount\" must be a positive number"));
    };
    let Some(price_currency) = opt_text(body, "price_currency")? else {
        return Err(bad_params("\"price_currency\" is required"));
    };
    let price_currency = price_currency.to_ascii_lowercase();
    if !FIATS.contains(&price_currency.as_str()) && !COINS.contains(&price_currency.as_str()) {
        return Err(bad_params("\"price_currency\" is not a supported currency"));
    }
    let pay_currency = opt_text(body, "pay_currency")?.map(|c| c.to_ascii_lowercase());
    if pay_currency.as_deref().is_some_and(|c| !COINS.contains(&c)) {
        return Err(bad_params("\"pay_currency\" is not a supported currency"));
    }
    let invoice = Invoice {
        // Other merchants' invoices come between ours.
        id: s.store.next_serial(random_in(1, 1000)),
        token_id: random_in(1_000_000_000, 10_000_000_000).to_string(),
        price_amount,
        price_currency,
        pay_currency,
        order_id: opt_text(body, "order_id")?,
        order_description: opt_text(body, "order_description")?,
        ipn_callback_url: opt_url(body, "ipn_callback_url")?,
        success_url: opt_url(body, "success_url")?,
        cancel_url: opt_url(body, "cancel_url")?,
        partially_paid_url: opt_url(body, "partially_paid_url")?,
        is_fixed_rate: opt_flag(body, "is_fixed_rate")?,
        is_fee_paid_by_user: opt_flag(body, "is_fee_paid_by_user")?,
        created_at: Utc::now(),
    };
    let answer = invoice.json(&s.root);
    s.store.insert(invoice.id.to_string(), invoice);
    Ok(answer)
}

async fn list_payments(
    State(state): St,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = check_api_key(&s, &headers).and_then(|()| check_bearer(&s, &headers)) {
        return r;
    }
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &str, default: u64| param(name).map_or(Some(default), |v| v.parse().ok());
    let Some(limit) = number("limit", 10).filter(|l| (1..=500).contains(l)) else {
        return bad_params("\"limit\" must be between 1 and 500");
    };
    let Some(page) = number("page", 0) else {
        return bad_params("\"page\" must be a number");
    };
    let invoice_id = match param("invoiceId") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return bad_params("\"invoiceId\" must be a number"),
        },
    };
    let mut matching: Vec<Value> = s
        .payments
        .iter()
        .filter(|p| invoice_id.is_none_or(|id| p.invoice_id == id))
        .filter_map(|p| {
            let invoice = s.store.get(&p.invoice_id.to_string())?;
            Some(p.json(invoice))
        })
        .collect();
    if param("orderBy") == Some("desc") {
        matching.reverse();
    }
    let total = matching.len() as u64;
    let data: Vec<Value> = matching
        .into_iter()
        .skip(page.saturating_mul(limit) as usize)
        .take(limit as usize)
        .collect();
    Json(json!({
        "data": data,
        "limit": limit,
        "page": page,
        "pagesCount": total.div_ceil(limit),
        "total": total,
    }))
    .into_response()
}

async fn read_payment(State(state): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = check_api_key(&s, &headers) {
        return r;
    }
    let Ok(id) = id.parse::<u64>() else {
        return bad_params("\"payment_id\" must be a number");
    };
    let found = s
        .payments
        .iter()
        .find(|p| p.payment_id == id)
        .and_then(|p| {
            let invoice = s.store.get(&p.invoice_id.to_string())?;
            Some(p.json(invoice))
        });
    match found {
        Some(p) => Json(p).into_response(),
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Payment not found"),
    }
}

async fn invoice_page(State(state): St, RawQuery(query): RawQuery) -> Response {
    let s = state.lock().unwrap();
    let iid = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "iid")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match s.store.get(&iid) {
        Some(i) => Html(format!(
            "<!doctype html><html><head><title>NOWPayments</title></head><body>\
             <h1>Fake NOWPayments invoice {}</h1><p>Pay {} {}</p></body></html>",
            i.id,
            js_number(i.price_amount),
            i.price_currency
        ))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><html><body><p>Invoice not found</p></body></html>"),
        )
            .into_response(),
    }
}
