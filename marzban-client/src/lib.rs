//! The shop's view of VPN panels (Marzban, Hiddify, 3x-UI): accounts in the shop's words, and
//! errors that say what happened. Knows nothing of the shop, its database or Telegram.
pub mod account;
pub mod config;
pub mod doctor;
pub mod error;
pub mod hiddify;
pub mod marzban;
pub mod panel;
mod transport;
pub mod xui;

pub use account::{Account, AccountKey, AccountName, AccountNameError, AccountRef, AccountStatus};
pub use config::{PanelConfig, PanelOptions, RetryPolicy};
pub use error::PanelError;
pub use panel::{AccountPage, AccountSpec, Panel, PanelInfo, PanelKind};

/// The client for whatever kind of panel `config` names.
pub fn connect(config: PanelConfig) -> Result<Box<dyn Panel>, PanelError> {
    Ok(match config.kind {
        PanelKind::Marzban => Box::new(marzban::Marzban::new(config)?),
        PanelKind::Hiddify => Box::new(hiddify::Hiddify::new(config)?),
        PanelKind::XUi => Box::new(xui::XUi::new(config)?),
    })
}
