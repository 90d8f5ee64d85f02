//! Settings as the seller writes them, checked and parsed in one pass.
//!
//! Each part of the shop that has settings (a gateway, card-to-card, the selling rules) owns its
//! own `…Settings` struct and turns it into the typed value it runs by, reporting what is wrong
//! into [`Problems`] under the key the seller wrote. A value that is wrong is reported, never
//! silently replaced: whatever stands in for it while the rest is checked is thrown away with
//! the problems, so it never reaches a running shop.
pub mod lenient;

use std::fmt;

use crate::money::{Currency, Money};

/// One wrong key: where it is, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Everything found wrong so far, in the order the keys were checked.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn new() -> Self {
        Problems(Vec::new())
    }

    /// Records that `key` is wrong.
    pub fn bad(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Records `message` under `key` unless `ok`.
    pub fn require(&mut self, ok: bool, key: &str, message: impl Into<String>) {
        if !ok {
            self.bad(key, message);
        }
    }

    /// An http(s) URL with a host, or a problem.
    pub fn url(&mut self, key: &str, value: &str) -> Option<url::Url> {
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
            _ => {
                self.bad(key, format!("`{value}` is not an http(s) URL"));
                None
            }
        }
    }

    /// An amount in `currency` (zero allowed), or a problem.
    pub fn amount(&mut self, key: &str, text: &str, currency: Currency) -> Option<Money> {
        match Money::parse(text, currency) {
            Ok(m) => Some(m),
            Err(_) => {
                self.bad(key, format!("`{text}` is not an amount in {currency}"));
                None
            }
        }
    }

    /// An optional amount that must be more than zero when set.
    pub fn positive_amount(
        &mut self,
        key: &str,
        text: Option<&str>,
        currency: Currency,
    ) -> Option<Money> {
        let text = text?;
        match Money::parse(text, currency) {
            Ok(m) if m.minor() > 0 => Some(m),
            _ => {
                self.bad(
                    key,
                    format!("`{text}` is not a positive amount in {}", currency.code()),
                );
                None
            }
        }
    }

    /// A whole number of minutes, at least `least`.
    pub fn minutes(&mut self, key: &str, n: i64, least: i64) -> chrono::Duration {
        self.require(n >= least, key, format!("must be at least {least}"));
        chrono::Duration::minutes(n.max(least))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `value` if nothing was wrong, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_kept_with_its_key_and_the_value_is_withheld() {
        let mut p = Problems::new();
        assert!(p.url("a.url", "ftp://x").is_none());
        assert_eq!(p.minutes("a.minutes", 0, 1), chrono::Duration::minutes(1));
        assert!(
            p.positive_amount("a.price", Some("0"), Currency::Irt)
                .is_none()
        );
        assert!(p.positive_amount("a.none", None, Currency::Irt).is_none());
        let keys: Vec<String> = p
            .finish(())
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, ["a.url", "a.minutes", "a.price"]);
        assert_eq!(Problems::new().finish(7), Ok(7));
    }
}
