//! The HTTP plumbing every panel shares: one reqwest client per panel (timeouts, proxy,
//! rustls, no redirects followed), turning transport failures into `PanelError`s without URLs
//! or secrets, and bounded retries for idempotent operations.
use std::future::Future;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::config::{PanelConfig, RetryPolicy};
use crate::error::PanelError;

/// Builds the HTTP client for one panel. Redirects are never followed: Hiddify's 308 and
/// 3x-UI's 307-to-login must be seen, not silently turned into a GET of the login page.
pub(crate) fn client(config: &PanelConfig) -> Result<Client, PanelError> {
    let mut builder = Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vpnshop/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(config.options.tls_insecure);
    if let Some(proxy) = &config.proxy {
        let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(|_| PanelError::Rejected {
            message: "the proxy address is not a valid http, https or socks5 URL".into(),
        })?;
        builder = builder.proxy(proxy);
    } else {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| PanelError::Unavailable {
        reason: format!("cannot set up HTTP: {}", e.without_url()),
    })
}

/// A failed send: timeouts, refused connections and TLS trouble are all worth retrying.
pub(crate) fn transport_error(e: reqwest::Error) -> PanelError {
    let e = e.without_url();
    let reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        // The root cause says it best: "Connection refused", "invalid peer certificate: …".
        format!("cannot connect: {}", root_cause(&e))
    } else {
        source_chain(&e)
    };
    PanelError::Unavailable { reason }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// reqwest's own text is terse ("error sending request"); the cause (refused, certificate,
/// DNS) is further down the chain.
fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// A response read in full.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub async fn read(response: Response) -> Result<Reply, PanelError> {
        let status = response.status();
        let body = response.text().await.map_err(transport_error)?;
        Ok(Reply { status, body })
    }

    /// 5xx and 429 are the panel's trouble, not the request's: retryable.
    pub fn server_trouble(&self) -> Option<PanelError> {
        if self.status.is_server_error() || self.status == StatusCode::TOO_MANY_REQUESTS {
            Some(PanelError::Unavailable {
                reason: format!(
                    "HTTP {}: {}",
                    self.status.as_u16(),
                    PanelError::excerpt(&self.body)
                ),
            })
        } else {
            None
        }
    }

    pub fn unexpected(&self) -> PanelError {
        PanelError::Unexpected {
            status: self.status.as_u16(),
            excerpt: PanelError::excerpt(&self.body),
        }
    }

    /// Parses the body, or says which field was missing and shows the start of the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PanelError> {
        serde_json::from_str(&self.body).map_err(|e| PanelError::Unexpected {
            status: self.status.as_u16(),
            excerpt: format!("{e} in {}", PanelError::excerpt(&self.body)),
        })
    }
}

/// Runs `op` up to `policy.attempts` times while it fails with a retryable error, doubling
/// the delay each time. Only for operations that are safe to repeat.
pub(crate) async fn retrying<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, PanelError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PanelError>>,
{
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempt < policy.attempts.max(1) => {
                tracing::debug!(attempt, error = %e, "panel call failed, retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            other => return other,
        }
    }
}
