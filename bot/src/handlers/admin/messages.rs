//! "Message" on a customer's card: the next text the staff member sends goes to the customer,
//! as a durable notice with a Support button under it (their answer opens a ticket). Audited.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::ids::CustomerId;
use vpnshop_core::staff::Permission;
use vpnshop_core::staff_messages::{self, StaffMessageError};

use super::{Admin, AdminStep, button, customers};
use crate::callback::AdminAction;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{tr, tr_with};

pub async fn ask(a: &Admin, customer: CustomerId) -> HandlerResult {
    a.require(Permission::Messages, "customer.message").await?;
    a.v.set_state(State::Admin(AdminStep::MessageText { customer }))
        .await?;
    a.v.say(tr(a.lang(), "admin.messages.ask"), cancel(a, customer))
        .await
}

fn cancel(a: &Admin, customer: CustomerId) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![button(
        tr(a.lang(), "admin.customers.cancel"),
        AdminAction::Customer(customer),
    )]])
}

pub async fn send(a: &Admin, customer: CustomerId, typed: &str) -> HandlerResult {
    a.require(Permission::Messages, "customer.message").await?;
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    match staff_messages::send(&ctx.db, &a.access, customer, typed, ctx.clock.now()).await {
        Ok(()) => {
            a.v.set_state(State::Idle).await?;
            customers::show(a, customer, Some(tr(lang, "admin.messages.sent"))).await
        }
        Err(StaffMessageError::Empty | StaffMessageError::TooLong) => {
            let text = tr_with(
                lang,
                "admin.messages.bad",
                &[("max", &staff_messages::MAX_TEXT.to_string())],
            );
            a.v.say(text, cancel(a, customer)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A notice: the staff member's message, delivered to the customer in their chat.
pub async fn deliver(
    bot: &crate::ctx::TgBot,
    ctx: &crate::ctx::Ctx,
    customer: CustomerId,
    text: &str,
) -> HandlerResult {
    use teloxide::prelude::*;
    use teloxide::{ApiError, RequestError};
    let c = crate::handlers::readers::customer(ctx, customer).await?;
    let lang = crate::handlers::readers::lang(ctx, &c);
    let body = tr_with(
        lang,
        "admin.messages.to_customer",
        &[("text", &crate::text::escape(text))],
    );
    let keyboard = InlineKeyboardMarkup::new(vec![vec![crate::keyboards::button(
        tr(lang, "menu.support"),
        crate::callback::Action::Support,
    )]]);
    match bot
        .send_message(crate::handlers::readers::chat(&c), body)
        .reply_markup(keyboard)
        .await
    {
        Ok(_) => Ok(()),
        // Blocked or gone: nothing will ever get through; the audit row says it was sent.
        Err(RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        )) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
