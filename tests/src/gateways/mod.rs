//! Stateful fakes of the four payment gateways the shop takes money through (Zarinpal, YooKassa,
//! NOWPayments, CryptoBot), each answering as the real API does, quirks included. A provider's
//! callbacks are never sent by themselves: each fake queues them in an outbox as events happen
//! (the customer pays, cancels, an invoice is paid), and the test delivers, repeats, delays,
//! reorders, forges or drops them. The panels' `Faults` make the next calls fail or hang.
// Early-returned HTTP answers are the natural error type of a fake server.
#![allow(clippy::result_large_err)]
pub mod cryptobot;
pub mod nowpayments;
pub mod store;
pub mod yookassa;
pub mod zarinpal;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

pub use crate::panels::Faults;

/// One callback the provider would send: where, which headers, the exact body.
#[derive(Clone, Debug)]
pub struct Sent {
    /// POST for a server-to-server notice, GET for a customer's browser coming back.
    pub method: reqwest::Method,
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Sent {
    /// A JSON notice posted to `url`, with `extra` headers (signatures) after the content type.
    fn post_json(url: &str, body: Vec<u8>, extra: Vec<(String, String)>) -> Sent {
        for (_, signature) in &extra {
            crate::app::never_log(signature);
        }
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(extra);
        Sent {
            method: reqwest::Method::POST,
            url: url.to_string(),
            headers,
            body,
        }
    }

    /// The customer's browser following a redirect to `url`.
    fn browser(url: String) -> Sent {
        Sent {
            method: reqwest::Method::GET,
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Delivers it once; returns the HTTP status the shop answered (0 if unreachable).
    /// Redirects are not followed: a return page's 303 is what comes back.
    pub async fn deliver(&self) -> u16 {
        let Ok(client) = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        else {
            return 0;
        };
        let mut request = client.request(self.method.clone(), &self.url);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Delivers it `n` times at once (concurrently); returns the statuses.
    pub async fn deliver_times(&self, n: usize) -> Vec<u16> {
        futures::future::join_all((0..n).map(|_| self.deliver())).await
    }

    /// A copy with the body changed by `f` but the original signature headers kept (a forgery).
    /// The body is written again compactly with its keys sorted, so for a provider that signs
    /// the raw bytes (CryptoBot) even an unchanged value no longer matches its signature.
    /// A browser return has no body: change its `url` instead.
    pub fn tampered(&self, f: impl FnOnce(&mut Value)) -> Sent {
        let mut value = self.json();
        f(&mut value);
        let body = if value.is_null() && self.body.is_empty() {
            Vec::new()
        } else {
            value.to_string().into_bytes()
        };
        Sent {
            body,
            ..self.clone()
        }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every request a fake handled, as `"METHOD /path"`.
#[derive(Clone, Default)]
struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.contains(needle))
            .count()
    }
}

async fn record(State(log): State<CallLog>, request: Request, next: Next) -> Response {
    log.0
        .lock()
        .unwrap()
        .push(format!("{} {}", request.method(), request.uri().path()));
    next.run(request).await
}

/// Serves `app` with fault injection in front and the call log behind it: a call a fault turns
/// away (`fail_next`, `hang_next`) is not logged; `faults.calls()` counts those too.
async fn serve_fake(app: Router, faults: Faults, log: CallLog) -> SocketAddr {
    let app = app.layer(axum::middleware::from_fn_with_state(log, record));
    crate::panels::serve(app, faults).await
}

/// A random number in `low..high`.
fn random_in(low: u64, high: u64) -> u64 {
    low + (uuid::Uuid::new_v4().as_u128() % u128::from(high - low)) as u64
}

/// Random letters and digits (hashes, tokens, addresses).
fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| ALPHABET[random_in(0, ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// ISO-8601 UTC with milliseconds and `Z`, as all four providers write times.
fn iso_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
