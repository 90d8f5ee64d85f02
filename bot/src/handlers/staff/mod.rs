//! The staff side: what happens in the staff chat. Every update there is from a [`Member`],
//! whose role is read from the staff table when the update arrives — never inferred from being
//! in the chat or from a button's data. Each action is checked against the presser's role when
//! it runs: by the core service that does it (receipts, reviews: which also audit a refusal), or
//! here with [`Member::may`] (ticket answers).
pub(crate) mod receipts;
pub(crate) mod reviews;
pub(crate) mod tickets;

use std::sync::Arc;

use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::User;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Access, Permission};

use crate::callback::{Button, StaffAction};
use crate::ctx::{Ctx, TgBot};
use crate::errors::{BotError, HandlerResult};
use crate::text::{escape, tr};

/// Someone acting in the staff chat, and what the staff table says they are.
#[derive(Clone)]
pub struct Member {
    pub bot: TgBot,
    pub ctx: Arc<Ctx>,
    /// The staff chat.
    pub chat: ChatId,
    pub who: TelegramId,
    /// Their first name, escaped for HTML, to say who decided.
    pub name: String,
    /// None: not staff (they are in the chat, but that gives no authority).
    pub access: Option<Access>,
}

impl Member {
    /// Whether their role carries `needed`.
    pub fn may(&self, needed: Permission) -> bool {
        self.access.as_ref().is_some_and(|a| a.may(needed))
    }

    /// Staff texts are in the shop's language.
    pub fn lang(&self) -> vpnshop_core::customers::Language {
        self.ctx.default_language
    }
}

fn in_staff_chat(ctx: &Ctx, chat: Option<ChatId>) -> bool {
    ctx.staff_chat.is_some() && chat.map(|c| c.0) == ctx.staff_chat
}

async fn member(bot: TgBot, ctx: Arc<Ctx>, chat: ChatId, user: &User) -> Option<Member> {
    let who = TelegramId::new(user.id.0 as i64);
    let access = match staff::access_of(&ctx.db, who).await {
        Ok(access) => access,
        Err(e) => {
            tracing::error!(error = %e, "cannot read a staff member's role");
            return None;
        }
    };
    Some(Member {
        bot,
        chat,
        who,
        name: escape(&user.first_name).into_owned(),
        access,
        ctx,
    })
}

/// Messages in the staff chat: replies to receipts (a rejection's reason) and to tickets.
pub fn messages() -> UpdateHandler<BotError> {
    dptree::filter(|msg: Message, ctx: Arc<Ctx>| in_staff_chat(&ctx, Some(msg.chat.id)))
        .filter_map_async(|bot: TgBot, msg: Message, ctx: Arc<Ctx>| async move {
            let user = msg.from.clone()?;
            member(bot, ctx, msg.chat.id, &user).await
        })
        .endpoint(on_message)
}

/// Buttons pressed in the staff chat.
pub fn buttons() -> UpdateHandler<BotError> {
    dptree::filter(|q: CallbackQuery, ctx: Arc<Ctx>| {
        in_staff_chat(&ctx, q.regular_message().map(|m| m.chat.id))
    })
    .filter_map_async(|bot: TgBot, q: CallbackQuery, ctx: Arc<Ctx>| async move {
        let chat = q.regular_message()?.chat.id;
        member(bot, ctx, chat, &q.from).await
    })
    .endpoint(on_button)
}

async fn on_message(m: Member, msg: Message) -> HandlerResult {
    if receipts::reason_reply(&m, &msg).await? {
        return Ok(());
    }
    tickets::staff_reply(&m, &msg).await
}

async fn on_button(m: Member, q: CallbackQuery) -> HandlerResult {
    let answer = match q.data.as_deref().and_then(Button::decode) {
        Some(Button::Staff(StaffAction::ReceiptApprove(id))) => receipts::approve(&m, id).await?,
        Some(Button::Staff(StaffAction::ReceiptReject(id))) => receipts::reject(&m, id).await?,
        Some(Button::Staff(
            action @ (StaffAction::ReviewCreditReceived(_)
            | StaffAction::ReviewCreditFull(_)
            | StaffAction::ReviewDecline(_)),
        )) => reviews::decide(&m, &q, action).await?,
        Some(Button::Staff(StaffAction::TicketTake(id))) => tickets::take(&m, &q, id).await?,
        Some(Button::Staff(StaffAction::TicketClose(id))) => tickets::close(&m, &q, id).await?,
        _ => tr(m.lang(), "errors.stale_button"),
    };
    m.bot
        .answer_callback_query(q.id.clone())
        .text(answer)
        .await?;
    Ok(())
}
