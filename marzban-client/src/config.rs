//! How to reach one panel: address, credentials, proxy, timeouts and retries. Secrets stay
//! wrapped so no `Debug`, log line or error text ever shows them.
use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::panel::PanelKind;

/// Everything needed to talk to one panel.
#[derive(Clone)]
pub struct PanelConfig {
    pub kind: PanelKind,
    /// Marzban: `https://host:port/`; Hiddify: `https://host/<admin proxy path>/`;
    /// 3x-UI: `https://host:port/<web base path>/`.
    pub base_url: Url,
    /// Marzban and 3x-UI admin username; unused by Hiddify.
    pub username: String,
    /// Marzban/3x-UI password, or Hiddify's API key (an admin UUID).
    pub secret: SecretString,
    /// `http://`, `https://` or `socks5://` proxy for this panel only.
    pub proxy: Option<Url>,
    /// Limit for one HTTP call, connect included.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub options: PanelOptions,
}

/// Panel-specific settings the operator gives.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelOptions {
    /// 3x-UI: the inbound new clients are added to.
    pub inbound_id: Option<i64>,
    /// Where customers fetch subscriptions when the panel does not say it absolutely:
    /// 3x-UI's subscription server (`https://sub.example.com:2096/sub/`), Hiddify's client
    /// address (`https://example.com/<client proxy path>/`), or a Marzban subscription domain.
    pub sub_base_url: Option<String>,
    /// Accept self-signed certificates (panels reached by IP often have one).
    pub tls_insecure: bool,
}

/// Bounded retries with doubling delays, for idempotent operations only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(500),
        }
    }
}

impl PanelConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

    pub fn new(kind: PanelKind, base_url: Url, username: &str, secret: SecretString) -> Self {
        PanelConfig {
            kind,
            base_url: with_trailing_slash(base_url),
            username: username.to_string(),
            secret,
            proxy: None,
            timeout: Self::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            options: PanelOptions::default(),
        }
    }
}

impl fmt::Debug for PanelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanelConfig")
            .field("kind", &self.kind)
            .field("base_url", &redacted(&self.base_url))
            .field("username", &self.username)
            .field("secret", &"[redacted]")
            .field("proxy", &self.proxy.as_ref().map(redacted))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("options", &self.options)
            .finish()
    }
}

/// The URL with user info and path hidden: enough to tell which host is meant, while a
/// Hiddify admin path or proxy password stays private.
pub fn redacted(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}/…", url.scheme()),
        None => format!("{}://{host}/…", url.scheme()),
    }
}

pub(crate) fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut config = PanelConfig::new(
            PanelKind::Hiddify,
            Url::parse("https://panel.example.com/SeCrEtPaTh").unwrap(),
            "admin",
            SecretString::from("hunter2-api-key"),
        );
        config.proxy = Some(Url::parse("socks5://bob:proxypass@10.0.0.1:1080").unwrap());
        let shown = format!("{config:?}");
        for secret in ["hunter2", "SeCrEtPaTh", "proxypass", "bob"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert_eq!(config.base_url.path(), "/SeCrEtPaTh/");
    }
}
