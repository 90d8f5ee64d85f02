//! The one trait every panel kind implements, in the shop's words.
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, AccountKey, AccountName, AccountRef};
use crate::error::PanelError;

/// The panel software an account lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PanelKind {
    Marzban,
    Hiddify,
    XUi,
}

impl PanelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PanelKind::Marzban => "marzban",
            PanelKind::Hiddify => "hiddify",
            PanelKind::XUi => "3x-ui",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "marzban" => Some(PanelKind::Marzban),
            "hiddify" => Some(PanelKind::Hiddify),
            "3x-ui" | "3xui" | "x-ui" | "xui" => Some(PanelKind::XUi),
            _ => None,
        }
    }
}

/// What the shop wants an account to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    pub name: AccountName,
    /// `None`: unlimited.
    pub data_limit_bytes: Option<u64>,
    /// `None`: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// A note the panel's admin sees (the customer's Telegram id, the order).
    pub note: String,
    /// The credentials the shop made for this account; an existing account is adopted only
    /// when it carries them.
    pub key: AccountKey,
}

impl AccountSpec {
    /// The account this spec makes, for the calls that follow.
    pub fn target(&self) -> AccountRef {
        AccountRef::new(self.name.clone(), self.key.clone())
    }
}

/// One page of accounts, for bulk usage sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPage {
    /// The shop's accounts on this page; the operator's own accounts are left out.
    pub accounts: Vec<Account>,
    /// How many panel entries this page covered, ours or not: the next page starts at
    /// `offset + scanned`, and a page with `scanned < limit` is the last.
    pub scanned: u64,
    /// How many accounts the panel has in all, when it says.
    pub total: Option<u64>,
}

impl AccountPage {
    /// For panels that list everything at once: cuts `offset..offset + limit` out of `all`
    /// (sorted here by panel name, so pages are stable) and converts the shop's accounts on it.
    pub(crate) fn cut<T>(
        mut all: Vec<T>,
        offset: u64,
        limit: u64,
        name: impl Fn(&T) -> &str,
        convert: impl Fn(&T) -> Result<Account, PanelError>,
    ) -> Result<AccountPage, PanelError> {
        all.sort_by(|a, b| name(a).cmp(name(b)));
        let total = all.len() as u64;
        let page: Vec<T> = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit.max(1)).unwrap_or(usize::MAX))
            .collect();
        let accounts = page
            .iter()
            .filter(|item| AccountName::from_panel(name(item)).is_some())
            .map(convert)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AccountPage {
            accounts,
            scanned: page.len() as u64,
            total: Some(total),
        })
    }
}

/// What the panel says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelInfo {
    pub kind: PanelKind,
    pub version: String,
    /// Inbound names or tags new accounts are attached to.
    pub inbounds: Vec<String>,
}

#[async_trait]
pub trait Panel: Send + Sync {
    fn kind(&self) -> PanelKind;

    /// Creates the account, or returns it as it is if it already exists and carries the spec's
    /// key: replaying this after a timeout never makes a second account, and an account of the
    /// same name that someone else made is `NotOurs`, never handed out.
    async fn ensure_account(&self, spec: &AccountSpec) -> Result<Account, PanelError>;

    /// Reads one account; `NotFound` when there is none.
    async fn account(&self, account: &AccountRef) -> Result<Account, PanelError>;

    /// Sets when the account expires (`None`: never).
    async fn set_expiry(
        &self,
        account: &AccountRef,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account, PanelError>;

    /// Sets the total traffic the account may use (`None`: unlimited).
    async fn set_data_limit(
        &self,
        account: &AccountRef,
        limit_bytes: Option<u64>,
    ) -> Result<Account, PanelError>;

    /// Sets used traffic back to zero.
    async fn reset_usage(&self, account: &AccountRef) -> Result<Account, PanelError>;

    async fn set_enabled(&self, account: &AccountRef, enabled: bool)
    -> Result<Account, PanelError>;

    /// Deletes the account; deleting one that is gone is not an error.
    async fn delete(&self, account: &AccountRef) -> Result<(), PanelError>;

    /// Accounts `offset..offset + limit` in a stable order, with usage.
    async fn list(&self, offset: u64, limit: u64) -> Result<AccountPage, PanelError>;

    /// Reachability, version and inbounds.
    async fn info(&self) -> Result<PanelInfo, PanelError>;

    /// Every account of the shop's on the panel, for the usage sync: pages of `page` accounts,
    /// at most `parallel` list calls at once, never a call per account. Panels whose API
    /// answers with everything at once override this with that one call.
    async fn all_accounts(&self, page: u64, parallel: usize) -> Result<Vec<Account>, PanelError> {
        use futures::{StreamExt, TryStreamExt};
        let page = page.max(1);
        let first = self.list(0, page).await?;
        let mut accounts = first.accounts;
        if first.scanned < page {
            return Ok(accounts);
        }
        match first.total {
            Some(total) => {
                let offsets = (1..).map(|i| i * page).take_while(|&o| o < total);
                let pages: Vec<AccountPage> = futures::stream::iter(offsets)
                    .map(|offset| self.list(offset, page))
                    .buffered(parallel.max(1))
                    .try_collect()
                    .await?;
                accounts.extend(pages.into_iter().flat_map(|p| p.accounts));
            }
            None => {
                let mut offset = page;
                loop {
                    let next = self.list(offset, page).await?;
                    accounts.extend(next.accounts);
                    if next.scanned < page {
                        break;
                    }
                    offset += page;
                }
            }
        }
        Ok(accounts)
    }

    /// Adds `extra` bytes to the limit, keeping what is unused (no-op on unlimited accounts).
    async fn add_data(
        &self,
        account: &AccountRef,
        extra_bytes: u64,
    ) -> Result<Account, PanelError> {
        let current = self.account(account).await?;
        match current.data_limit_bytes {
            None => Ok(current),
            Some(limit) => {
                self.set_data_limit(account, Some(limit.saturating_add(extra_bytes)))
                    .await
            }
        }
    }
}
