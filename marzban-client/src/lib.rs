//! The shop's view of VPN panels (Marzban, Hiddify, 3x-UI): accounts in the shop's words, and
//! errors that say what happened. Knows nothing of the shop, its database or Telegram.
pub mod account;
pub mod error;
pub mod panel;

pub use account::{Account, AccountName, AccountNameError, AccountStatus};
pub use error::PanelError;
pub use panel::{AccountPage, AccountSpec, Panel, PanelInfo, PanelKind};
