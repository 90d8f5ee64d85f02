//! Stateful fakes of the three panels the shop provisions on, each keeping accounts in memory
//! and answering as the real panel does, quirks included (see `marzban-client/PANELS.md`).
//! Tests can make the next calls fail, hang past the client's timeout, or apply a change and
//! then hang, to prove nothing is lost or doubled when a call dies half-way.
// Early-returned HTTP answers are the natural error type of a fake server.
#![allow(clippy::result_large_err)]
pub mod hiddify;
pub mod marzban;
pub mod xui;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long a "timed out" call hangs: far past any test client's timeout.
const HANG: Duration = Duration::from_secs(20);

/// Faults to inject into the next calls, counted down as calls arrive.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Default)]
struct FaultState {
    fail_next: u32,
    hang_next: u32,
    apply_then_hang_next: u32,
    apply_then_fail_next: u32,
    /// Spare reads (GET): faults hit only calls that change something.
    writes_only: bool,
    /// Faults hit only calls whose path contains this (`/api/user`: not the login).
    path_contains: Option<String>,
    calls: u64,
    /// Of every call (after the counted faults): this many percent fail, this many hang.
    random_fail: u8,
    random_hang: u8,
    rng: u64,
    /// Calls by `METHOD /path` (query left out), for proving a job ran once.
    log: std::collections::HashMap<String, u64>,
}

enum Fault {
    None,
    Fail,
    Hang,
    ApplyThenHang,
    ApplyThenFail,
}

impl Faults {
    /// The next `n` calls get a 500 without doing anything.
    pub fn fail_next(&self, n: u32) {
        self.0.lock().unwrap().fail_next = n;
    }

    /// The next `n` calls hang without doing anything.
    pub fn hang_next(&self, n: u32) {
        self.0.lock().unwrap().hang_next = n;
    }

    /// The next `n` calls do their work, then hang instead of answering.
    pub fn apply_then_hang_next(&self, n: u32) {
        self.0.lock().unwrap().apply_then_hang_next = n;
    }

    /// The next `n` calls do their work, then answer 500 (as Hiddify does when applying the
    /// new user to its proxies fails after saving it).
    pub fn apply_then_fail_next(&self, n: u32) {
        self.0.lock().unwrap().apply_then_fail_next = n;
    }

    /// Aim the faults at calls that change something, letting reads through.
    pub fn only_writes(&self, yes: bool) {
        self.0.lock().unwrap().writes_only = yes;
    }

    /// Aim the faults at calls whose path contains `fragment`, letting the others through.
    pub fn only_paths(&self, fragment: &str) {
        self.0.lock().unwrap().path_contains = Some(fragment.to_string());
    }

    /// From now on, `fail` percent of calls answer 500 and `hang` percent hang, at random (the
    /// chaos harness's unreliable panel).
    pub fn random(&self, fail: u8, hang: u8) {
        let mut s = self.0.lock().unwrap();
        s.random_fail = fail.min(100);
        s.random_hang = hang.min(100 - s.random_fail);
        s.rng = (uuid::Uuid::new_v4().as_u128() as u64) | 1;
    }

    /// Calls received so far.
    pub fn calls(&self) -> u64 {
        self.0.lock().unwrap().calls
    }

    /// How many `method` calls to exactly `path` arrived (faulted ones included).
    pub fn count(&self, method: &str, path: &str) -> u64 {
        let s = self.0.lock().unwrap();
        s.log.get(&format!("{method} {path}")).copied().unwrap_or(0)
    }

    fn take(&self, method: &axum::http::Method, path: &str) -> Fault {
        let mut s = self.0.lock().unwrap();
        s.calls += 1;
        *s.log.entry(format!("{method} {path}")).or_default() += 1;
        if s.writes_only && method == axum::http::Method::GET {
            return Fault::None;
        }
        if let Some(fragment) = &s.path_contains
            && !path.contains(fragment.as_str())
        {
            return Fault::None;
        }
        let take = |n: &mut u32| {
            if *n > 0 {
                *n -= 1;
                true
            } else {
                false
            }
        };
        if s.random_fail > 0 || s.random_hang > 0 {
            // xorshift64: enough for spreading faults over calls.
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            let roll = (s.rng % 100) as u8;
            if roll < s.random_fail {
                return Fault::Fail;
            }
            if roll < s.random_fail + s.random_hang {
                return Fault::Hang;
            }
        }
        if take(&mut s.fail_next) {
            Fault::Fail
        } else if take(&mut s.hang_next) {
            Fault::Hang
        } else if take(&mut s.apply_then_hang_next) {
            Fault::ApplyThenHang
        } else if take(&mut s.apply_then_fail_next) {
            Fault::ApplyThenFail
        } else {
            Fault::None
        }
    }
}

async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let server_error = || {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        )
            .into_response()
    };
    match faults.take(request.method(), request.uri().path()) {
        Fault::None => next.run(request).await,
        Fault::Fail => server_error(),
        Fault::Hang => {
            tokio::time::sleep(HANG).await;
            server_error()
        }
        Fault::ApplyThenHang => {
            let _ = next.run(request).await;
            tokio::time::sleep(HANG).await;
            server_error()
        }
        Fault::ApplyThenFail => {
            let _ = next.run(request).await;
            server_error()
        }
    }
}

/// Serves `app` (with fault injection in front) on a free 127.0.0.1 port.
pub(crate) async fn serve(app: Router, faults: Faults) -> SocketAddr {
    let app = app.layer(axum::middleware::from_fn_with_state(faults, inject));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind a port for the fake panel");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    addr
}

/// A fresh random token (session cookies, JWT signatures, subscription ids).
fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
