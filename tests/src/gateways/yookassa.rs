//! A fake YooKassa API v3 (a test shop): HTTP Basic `shopId:secretKey`, an `Idempotence-Key` on
//! every POST (the same key and body replay the first answer, another body is refused with
//! "Idempotence key duplicated"), amounts as decimal strings, one- or two-stage payments
//! (`capture`), `{type:"error", id, code, description, parameter}` errors, and unsigned
//! notifications posted to the URL set in the merchant profile, not per payment.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::store::Store;
use super::{CallLog, Faults, Sent, iso_ms, random_in, serve_fake};

#[derive(Clone)]
pub struct FakeYooKassa {
    /// The API base to give the client as `api_base`: `http://127.0.0.1:port/v3`.
    pub url: String,
    pub faults: Faults,
    state: Arc<Mutex<Inner>>,
    log: CallLog,
}

struct Inner {
    shop_id: String,
    secret_key: String,
    /// `http://127.0.0.1:port`, where the checkout pages are.
    root: String,
    notify_url: Option<String>,
    /// Payments under their UUIDs, and the notifications queued.
    store: Store<String, Payment>,
    refunds: BTreeMap<String, Value>,
    /// Idempotence key → the call it was first used for and its answer.
    keys: BTreeMap<String, Remembered>,
}

struct Payment {
    /// The Payment object exactly as the API shows it.
    object: Value,
    capture: bool,
    /// Refunded so far, in kopecks.
    refunded: i64,
}

struct Remembered {
    route: String,
    body: Value,
    answer: Value,
}

/// Kopecks in a decimal amount with at most two decimals (`"100"`, `"100.5"`, `"100.50"`).
fn kopecks(value: &str) -> Option<i64> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || whole.len() > 12
        || fraction.len() > 2
        || !digits(whole)
        || !digits(fraction)
    {
        return None;
    }
    let cents: i64 = format!("{fraction:0<2}").parse().ok()?;
    Some(whole.parse::<i64>().ok()? * 100 + cents)
}

fn rubles(kopecks: i64) -> String {
    format!("{}.{:02}", kopecks / 100, kopecks % 100)
}

fn error(status: StatusCode, code: &str, description: &str, parameter: Option<&str>) -> Response {
    let mut body = json!({
        "type": "error",
        "id": uuid::Uuid::new_v4().to_string(),
        "code": code,
        "description": description,
    });
    if let Some(p) = parameter {
        body["parameter"] = json!(p);
    }
    (status, Json(body)).into_response()
}

fn invalid(description: &str, parameter: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        description,
        Some(parameter),
    )
}

fn not_found(what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("{what} doesn't exist or access denied"),
        None,
    )
}

/// Checks HTTP Basic `shopId:secretKey`; `Err` is the 401 to send.
fn authorize(s: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("{}:{}", s.shop_id, s.secret_key);
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .is_some_and(|pair| pair == expected.as_bytes());
    if ok {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Error in shopId or secret key. Check their validity. You can reissue the key in the Merchant Profile",
            None,
        ))
    }
}

/// A POST body: JSON only (415 otherwise), an object (400 otherwise).
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_json {
        return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Request body is not a valid JSON object",
            None,
        )),
    }
}

/// Reads `{value, currency}`: the value normalised to two decimals, and kopecks.
fn amount_of(v: &Value, parameter: &str) -> Result<(Value, i64), Response> {
    let Some(obj) = v.as_object() else {
        return Err(invalid("Amount is required", parameter));
    };
    let value = obj.get("value").and_then(Value::as_str).and_then(kopecks);
    let Some(minor) = value.filter(|&m| m > 0) else {
        return Err(invalid(
            "Invalid amount value",
            &format!("{parameter}.value"),
        ));
    };
    if obj.get("currency").and_then(Value::as_str) != Some("RUB") {
        return Err(invalid(
            "Invalid currency: this shop accepts RUB",
            &format!("{parameter}.currency"),
        ));
    }
    Ok((json!({ "value": rubles(minor), "currency": "RUB" }), minor))
}

impl Inner {
    /// Runs a POST under its Idempotence-Key: the same key and body get the first answer
    /// again; the key used for another call or body is refused. Only successes are remembered.
    fn once(
        &mut self,
        headers: &HeaderMap,
        route: &str,
        body: &Value,
        run: impl FnOnce(&mut Inner) -> Result<Value, Response>,
    ) -> Response {
        let key = headers
            .get("idempotence-key")
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty());
        let Some(key) = key else {
            return invalid("Idempotence key isn't specified", "Idempotence-Key");
        };
        if key.len() > 64 {
            return invalid(
                "Idempotence key is longer than 64 characters",
                "Idempotence-Key",
            );
        }
        if let Some(first) = self.keys.get(key) {
            return if first.route == route && first.body == *body {
                Json(first.answer.clone()).into_response()
            } else {
                invalid("Idempotence key duplicated", "Idempotence-Key")
            };
        }
        match run(self) {
            Ok(answer) => {
                self.keys.insert(
                    key.to_string(),
                    Remembered {
                        route: route.to_string(),
                        body: body.clone(),
                        answer: answer.clone(),
                    },
                );
                Json(answer).into_response()
            }
            Err(r) => r,
        }
    }

    fn notify(&mut self, event: &str, object: Value) {
        if let Some(url) = &self.notify_url {
            let body = json!({ "type": "notification", "event": event, "object": object });
            let sent = Sent::post_json(url, body.to_string().into_bytes(), Vec::new());
            self.store.queue(sent);
        }
    }

    fn payment(&mut self, id: &str) -> &mut Payment {
        self.store.expect_mut(id, "YooKassa payment")
    }

    fn create_payment(&mut self, body: &Value) -> Result<Value, Response> {
        let (amount, _) = amount_of(&body["amount"], "amount")?;
        let capture = match &body["capture"] {
            Value::Null => false,
            Value::Bool(b) => *b,
            _ => return Err(invalid("Invalid capture value", "capture")),
        };
        let description = match &body["description"] {
            Value::Null => None,
            Value::String(d) if d.chars().count() <= 128 => Some(d.clone()),
            _ => return Err(invalid("Invalid description value", "description")),
        };
        let metadata = &body["metadata"];
        if !(metadata.is_null() || metadata.as_object().is_some_and(|m| m.len() <= 16)) {
            return Err(invalid("Invalid metadata value", "metadata"));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let confirmation = match &body["confirmation"] {
            Value::Null => None,
            c if c["type"] != "redirect" => {
                return Err(invalid(
                    "This confirmation type is not supported by the fake",
                    "confirmation.type",
                ));
            }
            c if !c["return_url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http")) =>
            {
                return Err(invalid(
                    "Invalid return_url value",
                    "confirmation.return_url",
                ));
            }
            c => Some(json!({
                "type": "redirect",
                "confirmation_url": format!("{}/checkout/{id}", self.root),
                "return_url": c["return_url"],
            })),
        };
        let mut object = json!({
            "id": id,
            "status": "pending",
            "paid": false,
            "amount": amount,
            "created_at": iso_ms(Utc::now()),
            "recipient": { "account_id": self.shop_id, "gateway_id": "100700" },
            "refundable": false,
            "test": true,
        });
        if let Some(c) = confirmation {
            object["confirmation"] = c;
        }
        if let Some(d) = description {
            object["description"] = json!(d);
        }
        if !metadata.is_null() {
            object["metadata"] = metadata.clone();
        }
        self.store.insert(
            id,
            Payment {
                object: object.clone(),
                capture,
                refunded: 0,
            },
        );
        Ok(object)
    }
}

/// The customer paid: money is held (`waiting_for_capture`) or taken (`succeeded`).
fn settle(p: &mut Payment) {
    let o = &mut p.object;
    o["paid"] = json!(true);
    o["payment_method"] = json!({
        "type": "bank_card",
        "id": o["id"],
        "saved": false,
        "title": "Bank card *4477",
        "card": {
            "first6": "555555", "last4": "4477", "expiry_month": "07", "expiry_year": "2030",
            "card_type": "MasterCard", "issuer_country": "RU",
        },
    });
    o["authorization_details"] = json!({
        "rrn": random_in(100_000_000_000, 1_000_000_000_000).to_string(),
        "auth_code": random_in(100_000, 1_000_000).to_string(),
        "three_d_secure": { "applied": false },
    });
    if let Some(map) = o.as_object_mut() {
        map.remove("confirmation");
    }
    if p.capture {
        capture(p);
    } else {
        p.object["status"] = json!("waiting_for_capture");
        p.object["expires_at"] = json!(iso_ms(Utc::now() + Duration::days(7)));
    }
}

/// Money taken: `succeeded`, with the shop's income after YooKassa's 3.5%.
fn capture(p: &mut Payment) {
    let o = &mut p.object;
    let minor = o["amount"]["value"].as_str().and_then(kopecks).unwrap_or(0);
    o["status"] = json!("succeeded");
    o["captured_at"] = json!(iso_ms(Utc::now()));
    o["income_amount"] =
        json!({ "value": rubles(minor - (minor * 35 + 500) / 1000), "currency": "RUB" });
    o["refunded_amount"] = json!({ "value": "0.00", "currency": "RUB" });
    o["refundable"] = json!(true);
    if let Some(map) = o.as_object_mut() {
        map.remove("expires_at");
    }
}

fn cancel_with(p: &mut Payment, party: &str, reason: &str) {
    let o = &mut p.object;
    o["status"] = json!("canceled");
    o["paid"] = json!(false);
    o["cancellation_details"] = json!({ "party": party, "reason": reason });
    if let Some(map) = o.as_object_mut() {
        map.remove("confirmation");
        map.remove("expires_at");
    }
}

impl FakeYooKassa {
    pub async fn start(shop_id: &str, secret_key: &str) -> FakeYooKassa {
        crate::app::never_log(secret_key);
        let state = Arc::new(Mutex::new(Inner {
            shop_id: shop_id.to_string(),
            secret_key: secret_key.to_string(),
            root: String::new(),
            notify_url: None,
            // Ids are UUIDs: the serial is not used.
            store: Store::new(0),
            refunds: BTreeMap::new(),
            keys: BTreeMap::new(),
        }));
        let faults = Faults::default();
        let log = CallLog::default();
        let app = Router::new()
            .route("/v3/me", get(me))
            .route("/v3/payments", post(create))
            .route("/v3/payments/{id}", get(read))
            .route("/v3/payments/{id}/capture", post(capture_call))
            .route("/v3/payments/{id}/cancel", post(cancel_call))
            .route("/v3/refunds", post(refund))
            .route("/v3/refunds/{id}", get(read_refund))
            .route("/checkout/{id}", get(checkout))
            .with_state(state.clone());
        let addr = serve_fake(app, faults.clone(), log.clone()).await;
        state.lock().unwrap().root = format!("http://{addr}");
        FakeYooKassa {
            url: format!("http://{addr}/v3"),
            faults,
            state,
            log,
        }
    }

    /// The HTTP notification URL of the merchant profile. Until it is set, nothing is queued.
    pub fn set_notify_url(&self, url: &str) {
        self.state.lock().unwrap().notify_url = Some(url.to_string());
    }

    /// The customer pays the amount asked: `succeeded` (or `waiting_for_capture` for a
    /// two-stage payment), notification queued.
    pub fn pay(&self, id: &str) {
        let value = {
            let mut s = self.state.lock().unwrap();
            s.payment(id).object["amount"]["value"]
                .as_str()
                .unwrap_or("0.00")
                .to_string()
        };
        self.pay_amount(id, &value);
    }

    /// Like `pay`, but the payment ends with `amount.value` = `value` (a mismatch).
    pub fn pay_amount(&self, id: &str, value: &str) {
        let mut s = self.state.lock().unwrap();
        let p = s.payment(id);
        assert_eq!(p.object["status"], "pending", "payment {id} is not pending");
        p.object["amount"]["value"] = json!(value);
        settle(p);
        let event = if p.capture {
            "payment.succeeded"
        } else {
            "payment.waiting_for_capture"
        };
        let object = p.object.clone();
        s.notify(event, object);
    }

    /// The customer never pays: `canceled` (expired on confirmation), notification queued.
    pub fn cancel(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        let p = s.payment(id);
        let status = p.object["status"].as_str().unwrap_or_default();
        assert!(
            status == "pending" || status == "waiting_for_capture",
            "payment {id} is {status}"
        );
        cancel_with(p, "yoo_money", "expired_on_confirmation");
        let object = p.object.clone();
        s.notify("payment.canceled", object);
    }

    /// Where the customer's browser goes back to after paying (`confirmation.return_url`).
    pub fn return_url(&self, id: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.store.get(id).and_then(|p| {
            p.object["confirmation"]["return_url"]
                .as_str()
                .map(str::to_string)
        })
    }

    /// The payment's status as the API shows it.
    pub fn status(&self, id: &str) -> Option<String> {
        let s = self.state.lock().unwrap();
        s.store
            .get(id)
            .and_then(|p| p.object["status"].as_str().map(str::to_string))
    }

    /// Payment ids in the order they were created.
    pub fn payment_ids(&self) -> Vec<String> {
        self.state.lock().unwrap().store.ids()
    }

    /// Distinct payments created (a replayed Idempotence-Key creates none).
    pub fn create_count(&self) -> usize {
        self.state.lock().unwrap().store.len()
    }

    /// Notifications queued so far, oldest first.
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

async fn create(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.once(&headers, "payments", &body, |s| s.create_payment(&body))
}

/// `GET /me`: the shop the credentials belong to.
async fn me(State(state): St, headers: HeaderMap) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    Json(json!({
        "account_id": s.shop_id, "test": true, "fiscalization_enabled": false,
        "payment_methods": ["bank_card", "yoo_money", "sbp"], "status": "enabled",
    }))
    .into_response()
}

async fn read(State(state): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    match s.store.get(&id) {
        Some(p) => Json(p.object.clone()).into_response(),
        None => not_found("Payment"),
    }
}

async fn capture_call(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    // The body is optional here (`{}` or an amount to capture less).
    let body = if body.is_empty() {
        json!({})
    } else {
        match json_body(&headers, &body) {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    s.once(&headers, &format!("capture {id}"), &body, |s| {
        let Some(p) = s.store.get_mut(&id) else {
            return Err(not_found("Payment"));
        };
        if p.object["status"] != "waiting_for_capture" {
            return Err(invalid(
                "Incorrect payment status. Payment status should be waiting_for_capture",
                "status",
            ));
        }
        if !body["amount"].is_null() {
            let (amount, minor) = amount_of(&body["amount"], "amount")?;
            let held = p.object["amount"]["value"].as_str().and_then(kopecks);
            if held.is_none_or(|h| minor > h) {
                return Err(invalid("Amount is more than authorized", "amount.value"));
            }
            p.object["amount"] = amount;
        }
        capture(p);
        let object = p.object.clone();
        s.notify("payment.succeeded", object.clone());
        Ok(object)
    })
}

async fn cancel_call(
    State(state): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let body = if body.is_empty() {
        json!({})
    } else {
        match json_body(&headers, &body) {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    s.once(&headers, &format!("cancel {id}"), &body, |s| {
        let Some(p) = s.store.get_mut(&id) else {
            return Err(not_found("Payment"));
        };
        if p.object["status"] != "waiting_for_capture" {
            return Err(invalid(
                "Incorrect payment status. Payment status should be waiting_for_capture",
                "status",
            ));
        }
        cancel_with(p, "merchant", "canceled_by_merchant");
        let object = p.object.clone();
        s.notify("payment.canceled", object.clone());
        Ok(object)
    })
}

async fn refund(State(state): St, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    let body = match json_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.once(&headers, "refunds", &body, |s| {
        let Some(payment_id) = body["payment_id"].as_str() else {
            return Err(invalid("Payment id is required", "payment_id"));
        };
        let (amount, minor) = amount_of(&body["amount"], "amount")?;
        let description = match &body["description"] {
            Value::Null => None,
            Value::String(d) if d.chars().count() <= 250 => Some(d.clone()),
            _ => return Err(invalid("Invalid description value", "description")),
        };
        let Some(p) = s.store.get_mut(payment_id) else {
            return Err(invalid(
                "Payment doesn't exist or access denied",
                "payment_id",
            ));
        };
        if p.object["status"] != "succeeded" {
            return Err(invalid(
                "Refund is possible only for a payment in the succeeded status",
                "payment_id",
            ));
        }
        let paid = p.object["amount"]["value"]
            .as_str()
            .and_then(kopecks)
            .unwrap_or(0);
        if p.refunded + minor > paid {
            return Err(invalid(
                "Refund amount is greater than the payment amount left to refund",
                "amount.value",
            ));
        }
        p.refunded += minor;
        p.object["refunded_amount"] = json!({ "value": rubles(p.refunded), "currency": "RUB" });
        p.object["refundable"] = json!(p.refunded < paid);
        let id = uuid::Uuid::new_v4().to_string();
        let mut object = json!({
            "id": id,
            "payment_id": payment_id,
            "status": "succeeded",
            "created_at": iso_ms(Utc::now()),
            "amount": amount,
        });
        if let Some(d) = description {
            object["description"] = json!(d);
        }
        s.refunds.insert(id, object.clone());
        s.notify("refund.succeeded", object.clone());
        Ok(object)
    })
}

async fn read_refund(State(state): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let s = state.lock().unwrap();
    if let Err(r) = authorize(&s, &headers) {
        return r;
    }
    match s.refunds.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => not_found("Refund"),
    }
}

async fn checkout(State(state): St, Path(id): Path<String>) -> Response {
    let s = state.lock().unwrap();
    match s.store.get(&id) {
        Some(p) => Html(format!(
            "<!doctype html><html><head><title>YooKassa</title></head><body>\
             <h1>Fake YooKassa checkout</h1><p>Pay {} RUB (payment {id}, {})</p></body></html>",
            p.object["amount"]["value"].as_str().unwrap_or_default(),
            p.object["status"].as_str().unwrap_or_default(),
        ))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><html><body><p>Payment not found</p></body></html>"),
        )
            .into_response(),
    }
}
