//! Inviting friends: the customer's deep link and how many joined through it.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::{self, Customer, Language};

use super::{Ctx, show};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{escape, tr_with};

pub fn link(ctx: &Ctx, customer: &Customer) -> String {
    format!(
        "https://t.me/{}?start=ref_{}",
        ctx.bot_username, customer.referral_code
    )
}

pub async fn show_invite(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> HandlerResult {
    let count = customers::referred_count(&ctx.db, customer.customer_id()).await?;
    let text = tr_with(
        lang,
        "invite.text",
        &[
            ("link", &escape(&link(ctx, customer))),
            ("count", &count.to_string()),
        ],
    );
    show(bot, chat, edit, text, keyboards::back_to_menu(lang)).await
}
