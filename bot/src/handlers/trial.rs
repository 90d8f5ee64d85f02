//! The free trial button: one per customer, never after buying; provisioned by the job queue.
use vpnshop_core::trial::{self, TrialError};

use super::Visit;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

pub async fn take(v: &Visit) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

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
    v.show(tr(lang, key), keyboards::back_to_menu(lang)).await
}
