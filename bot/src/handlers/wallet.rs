//! The wallet: balance, the transactions page by page, and topping up with Telegram Stars.
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::ledger::{self, TxKind};
use vpnshop_core::payments::stars;

use super::{Visit, buy};
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards::{self, button};
use crate::text::{self, tr, tr_with};

const PAGE: u64 = 5;

fn kind_key(kind: Option<TxKind>) -> &'static str {
    match kind {
        Some(TxKind::TopUp) => "wallet.kind.top_up",
        Some(TxKind::Purchase) => "wallet.kind.purchase",
        Some(TxKind::Refund) => "wallet.kind.refund",
        Some(TxKind::Adjustment) => "wallet.kind.adjustment",
        Some(TxKind::ReferralReward) => "wallet.kind.referral_reward",
        Some(TxKind::PromoCredit) => "wallet.kind.promo_credit",
        _ => "wallet.kind.other",
    }
}

pub async fn show_wallet(v: &Visit, page: u32) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let balance = ledger::wallet_balance(&ctx.db, customer.customer_id(), ctx.currency).await?;
    // One more than a page tells whether an older page exists.
    let history = ledger::wallet_history(
        &ctx.db,
        customer.customer_id(),
        ctx.currency,
        u64::from(page) * PAGE,
        PAGE + 1,
    )
    .await?;
    let mut body = tr_with(
        lang,
        "wallet.balance",
        &[("amount", &text::money(lang, balance))],
    );
    body.push_str("\n\n");
    if history.is_empty() {
        body.push_str(&tr(lang, "wallet.no_history"));
    } else {
        body.push_str(&tr(lang, "wallet.history_title"));
        for line in history.iter().take(PAGE as usize) {
            body.push('\n');
            body.push_str(&tr_with(
                lang,
                "wallet.line",
                &[
                    ("date", &text::date(line.at)),
                    ("kind", &tr(lang, kind_key(line.kind))),
                    (
                        "amount",
                        &text::signed_money(lang, line.amount_minor, ctx.currency),
                    ),
                ],
            ));
        }
    }
    let mut paging = Vec::new();
    if page > 0 {
        paging.push(button(
            tr(lang, "wallet.newer"),
            Action::WalletPage(page - 1),
        ));
    }
    if history.len() as u64 > PAGE {
        paging.push(button(
            tr(lang, "wallet.older"),
            Action::WalletPage(page + 1),
        ));
    }
    let mut rows = Vec::new();
    if !paging.is_empty() {
        rows.push(paging);
    }
    if ctx.sales.stars.is_some() || !super::checkout::offered(ctx).await?.is_empty() {
        rows.push(vec![button(tr(lang, "wallet.top_up"), Action::TopUp)]);
    }
    rows.push(vec![keyboards::back(lang)]);
    v.show(body, InlineKeyboardMarkup::new(rows)).await
}

pub async fn top_up_menu(v: &Visit) -> HandlerResult {
    let (ctx, lang) = (&v.ctx, v.lang);

    let mut items: Vec<(String, Action)> = Vec::new();
    let mut body = tr(lang, "wallet.top_up_how");
    if let Some(rate) = ctx.sales.stars {
        items.extend(ctx.sales.stars_top_up.iter().map(|&n| {
            let label = tr_with(
                lang,
                "wallet.top_up_option",
                &[
                    ("stars", &n.to_string()),
                    ("amount", &text::money(lang, rate.value_of(n))),
                ],
            );
            (label, Action::TopUpStars(n))
        }));
        body.push_str("\n\n");
        body.push_str(&tr_with(
            lang,
            "wallet.top_up_pick",
            &[("rate", &text::money(lang, rate.value_of(1)))],
        ));
    }
    items.extend(super::checkout::top_up_buttons(ctx, lang).await?);
    if items.is_empty() {
        return v
            .show(tr(lang, "wallet.no_top_up"), keyboards::back_to_menu(lang))
            .await;
    }
    v.show(body, keyboards::list(lang, items)).await
}

/// Sends a Stars invoice for one of the seller's top-up amounts (any other is refused: the
/// button carries the amount only as a choice among those).
pub async fn top_up(v: &Visit, stars_amount: i64) -> HandlerResult {
    let (ctx, customer, lang) = (&v.ctx, &v.customer, v.lang);

    let (Some(rate), true) = (
        ctx.sales.stars,
        ctx.sales.stars_top_up.contains(&stars_amount),
    ) else {
        return v.stale().await;
    };
    let invoice = match stars::invoice_for_top_up(
        &ctx.db,
        customer.customer_id(),
        stars_amount,
        rate,
        ctx.clock.now(),
    )
    .await
    {
        Ok(i) => i,
        Err(e) => return Err(crate::errors::BotError::Service(e.to_string())),
    };
    let title = tr(lang, "stars.top_up_title");
    let description = tr_with(
        lang,
        "stars.top_up_description",
        &[("amount", &text::money(lang, invoice.credit))],
    );
    buy::send_invoice(v, title, description, &invoice).await
}
