//! The shop's view of VPN panels (Marzban, Hiddify, 3x-UI): accounts in the shop's words, and
//! errors that say what happened. Knows nothing of the shop, its database or Telegram.
pub mod account;
pub mod error;

pub use account::{Account, AccountName, AccountNameError, AccountStatus};
pub use error::PanelError;
