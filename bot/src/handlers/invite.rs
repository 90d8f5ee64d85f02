//! Inviting friends: the customer's deep link, how many joined and bought, and the reward.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::{Customer, Language};
use vpnshop_core::rewards::{self, ReferralReward};

use super::{Ctx, show};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{self, escape, tr, tr_with};

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
    let (joined, bought) = rewards::referral_stats(&ctx.db, customer.customer_id()).await?;
    let mut body = tr_with(
        lang,
        "invite.text",
        &[
            ("link", &escape(&link(ctx, customer))),
            ("count", &joined.to_string()),
            ("bought", &bought.to_string()),
        ],
    );
    body.push('\n');
    body.push_str(&match ctx.sales.rewards.referral {
        Some(ReferralReward::Wallet(m)) => tr_with(
            lang,
            "invite.reward_wallet",
            &[("amount", &text::money(lang, m))],
        ),
        Some(ReferralReward::Points(n)) => tr_with(
            lang,
            "invite.reward_points",
            &[("points", &text::count(lang, n, "points"))],
        ),
        None => tr(lang, "invite.no_reward"),
    });
    show(bot, chat, edit, body, keyboards::back_to_menu(lang)).await
}
