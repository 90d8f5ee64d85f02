//! The free trial button: one per customer, never after buying; provisioned by the job queue.
use vpnshop_core::trial::{self};

use super::Visit;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

pub async fn take(v: &Visit) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let overrides = ctx.overrides.get(&ctx.db).await;
    let result = trial::take(
        &ctx.db,
        customer.customer_id(),
        overrides.trial_plan(ctx.sales.trial_plan.as_deref()),
        ctx.currency,
        ctx.clock.now(),
    )
    .await;
    // Said in place of the menu, whichever way it went.
    let said = match result.map_err(BotError::from) {
        Ok(_) => tr(lang, "trial.started"),
        Err(BotError::Refused(why)) => why.render(lang),
        Err(e) => return Err(e),
    };
    v.show(said, keyboards::back_to_menu(lang)).await
}
