//! The main menu: the welcome on `/start`, and the menu a "back" button returns to.
use teloxide::types::InlineKeyboardMarkup;

use super::Visit;
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::{escape, tr, tr_with};

/// The welcome, as a new message under whatever came before.
pub async fn welcome(v: &Visit) -> HandlerResult {
    let text = tr_with(
        v.lang,
        "menu.welcome",
        &[
            ("shop", &escape(&v.ctx.shop_name)),
            ("name", &escape(&v.customer.first_name)),
        ],
    );
    v.say(text, menu_keyboard(v).await?).await
}

/// The menu, in place of the pressed message.
pub async fn show(v: &Visit) -> HandlerResult {
    v.show(tr(v.lang, "menu.title"), menu_keyboard(v).await?)
        .await
}

/// The main menu, with the trial button when this customer can still take it.
async fn menu_keyboard(v: &Visit) -> Result<InlineKeyboardMarkup, BotError> {
    let overrides = v.ctx.overrides.get(&v.ctx.db).await;
    let trial = vpnshop_core::trial::available(
        &v.ctx.db,
        v.customer.customer_id(),
        overrides.trial_plan(v.ctx.sales.trial_plan.as_deref()),
    )
    .await?;
    Ok(keyboards::main_menu_with(v.lang, trial))
}
