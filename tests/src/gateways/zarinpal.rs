//! A fake Zarinpal v4: `merchant_id` inside every JSON body, `{data, errors}` envelopes where
//! `errors` is `[]` on success and an object (HTTP 422) on failure, 36-character `A…`
//! authorities, StartPay as a browser page, an unsigned browser return (`Authority`,
//! `Status=OK|NOK`), verify answering 100 once and 101 afterwards, -50 for another amount, -51
//! when unpaid, -54 for an unknown authority; `unVerified` gives its code as a string.
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::store::Store;
use super::{CallLog, Faults, Sent, random_in, serve_fake};

/// The least Zarinpal takes: 1,000 toman, that is 10,000 rial.
pub const MIN_IRT: i64 = 1_000;
/// The most: 100,000,000 toman (above it: -41).
pub const MAX_IRT: i64 = 100_000_000;

#[derive(Clone)]
pub struct FakeZarinpal {
    /// The host to give the client as `api_base` (`http://127.0.0.1:port`); StartPay is there too.
    pub url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
    log: CallLog,
}

struct Inner {
    merchant_id: String,
    /// Sessions under their authorities (numbered from the serial), and the browser returns.
    store: Store<String, Session>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    InBank,
    Paid,
    Verified,
    Failed,
    Reversed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InBank => "IN_BANK",
            Status::Paid => "PAID",
            Status::Verified => "VERIFIED",
            Status::Failed => "FAILED",
            Status::Reversed => "REVERSED",
        }
    }
}

struct Session {
    amount: i64,
    currency: &'static str,
    callback_url: String,
    order_id: Option<String>,
    status: Status,
    /// Verify calls answered 100 or 101.
    verified: usize,
    ref_id: u64,
    card_pan: String,
    card_hash: String,
    paid_at: Option<DateTime<Utc>>,
}

impl Session {
    fn fee(&self) -> i64 {
        self.amount / 100
    }
}

fn success(data: Value) -> Response {
    Json(json!({ "data": data, "errors": [] })).into_response()
}

fn failure(code: i64, message: &str, validations: Vec<Value>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "data": [],
            "errors": { "code": code, "message": message, "validations": validations },
        })),
    )
        .into_response()
}

fn invalid(validations: Vec<Value>) -> Response {
    failure(
        -9,
        "The input params invalid, validation error.",
        validations,
    )
}

fn invalid_authority() -> Response {
    failure(-54, "Invalid authority.", vec![])
}

/// The JSON body's fields (none when it is not a JSON object: every required field is missing).
fn fields(body: &Bytes) -> Map<String, Value> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// An integer as Laravel's rule accepts it: a JSON integer or a string of digits.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required(field: &str, errors: &mut Vec<Value>) {
    let label = field.replace('_', " ");
    errors.push(json!({ field: format!("The {label} field is required.") }));
}

/// The merchant named in the body, checked after validation: -10 when it is not ours.
fn check_merchant(s: &Inner, body: &Map<String, Value>) -> Result<(), Response> {
    if text(body, "merchant_id") == Some(s.merchant_id.as_str()) {
        Ok(())
    } else {
        Err(failure(
            -10,
            "Terminal is not valid, please check merchant_id or ip address.",
            vec![],
        ))
    }
}

/// Validates a call that names `merchant_id` and `authority`; returns the authority.
fn merchant_and_authority(s: &Inner, body: &Map<String, Value>) -> Result<String, Response> {
    let mut errors = Vec::new();
    for field in ["merchant_id", "authority"] {
        if text(body, field).is_none() {
            required(field, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    check_merchant(s, body)?;
    Ok(text(body, "authority").unwrap_or_default().to_string())
}

impl FakeZarinpal {
    pub async fn start(merchant_id: &str) -> FakeZarinpal {
        crate::app::never_log(merchant_id);
        let state = Arc::new(Mutex::new(Inner {
            merchant_id: merchant_id.to_string(),
            // The first authority is one above: A…100000000 to A…899999999.
            store: Store::new(random_in(100_000_000, 900_000_000) - 1),
        }));
        let faults = Faults::default();
        let log = CallLog::default();
        let app = Router::new()
            .route("/pg/v4/payment/request.json", post(request))
            .route("/pg/v4/payment/inquiry.json", post(inquiry))
            .route("/pg/v4/payment/verify.json", post(verify))
            .route("/pg/v4/payment/unVerified.json", post(unverified))
            .route("/pg/v4/payment/reverse.json", post(reverse))
            .route("/pg/StartPay/{authority}", get(start_pay))
            .with_state(state.clone());
        let addr = serve_fake(app, faults.clone(), log.clone()).await;
        FakeZarinpal {
            url: format!("http://{addr}"),
            faults,
            state,
            log,
        }
    }

    /// The customer pays at the bank: the session becomes PAID and the browser return
    /// (`Status=OK`) is queued.
    pub fn pay(&self, authority: &str) {
        self.finish(authority, Status::Paid, "OK");
    }

    /// The customer cancels at the bank: the session becomes FAILED and the browser return
    /// (`Status=NOK`) is queued.
    pub fn cancel(&self, authority: &str) {
        self.finish(authority, Status::Failed, "NOK");
    }

    fn finish(&self, authority: &str, status: Status, query_status: &str) {
        let mut s = self.state.lock().unwrap();
        let session = s.store.expect_mut(authority, "Zarinpal session");
        assert_eq!(
            session.status,
            Status::InBank,
            "session {authority} is no longer at the bank"
        );
        session.status = status;
        if status == Status::Paid {
            session.paid_at = Some(Utc::now());
        }
        let separator = if session.callback_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{separator}Authority={authority}&Status={query_status}",
            session.callback_url
        );
        s.store.queue(Sent::browser(url));
    }

    /// How many verify calls for `authority` were answered 100 or 101.
    pub fn verified_count(&self, authority: &str) -> usize {
        let s = self.state.lock().unwrap();
        s.store.get(authority).map_or(0, |x| x.verified)
    }

    /// What inquiry would say: `IN_BANK`, `PAID`, `VERIFIED`, `FAILED` or `REVERSED`.
    pub fn status(&self, authority: &str) -> Option<&'static str> {
        let s = self.state.lock().unwrap();
        s.store.get(authority).map(|x| x.status.as_str())
    }

    /// Authorities in the order they were issued.
    pub fn authorities(&self) -> Vec<String> {
        self.state.lock().unwrap().store.ids()
    }

    /// Browser returns queued so far, oldest first.
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

async fn request(State(state): St, body: Bytes) -> Response {
    let body = fields(&body);
    let mut errors = Vec::new();
    if text(&body, "merchant_id").is_none() {
        required("merchant_id", &mut errors);
    }
    let currency = match body.get("currency") {
        None | Some(Value::Null) => "IRR",
        Some(v) if v == "IRR" => "IRR",
        Some(v) if v == "IRT" => "IRT",
        Some(_) => {
            errors.push(json!({ "currency": "The selected currency is invalid." }));
            "IRR"
        }
    };
    let min = if currency == "IRT" {
        MIN_IRT
    } else {
        MIN_IRT * 10
    };
    let amount = match body.get("amount") {
        None | Some(Value::Null) => {
            required("amount", &mut errors);
            None
        }
        Some(v) => match integer(v) {
            Some(a) if a >= min => Some(a),
            Some(_) => {
                errors.push(json!({ "amount": format!("The amount must be at least {min}.") }));
                None
            }
            None => {
                errors.push(json!({ "amount": "The amount must be an integer." }));
                None
            }
        },
    };
    match text(&body, "description") {
        None => required("description", &mut errors),
        Some(d) if d.chars().count() > 500 => errors.push(
            json!({ "description": "The description may not be greater than 500 characters." }),
        ),
        Some(_) => {}
    }
    let callback_url = text(&body, "callback_url").unwrap_or_default().to_string();
    if callback_url.is_empty() {
        required("callback_url", &mut errors);
    } else if !(callback_url.starts_with("http://") || callback_url.starts_with("https://")) {
        errors.push(json!({ "callback_url": "The callback url format is invalid." }));
    }
    let metadata = body.get("metadata").cloned().unwrap_or(Value::Null);
    if !(metadata.is_null() || metadata.is_object()) {
        errors.push(json!({ "metadata": "The metadata must be an array." }));
    }
    let Some(amount) = amount.filter(|_| errors.is_empty()) else {
        return invalid(errors);
    };
    let mut s = state.lock().unwrap();
    if let Err(r) = check_merchant(&s, &body) {
        return r;
    }
    let max = if currency == "IRT" {
        MAX_IRT
    } else {
        MAX_IRT * 10
    };
    if amount > max {
        return failure(-41, "Maximum amount is 100,000,000 toman.", vec![]);
    }
    let authority = format!("A{:035}", s.store.next_serial(1));
    let pan = format!("6037{:012}", random_in(0, 1_000_000_000_000));
    let session = Session {
        amount,
        currency,
        callback_url,
        order_id: metadata["order_id"].as_str().map(str::to_string),
        status: Status::InBank,
        verified: 0,
        ref_id: random_in(10_000_000_000, 100_000_000_000),
        card_pan: format!("{}******{}", &pan[..6], &pan[12..]),
        card_hash: hex::encode_upper(Sha256::digest(pan.as_bytes())),
        paid_at: None,
    };
    let fee = session.fee();
    s.store.insert(authority.clone(), session);
    success(json!({
        "code": 100,
        "message": "Success",
        "authority": authority,
        "fee_type": "Merchant",
        "fee": fee,
    }))
}

async fn start_pay(State(state): St, Path(authority): Path<String>) -> Response {
    let s = state.lock().unwrap();
    match s.store.get(&authority) {
        Some(session) => Html(format!(
            "<!doctype html><html><head><title>Zarinpal</title></head><body>\
             <h1>Fake Zarinpal</h1><p>Pay {} {} (session {authority}, {})</p></body></html>",
            session.amount,
            session.currency,
            session.status.as_str()
        ))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><html><body><p>Invalid authority.</p></body></html>"),
        )
            .into_response(),
    }
}

async fn inquiry(State(state): St, body: Bytes) -> Response {
    let body = fields(&body);
    let s = state.lock().unwrap();
    let authority = match merchant_and_authority(&s, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match s.store.get(&authority) {
        Some(session) => success(json!({
            "code": 100,
            "message": "Success",
            "status": session.status.as_str(),
        })),
        None => invalid_authority(),
    }
}

async fn verify(State(state): St, body: Bytes) -> Response {
    let body = fields(&body);
    let mut errors = Vec::new();
    for field in ["merchant_id", "authority"] {
        if text(&body, field).is_none() {
            required(field, &mut errors);
        }
    }
    let amount = match body.get("amount") {
        None | Some(Value::Null) => {
            required("amount", &mut errors);
            None
        }
        Some(v) => {
            let a = integer(v);
            if a.is_none() {
                errors.push(json!({ "amount": "The amount must be an integer." }));
            }
            a
        }
    };
    let Some(amount) = amount.filter(|_| errors.is_empty()) else {
        return invalid(errors);
    };
    let mut s = state.lock().unwrap();
    if let Err(r) = check_merchant(&s, &body) {
        return r;
    }
    let authority = text(&body, "authority").unwrap_or_default();
    let Some(session) = s.store.get_mut(authority) else {
        return invalid_authority();
    };
    let (code, message) = match session.status {
        Status::InBank | Status::Failed | Status::Reversed => {
            return failure(
                -51,
                "Session is not valid, session is not active paid try.",
                vec![],
            );
        }
        _ if amount != session.amount => {
            return failure(
                -50,
                "Session is not valid, amounts values is not the same.",
                vec![],
            );
        }
        Status::Paid => (100, "Paid"),
        Status::Verified => (101, "Verified"),
    };
    session.status = Status::Verified;
    session.verified += 1;
    success(json!({
        "code": code,
        "message": message,
        "card_hash": session.card_hash,
        "card_pan": session.card_pan,
        "ref_id": session.ref_id,
        "fee_type": "Merchant",
        "fee": session.fee(),
        "wages": null,
        "shaparak_fee": "1200",
        "order_id": session.order_id,
    }))
}

async fn unverified(State(state): St, body: Bytes) -> Response {
    let body = fields(&body);
    if text(&body, "merchant_id").is_none() {
        let mut errors = Vec::new();
        required("merchant_id", &mut errors);
        return invalid(errors);
    }
    let s = state.lock().unwrap();
    if let Err(r) = check_merchant(&s, &body) {
        return r;
    }
    // Most recent first, at most 100; dates in Tehran time without a zone.
    let authorities: Vec<Value> = s
        .store
        .iter()
        .rev()
        .filter(|(_, x)| x.status == Status::Paid)
        .take(100)
        .map(|(a, x)| {
            let tehran = x.paid_at.unwrap_or_else(Utc::now) + Duration::minutes(210);
            json!({
                "authority": a,
                "amount": x.amount,
                "callback_url": x.callback_url,
                "referer": "",
                "date": tehran.format("%Y-%m-%d %H:%M:%S").to_string(),
            })
        })
        .collect();
    // As documented: `code` is a string here, and there is no `errors` member.
    Json(json!({
        "data": { "code": "100", "message": "Success", "authorities": authorities },
    }))
    .into_response()
}

async fn reverse(State(state): St, body: Bytes) -> Response {
    let body = fields(&body);
    let mut s = state.lock().unwrap();
    let authority = match merchant_and_authority(&s, &body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(session) = s.store.get_mut(&authority) else {
        return invalid_authority();
    };
    if session.status != Status::Verified {
        return failure(-61, "Session is not in success status.", vec![]);
    }
    session.status = Status::Reversed;
    success(json!({ "code": 100, "message": "Reversed" }))
}
