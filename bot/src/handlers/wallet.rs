//! The wallet screen: balance and the latest transactions.
use teloxide::prelude::*;
use teloxide::types::MessageId;
use vpnshop_core::customers::{Customer, Language};
use vpnshop_core::ledger::{self, TxKind};

use super::{Ctx, show};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{self, tr, tr_with};

const HISTORY_LINES: u64 = 5;

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

pub async fn show_wallet(
    bot: &Bot,
    chat: ChatId,
    edit: Option<MessageId>,
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> HandlerResult {
    let balance = ledger::wallet_balance(&ctx.db, customer.customer_id(), ctx.currency).await?;
    let history = ledger::wallet_history(
        &ctx.db,
        customer.customer_id(),
        ctx.currency,
        0,
        HISTORY_LINES,
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
        for line in history {
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
    show(bot, chat, edit, body, keyboards::back_to_menu(lang)).await
}
