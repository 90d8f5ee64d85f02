//! The free trial button: one per customer, never after buying; provisioned by the job queue.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::{Customer, Language};
use vpnshop_core::trial::{self, TrialError};

use super::{Ctx, show};
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

pub async fn take(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> HandlerResult {
    let result = trial::take(
        &ctx.db,
        customer.customer_id(),
        ctx.sales.trial_plan.as_deref(),
        ctx.currency,
        ctx.clock.now(),
    )
    .await;
    let key = match result {
        Ok(_) => "trial.started",
        Err(TrialError::NotOffered) => "trial.not_offered",
        Err(TrialError::AlreadyTaken) => "trial.already_taken",
        Err(TrialError::AlreadyBought) => "trial.already_bought",
        Err(TrialError::NoRoom) => "trial.no_room",
        Err(TrialError::Order(e)) => return Err(BotError::Service(e.to_string())),
    };
    show(
        bot,
        chat,
        edit,
        tr(lang, key),
        keyboards::back_to_menu(lang),
    )
    .await
}
