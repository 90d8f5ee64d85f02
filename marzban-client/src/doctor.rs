//! `panel check`: walks through what must hold for the shop to sell on a panel, one line per
//! step with the fix when it fails, so an operator never has to read a stack trace.
use std::fmt;

use chrono::{TimeDelta, Utc};

use crate::account::{AccountKey, AccountName};
use crate::config::PanelConfig;
use crate::error::PanelError;
use crate::panel::{AccountSpec, PanelKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Works, but the operator should know.
    Warn,
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub verdict: Verdict,
    pub what: String,
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.verdict {
            Verdict::Pass => "✓",
            Verdict::Warn => "!",
            Verdict::Fail => "✗",
        };
        write!(f, "{mark} {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n    fix: {fix}")?;
        }
        Ok(())
    }
}

fn pass(what: impl Into<String>) -> Check {
    Check {
        verdict: Verdict::Pass,
        what: what.into(),
        fix: None,
    }
}

fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        verdict: Verdict::Fail,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

fn warn(what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        verdict: Verdict::Warn,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

/// Runs every check it can; stops at the first failure later steps depend on.
pub async fn check(config: &PanelConfig) -> Vec<Check> {
    let mut lines = Vec::new();
    let https = config.base_url.scheme() == "https";

    // Reachable at all, and TLS, with a plain GET of the base address.
    let probe = match crate::transport::client(config) {
        Ok(http) => http
            .get(config.base_url.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(crate::transport::transport_error),
        Err(e) => Err(e),
    };
    match probe {
        Ok(()) => {
            lines.push(pass(format!(
                "reachable at {}",
                crate::config::redacted(&config.base_url)
            )));
            if https {
                lines.push(pass("TLS certificate accepted"));
            } else {
                lines.push(warn(
                    "plain HTTP: the panel password crosses the network unencrypted",
                    "serve the panel over https (or reach it through an SSH tunnel or VPN)",
                ));
            }
        }
        Err(e) => {
            let reason = match e {
                PanelError::Unavailable { reason } => reason,
                other => other.to_string(),
            };
            let tls = ["certificate", "tls", "TLS", "handshake", "UnknownIssuer"]
                .iter()
                .any(|w| reason.contains(w));
            if tls {
                lines.push(pass("reachable (the TCP connection opens)"));
                lines.push(fail(
                    format!("TLS: {reason}"),
                    "give the panel a valid certificate (e.g. Let's Encrypt), or add the panel with --tls-insecure if it uses a self-signed one",
                ));
            } else {
                lines.push(fail(
                    format!("not reachable: {reason}"),
                    "check the address and port, that the panel is running, the firewall, or set --proxy",
                ));
            }
            return lines;
        }
    }

    let panel = match crate::connect(config.clone()) {
        Ok(panel) => panel,
        Err(e) => {
            lines.push(fail(e.to_string(), "check the proxy address"));
            return lines;
        }
    };
    let info = match panel.info().await {
        Ok(info) => info,
        Err(PanelError::Unauthorized) => {
            let fix = match config.kind {
                PanelKind::Hiddify => {
                    "use the API key of an admin (its UUID, shown in the admin's link) and the admin proxy path in the address"
                }
                _ => "check the admin username and password (panel add again to change them)",
            };
            lines.push(fail("credentials refused", fix));
            return lines;
        }
        Err(e) => {
            let fix = match &e {
                PanelError::Unsupported(_) => "run a supported panel version",
                _ => "check that the address points at the panel's API (base path included)",
            };
            lines.push(fail(format!("the panel API did not answer: {e}"), fix));
            return lines;
        }
    };
    lines.push(pass("credentials accepted"));
    lines.push(pass(format!("{} {}", info.kind.as_str(), info.version)));
    if info.inbounds.is_empty() {
        lines.push(fail(
            "no inbounds",
            "create at least one inbound on the panel",
        ));
        return lines;
    }
    lines.push(pass(format!("inbounds: {}", info.inbounds.join(", "))));
    if config.kind == PanelKind::XUi {
        match config.options.inbound_id {
            Some(id)
                if info
                    .inbounds
                    .iter()
                    .any(|i| i.split(' ').next() == Some(&id.to_string())) =>
            {
                lines.push(pass(format!("new clients go to inbound {id}")));
            }
            Some(id) => {
                lines.push(fail(
                    format!("inbound {id} does not exist"),
                    "add the panel again with --inbound-id set to one of the inbounds above",
                ));
                return lines;
            }
            None => {
                lines.push(fail(
                    "no inbound set for new clients",
                    "add the panel again with --inbound-id set to one of the inbounds above",
                ));
                return lines;
            }
        }
    }

    // A short-lived test account, created, read back and deleted.
    let name = AccountName::derive("doctor", 0, Utc::now().timestamp())
        .expect("the doctor's name always fits");
    let limit = 1u64 << 30;
    let spec = AccountSpec {
        name: name.clone(),
        data_limit_bytes: Some(limit),
        expires_at: Some(Utc::now() + TimeDelta::days(1)),
        note: "vpnshop panel check: safe to delete".into(),
        key: AccountKey::generate(),
    };
    let target = spec.target();
    if let Err(e) = panel.ensure_account(&spec).await {
        lines.push(fail(
            format!("cannot create a test account: {e}"),
            "give the admin the right to create users, and check the panel's own log",
        ));
        return lines;
    }
    lines.push(pass(format!("test account {name} created")));
    match panel.account(&target).await {
        Ok(account) if account.data_limit_bytes == Some(limit) => {
            lines.push(pass("test account read back with its limit"));
            match &account.subscription_url {
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                    lines.push(pass(format!("subscription links are absolute ({})", url.split('/').take(3).collect::<Vec<_>>().join("/"))));
                }
                other => lines.push(fail(
                    format!(
                        "subscription link is not absolute: {}",
                        other.as_deref().unwrap_or("none")
                    ),
                    match config.kind {
                        PanelKind::Marzban => "set XRAY_SUBSCRIPTION_URL_PREFIX on the panel, or add the panel with --sub-url https://your-sub-domain/",
                        PanelKind::Hiddify => "add the panel with --sub-url https://your-domain/<client proxy path>/",
                        PanelKind::XUi => "add the panel with --sub-url set to the subscription server (e.g. https://your-domain:2096/sub/)",
                    },
                )),
            }
        }
        Ok(account) => lines.push(fail(
            format!(
                "test account read back with limit {:?}, not {limit}",
                account.data_limit_bytes
            ),
            "report this panel version: the client misreads its answers",
        )),
        Err(e) => lines.push(fail(
            format!("cannot read the test account back: {e}"),
            "check the panel's own log",
        )),
    }
    match panel.delete(&target).await {
        Ok(()) => match panel.account(&target).await {
            Err(PanelError::NotFound) => lines.push(pass("test account deleted")),
            _ => lines.push(fail(
                format!("test account {name} is still there after deleting it"),
                "delete it by hand on the panel",
            )),
        },
        Err(e) => lines.push(fail(
            format!("cannot delete test account {name}: {e}"),
            "delete it by hand on the panel",
        )),
    }
    lines
}

/// Whether every line passed or only warned.
pub fn healthy(lines: &[Check]) -> bool {
    lines.iter().all(|l| l.verdict != Verdict::Fail)
}
