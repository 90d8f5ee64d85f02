//! What can go wrong talking to a panel, each a thing that really happens. No variant ever holds
//! a password, token or cookie.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PanelError {
    /// The panel refused the credentials (wrong username/password or API key).
    #[error("the panel refused the credentials")]
    Unauthorized,
    #[error("no such account on the panel")]
    NotFound,
    #[error("the account already exists on the panel")]
    AlreadyExists,
    /// An account with the shop's name is on the panel, but it does not carry the key the shop
    /// made for it: another shop, or an earlier database of this one, made it. Never adopted.
    #[error(
        "an account with this name is on the panel but the shop did not make it (another shop or an earlier database did)"
    )]
    NotOurs,
    /// The panel understood the request and said no, with its own words.
    #[error("the panel rejected the request: {message}")]
    Rejected { message: String },
    /// Timeout, refused connection, or a 5xx: worth retrying later.
    #[error("the panel is unavailable: {reason}")]
    Unavailable { reason: String },
    /// The panel answered something this client does not understand.
    #[error("unexpected answer from the panel (HTTP {status}): {excerpt}")]
    Unexpected { status: u16, excerpt: String },
    /// A panel version this client does not speak yet.
    #[error("unsupported panel: {0}")]
    Unsupported(String),
}

impl PanelError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PanelError::Unavailable { .. })
    }

    /// A body excerpt short enough for a log line or an error text.
    pub fn excerpt(body: &str) -> String {
        let mut s: String = body.chars().take(200).collect();
        if body.chars().count() > 200 {
            s.push('…');
        }
        s
    }
}
