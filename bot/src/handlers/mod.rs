//! The handler tree: each update is understood once (who, where, which language, which button:
//! a [`Visit`]) and routed to the feature that owns it. Staff-chat updates and Telegram Stars
//! payments take their own branches ahead of the customer's.
mod buttons;
pub(crate) mod buy;
pub(crate) mod checkout;
mod flood;
mod guides;
mod help;
pub(crate) mod invite;
mod language;
mod menu;
mod messages;
mod panics;
mod points;
mod readers;
pub mod receipts;
pub mod reviews;
pub(crate) mod stars;
pub(crate) mod subscriptions;
pub(crate) mod support;
mod trial;
mod visit;
mod wallet;

pub use guides::guide_keyboard;
pub use receipts::post as post_receipt;
pub use subscriptions::{send_qr, summary as subscription_summary};
pub use visit::Visit;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use teloxide::dispatching::dialogue::{Dialogue, ErasedStorage};
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;

use crate::callback::Action;
use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};

/// Where a chat is in a conversation. Stored in the database as JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum State {
    #[default]
    Idle,
    /// First contact: waiting for the customer to pick a language.
    ChoosingLanguage,
    /// Checkout: waiting for a promo code for this pending order.
    EnteringPromo { order: i64 },
    /// Support: waiting for a ticket message (a new ticket when `None`).
    WritingTicket { ticket: Option<i64> },
    /// Card-to-card: waiting for the receipt photo of this payment.
    AwaitingReceipt { payment: i64 },
    /// Top-up: waiting for the amount to pay through this method.
    EnteringTopUp { method: String },
}

pub type ChatDialogue = Dialogue<State, ErasedStorage<State>>;

pub fn schema() -> UpdateHandler<BotError> {
    panics::guard()
        .filter(flood::allowed)
        .branch(
            Update::filter_message()
                .branch(
                    dptree::filter(|msg: Message, ctx: Arc<Ctx>| {
                        ctx.sales.staff_chat == Some(msg.chat.id.0)
                    })
                    .endpoint(support::on_staff_chat),
                )
                .branch(
                    dptree::filter(|msg: Message| msg.successful_payment().is_some())
                        .endpoint(stars::on_successful_payment),
                )
                .filter_map_async(visit::of_message)
                .branch(messages::schema()),
        )
        .branch(
            Update::filter_callback_query()
                .filter(|q: CallbackQuery, ctx: Arc<Ctx>| {
                    ctx.sales.staff_chat.is_some()
                        && q.regular_message().map(|m| m.chat.id.0) == ctx.sales.staff_chat
                })
                .endpoint(on_staff_button),
        )
        .branch(
            Update::filter_callback_query()
                .filter_map_async(visit::of_button)
                .filter_map_async(visit::action_of)
                .endpoint(buttons::on_button),
        )
        .branch(Update::filter_pre_checkout_query().endpoint(stars::on_pre_checkout))
}

/// Runs a customer's handler; a failure is logged and apologized for in their language.
async fn answered(v: &Visit, result: HandlerResult) -> HandlerResult {
    if let Err(e) = result {
        v.apologize(&e).await;
    }
    Ok(())
}

/// A button pressed in the staff chat: a payment in review, or a card-to-card receipt.
async fn on_staff_button(bot: TgBot, q: CallbackQuery, ctx: Arc<Ctx>) -> HandlerResult {
    match q.data.as_deref().and_then(Action::decode) {
        Some(
            Action::ReviewCreditReceived(_)
            | Action::ReviewCreditFull(_)
            | Action::ReviewDecline(_),
        ) => reviews::on_staff_callback(bot, q, ctx).await,
        _ => receipts::on_staff_callback(bot, q, ctx).await,
    }
}
