//! The handler tree: each update is understood once (who, where, which language, which button:
//! a [`Visit`]) and routed to the feature that owns it. Staff-chat updates and Telegram Stars
//! payments take their own branches ahead of the customer's.
pub(crate) mod admin;
mod buttons;
pub(crate) mod buy;
pub(crate) mod channel;
pub(crate) mod checkout;
pub(crate) mod flood;
mod guides;
mod help;
pub(crate) mod invite;
mod language;
pub(crate) mod maintenance;
mod menu;
mod messages;
mod moves;
mod panics;
mod points;
mod preview;
pub(crate) mod readers;
pub(crate) mod staff;
pub(crate) mod stars;
pub(crate) mod subscriptions;
pub(crate) mod support;
mod trial;
mod visit;
mod wallet;

pub use guides::guide_keyboard;
pub use subscriptions::{send_qr, summary as subscription_summary};
pub use visit::Visit;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::{Dialogue, ErasedStorage};
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;

use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};
use vpnshop_core::ids::{OrderId, PaymentId, TicketId};

/// Where a chat is in a conversation. Stored in the database as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum State {
    #[default]
    Idle,
    /// First contact: waiting for the customer to pick a language.
    ChoosingLanguage,
    /// Checkout: waiting for a promo code for this pending order.
    EnteringPromo { order: OrderId },
    /// Support: waiting for a ticket message (a new ticket when `None`).
    WritingTicket { ticket: Option<TicketId> },
    /// Card-to-card: waiting for the receipt photo of this payment.
    AwaitingReceipt { payment: PaymentId },
    /// Top-up: waiting for the amount to pay through this method.
    EnteringTopUp { method: String },
    /// An admin dialogue's step.
    Admin(admin::AdminStep),
}

pub type ChatDialogue = Dialogue<State, ErasedStorage<State>>;

pub fn schema() -> UpdateHandler<BotError> {
    panics::guard()
        .filter(flood::allowed)
        .branch(
            Update::filter_message()
                .branch(staff::messages())
                .branch(
                    dptree::filter(|msg: Message| msg.successful_payment().is_some())
                        .endpoint(stars::on_successful_payment),
                )
                .filter_map_async(visit::of_message)
                .branch(messages::schema()),
        )
        .branch(Update::filter_callback_query().branch(staff::buttons()))
        .branch(Update::filter_callback_query().branch(admin::buttons()))
        .branch(
            Update::filter_callback_query()
                .filter_map_async(visit::of_button)
                .filter_map_async(visit::action_of)
                .branch(
                    dptree::filter_async(maintenance::holds_action).endpoint(maintenance::notice),
                )
                .branch(dptree::filter_async(channel::holds_action).endpoint(channel::notice))
                .endpoint(buttons::on_button),
        )
        .branch(Update::filter_pre_checkout_query().endpoint(stars::on_pre_checkout))
}

/// Ends a customer's update: a refusal is said in their language, under the screen they
/// pressed; any other failure is logged and apologized for.
async fn answered(v: &Visit, result: HandlerResult) -> HandlerResult {
    match result {
        Ok(()) => Ok(()),
        Err(BotError::Refused(r)) => {
            let said = v
                .say(r.render(v.lang), crate::keyboards::back_to_menu(v.lang))
                .await;
            if let Err(e) = said {
                v.apologize(&e).await;
            }
            Ok(())
        }
        Err(e) => {
            v.apologize(&e).await;
            Ok(())
        }
    }
}
