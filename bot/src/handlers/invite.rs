//! Inviting friends: the customer's deep link, how many joined and bought, and the reward.
use vpnshop_core::customers::Customer;
use vpnshop_core::rewards::{self, ReferralReward};

use super::readers;
use super::{Ctx, Visit};
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{self, escape, tr, tr_with};
use teloxide::prelude::*;
use vpnshop_core::ids::CustomerId;
use vpnshop_core::money::Money;

pub fn link(ctx: &Ctx, customer: &Customer) -> String {
    format!(
        "https://t.me/{}?start=ref_{}",
        ctx.bot_username, customer.referral_code
    )
}

pub async fn show_invite(v: &Visit) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

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
    v.show(body, keyboards::back_to_menu(lang)).await
}

/// A notice: the referrer earned a reward for a friend's first purchase.
pub async fn notify_reward(
    bot: &TgBot,
    ctx: &Ctx,
    referrer: CustomerId,
    (wallet, points): (Option<Money>, Option<i64>),
) -> HandlerResult {
    let customer = readers::customer(ctx, referrer).await?;
    let lang = readers::lang(ctx, &customer);
    let what = match (wallet, points) {
        (Some(m), _) => text::money(lang, m),
        (None, Some(n)) => text::count(lang, n, "points"),
        (None, None) => return Ok(()),
    };
    bot.send_message(
        readers::chat(&customer),
        tr_with(lang, "notice.referral_reward", &[("reward", &what)]),
    )
    .await?;
    Ok(())
}
