//! The admin side: screens for running the shop from Telegram. Every admin update comes through
//! [`buttons`] with the presser's role read from the staff table when it arrives; an endpoint
//! acts only for a role its action allows, so a forged admin button from a customer changes
//! nothing. There are no admin screens yet: the family of buttons ([`AdminAction`]) and the
//! dialogue step ([`AdminStep`]) are wired so the first screen only adds its own code.
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;

use crate::callback::{AdminAction, Button};
use crate::errors::{BotError, HandlerResult};

/// A step of an admin dialogue (what a typed message answers). None exist yet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminStep {}

/// Admin buttons, ahead of the customer's: data that decodes as an admin action.
pub fn buttons() -> UpdateHandler<BotError> {
    dptree::filter_map(
        |q: CallbackQuery| match q.data.as_deref().and_then(Button::decode) {
            Some(Button::Admin(action)) => Some(action),
            _ => None,
        },
    )
    .endpoint(on_button)
}

async fn on_button(action: AdminAction) -> HandlerResult {
    match action {}
}
