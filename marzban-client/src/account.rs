//! Accounts on a panel as the shop sees them, and the deterministic account name that proves
//! which panel accounts the shop owns.
use std::fmt;

use chrono::{DateTime, Utc};

/// The name of an account on a panel: `<prefix>_<customer>_<subscription>`, lowercase letters,
/// digits and `_`, 3–32 characters, which every panel accepts (Marzban's usernames are the
/// strictest). Derived, never typed, so the shop can always tell its accounts from others.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountNameError {
    #[error(
        "the shop prefix must be 1–16 lowercase letters or digits, starting with a letter; `{0}` is not"
    )]
    BadPrefix(String),
    #[error("`{0}` is longer than the 32 characters panels accept")]
    TooLong(String),
    #[error("`{0}` is not an account name this shop made")]
    NotOurs(String),
}

impl AccountName {
    pub const MAX_LEN: usize = 32;

    /// The name for subscription `subscription` of customer `customer` in a shop with `prefix`
    /// (the seller's prefix followed by the shop's own identity, so two shops, or a shop and
    /// an earlier database of itself, never derive the same name).
    pub fn derive(
        prefix: &str,
        customer: i64,
        subscription: i64,
    ) -> Result<Self, AccountNameError> {
        let ok_prefix = !prefix.is_empty()
            && prefix.len() <= 16
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok_prefix {
            return Err(AccountNameError::BadPrefix(prefix.to_string()));
        }
        let name = format!("{prefix}_{customer}_{subscription}");
        if name.len() > Self::MAX_LEN || customer < 0 || subscription < 0 {
            return Err(AccountNameError::TooLong(name));
        }
        Ok(AccountName(name))
    }

    /// Reads a name found on a panel; `Ok` only for names this shop (with `prefix`) derived.
    pub fn parse_ours(prefix: &str, name: &str) -> Result<(Self, i64, i64), AccountNameError> {
        let not_ours = || AccountNameError::NotOurs(name.to_string());
        let rest = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('_'))
            .ok_or_else(not_ours)?;
        let (customer, subscription) = rest.split_once('_').ok_or_else(not_ours)?;
        let digits = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && !(s.len() > 1 && s.starts_with('0'))
        };
        if !digits(customer) || !digits(subscription) {
            return Err(not_ours());
        }
        let (c, s) = (
            customer.parse().map_err(|_| not_ours())?,
            subscription.parse().map_err(|_| not_ours())?,
        );
        let derived = Self::derive(prefix, c, s).map_err(|_| not_ours())?;
        if derived.0 != name {
            return Err(not_ours());
        }
        Ok((derived, c, s))
    }

    /// A name read from a panel when it has the shape of a name some shop derived (any
    /// prefix): how listings tell the shop's accounts from the operator's own.
    pub fn from_panel(name: &str) -> Option<Self> {
        let (prefix, _) = name.split_once('_')?;
        Self::parse_ours(prefix, name).ok().map(|(n, _, _)| n)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secrets the shop generates for one account before it first calls the panel, and keeps
/// on the subscription: the client id (3x-UI's and Marzban's vless/vmess id, Hiddify's user
/// uuid; trojan and shadowsocks passwords derive from it) and the subscription id. Keeping them
/// means the shop never has to read a whole inbound to find them again, and an account found on
/// a panel under the shop's name is the shop's only if it carries them.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey {
    uuid: uuid::Uuid,
    sub_id: String,
}

impl AccountKey {
    /// A fresh random key: 122 random bits of uuid and a 16-character subscription id.
    pub fn generate() -> Self {
        let sub_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
        AccountKey {
            uuid: uuid::Uuid::new_v4(),
            sub_id,
        }
    }

    /// A key read back from the database; `None` when either part is not what
    /// [`AccountKey::generate`] makes.
    pub fn from_parts(uuid: &str, sub_id: &str) -> Option<Self> {
        let uuid = uuid::Uuid::parse_str(uuid).ok()?;
        let ok = !sub_id.is_empty()
            && sub_id.len() <= 32
            && sub_id.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| AccountKey {
            uuid,
            sub_id: sub_id.to_string(),
        })
    }

    pub fn uuid(&self) -> uuid::Uuid {
        self.uuid
    }

    pub fn sub_id(&self) -> &str {
        &self.sub_id
    }

    /// The password for protocols that take one instead of an id (trojan, shadowsocks):
    /// derived from the uuid, so there is one secret to keep.
    pub fn password(&self) -> String {
        self.uuid.simple().to_string()
    }
}

/// The key is the customer's VPN credential: never printed.
impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(…)")
    }
}

/// The account the shop means: its name and, for accounts made since keys are kept, its key.
/// Without a key a client finds the account by name, as it did before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRef {
    pub name: AccountName,
    pub key: Option<AccountKey>,
}

impl AccountRef {
    pub fn new(name: AccountName, key: AccountKey) -> Self {
        AccountRef {
            name,
            key: Some(key),
        }
    }
}

impl From<AccountName> for AccountRef {
    fn from(name: AccountName) -> Self {
        AccountRef { name, key: None }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)
    }
}

/// Whether the account can connect now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    /// Turned off by the shop (or an admin on the panel).
    Disabled,
    /// Used all its traffic.
    Limited,
    /// Past its expiry.
    Expired,
    /// Waiting for first use before its time starts.
    OnHold,
}

/// One account, converted from whatever the panel calls its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: AccountName,
    pub status: AccountStatus,
    pub used_bytes: u64,
    /// `None`: unlimited.
    pub data_limit_bytes: Option<u64>,
    /// `None`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub online_at: Option<DateTime<Utc>>,
    /// An absolute URL the customer's app can subscribe to, when the panel gives one.
    pub subscription_url: Option<String>,
    /// Individual connection links (vless://, vmess://, …) where the panel lists them.
    pub links: Vec<String>,
}

impl Account {
    /// Traffic left, or `None` when unlimited.
    pub fn remaining_bytes(&self) -> Option<u64> {
        self.data_limit_bytes
            .map(|l| l.saturating_sub(self.used_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_never_print() {
        let key = AccountKey::generate();
        let again = AccountKey::from_parts(&key.uuid().to_string(), key.sub_id()).unwrap();
        assert_eq!(again, key);
        assert_ne!(AccountKey::generate(), key);
        assert_eq!(format!("{key:?}"), "AccountKey(…)");
        assert!(
            !format!(
                "{:?}",
                AccountRef::new(AccountName::derive("s", 1, 1).unwrap(), key.clone())
            )
            .contains(key.sub_id())
        );
        assert!(AccountKey::from_parts("not-a-uuid", "abc").is_none());
        assert!(AccountKey::from_parts(&key.uuid().to_string(), "a/b").is_none());
    }

    #[test]
    fn names_are_derived_and_recognised() {
        let n = AccountName::derive("shop", 42, 7).unwrap();
        assert_eq!(n.as_str(), "shop_42_7");
        assert_eq!(
            AccountName::parse_ours("shop", "shop_42_7").unwrap(),
            (n, 42, 7)
        );
        // The largest ids still fit in 32 characters with a short prefix.
        assert!(AccountName::derive("vs", 9_999_999_999_999, 9_999_999_999_999).is_ok());
        assert!(matches!(
            AccountName::derive("shop", i64::MAX, i64::MAX),
            Err(AccountNameError::TooLong(_))
        ));
    }

    #[test]
    fn other_accounts_are_never_taken_for_ours() {
        for other in [
            "admin",
            "shop",
            "shop_",
            "shop_42",
            "shop_42_",
            "shop_042_7",
            "shop_4a_7",
            "shopx_42_7",
            "other_42_7",
            "shop_42_7_1",
        ] {
            assert!(AccountName::parse_ours("shop", other).is_err(), "{other}");
        }
    }

    #[test]
    fn a_bad_prefix_is_refused() {
        for bad in ["", "Shop", "1shop", "sh-op", "muchtoolongprefix"] {
            assert!(
                matches!(
                    AccountName::derive(bad, 1, 1),
                    Err(AccountNameError::BadPrefix(_))
                ),
                "{bad}"
            );
        }
    }
}
