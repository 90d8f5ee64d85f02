//! Points: the balance, what it is worth at checkout, and how more are earned.
use vpnshop_core::money::Money;
use vpnshop_core::points;
use vpnshop_core::rewards::ReferralReward;

use super::Visit;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{self, tr, tr_with};

pub async fn show_points(v: &Visit) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let now = ctx.clock.now();
    let have = points::balance(&ctx.db, customer.customer_id(), now).await?;
    let mut body = tr_with(
        lang,
        "points.balance",
        &[("points", &text::count(lang, have, "points"))],
    );
    let money = |minor: i64| {
        text::money(
            lang,
            Money::new(minor, ctx.currency).unwrap_or(Money::zero(ctx.currency)),
        )
    };
    if let Some(value) = ctx.sales.points.value_of_point(ctx.currency) {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "points.worth",
            &[
                ("amount", &money(have.saturating_mul(value))),
                ("share", &ctx.sales.points.max_share_percent.to_string()),
            ],
        ));
    } else {
        body.push('\n');
        body.push_str(&tr(lang, "points.not_spendable"));
    }
    body.push_str("\n\n");
    body.push_str(&tr(lang, "points.how_title"));
    if let Some((per, pts)) = ctx.sales.rewards.points_per_paid {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "points.per_purchase",
            &[
                ("points", &text::count(lang, pts, "points")),
                ("amount", &money(per)),
            ],
        ));
    }
    if let Some(ReferralReward::Points(n)) = ctx.sales.rewards.referral {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "points.per_referral",
            &[("points", &text::count(lang, n, "points"))],
        ));
    }
    if ctx.sales.rewards.points_per_paid.is_none()
        && !matches!(ctx.sales.rewards.referral, Some(ReferralReward::Points(_)))
    {
        body.push('\n');
        body.push_str(&tr(lang, "points.none"));
    }
    if let Some(d) = ctx.sales.rewards.points_expire_after {
        body.push('\n');
        body.push_str(&tr_with(
            lang,
            "points.expiry",
            &[("days", &text::count(lang, d.num_days(), "days"))],
        ));
    }
    v.show(body, keyboards::back_to_menu(lang)).await
}
