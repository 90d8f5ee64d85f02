//! The main menu, and every button press: decoded in one place, then checked and routed.
use std::sync::Arc;

use teloxide::prelude::*;
use vpnshop_core::customers::{Customer, Language};

use super::{
    ChatDialogue, Ctx, Visit, apologize, buy, checkout, guides, help, invite, language,
    language_of, points, registered, show, stale, subscriptions, support, trial, wallet,
};
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::{escape, tr, tr_with};

pub async fn welcome(
    bot: &Bot,
    chat: ChatId,
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> HandlerResult {
    let text = tr_with(
        lang,
        "menu.welcome",
        &[
            ("shop", &escape(&ctx.shop_name)),
            ("name", &escape(&customer.first_name)),
        ],
    );
    show(
        bot,
        chat,
        None,
        text,
        menu_keyboard(ctx, customer, lang).await?,
    )
    .await
}

/// The main menu, with the trial button when this customer can still take it.
pub async fn menu_keyboard(
    ctx: &Ctx,
    customer: &Customer,
    lang: Language,
) -> Result<teloxide::types::InlineKeyboardMarkup, crate::errors::BotError> {
    let trial = vpnshop_core::trial::available(
        &ctx.db,
        customer.customer_id(),
        ctx.sales.trial_plan.as_deref(),
    )
    .await?;
    Ok(keyboards::main_menu_with(lang, trial))
}

pub async fn on_callback(
    bot: Bot,
    q: CallbackQuery,
    dialogue: ChatDialogue,
    ctx: Arc<Ctx>,
) -> HandlerResult {
    let Some(customer) = registered(&bot, &ctx, &q.from, None).await else {
        return Ok(());
    };
    let lang = language_of(&ctx, &customer, &q.from);
    let action = q.data.as_deref().and_then(Action::decode);
    let Some(action) = action.filter(|_| !customer.banned) else {
        // An old button from an earlier version, or forged data: say so and change nothing.
        bot.answer_callback_query(q.id.clone())
            .text(tr(lang, "errors.stale_button"))
            .await?;
        return Ok(());
    };
    bot.answer_callback_query(q.id.clone()).await?;
    let Some(message) = q.regular_message() else {
        return Ok(());
    };
    // Buttons only ever act in the presser's own private chat.
    if !message.chat.is_private() || message.chat.id.0 != q.from.id.0 as i64 {
        return Ok(());
    }
    let (chat, edit) = (message.chat.id, Some(message.id));
    let v = Visit {
        bot: &bot,
        chat,
        edit,
        ctx: &ctx,
        customer: &customer,
        lang,
    };
    let result = match action {
        Action::Menu => match menu_keyboard(&ctx, &customer, lang).await {
            Ok(k) => show(&bot, chat, edit, tr(lang, "menu.title"), k).await,
            Err(e) => Err(e),
        },
        Action::LanguageMenu => language::ask(&bot, chat, edit).await,
        Action::SetLanguage(new) => {
            language::choose(&bot, chat, edit, &dialogue, &ctx, &customer, new).await
        }
        Action::Wallet => wallet::show_wallet(&bot, chat, edit, &ctx, &customer, lang, 0).await,
        Action::WalletPage(page) => {
            wallet::show_wallet(&bot, chat, edit, &ctx, &customer, lang, page).await
        }
        Action::TopUp => wallet::top_up_menu(&bot, chat, edit, &ctx, lang).await,
        Action::TopUpStars(n) => wallet::top_up(&bot, chat, &ctx, &customer, lang, n).await,
        Action::Invite => invite::show_invite(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::Help => help::show_help(&bot, chat, edit, lang).await,
        Action::Guides => guides::menu(&bot, chat, edit, lang).await,
        Action::Guide(p) => guides::show(&bot, chat, edit, lang, p).await,
        Action::Points => points::show_points(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::Trial => trial::take(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::Buy => buy::locations(&bot, chat, edit, &ctx, lang).await,
        Action::BuyLocation(l) => buy::plans(&bot, chat, edit, &ctx, lang, l).await,
        Action::BuyPlan(l, p) => buy::choose(&v, l, p).await,
        Action::PayWallet(o) => buy::pay_wallet(&v, o).await,
        Action::PayStars(o) => buy::pay_stars(&bot, chat, &ctx, &customer, lang, o).await,
        Action::Promo(o) => buy::ask_promo(&v, &dialogue, o).await,
        Action::UsePoints(o) => buy::use_points(&bot, chat, edit, &ctx, &customer, lang, o).await,
        Action::CancelOrder(o) => buy::cancel(&v, &dialogue, o).await,
        Action::Subscriptions => subscriptions::list(&v, 0).await,
        Action::SubscriptionsPage(page) => subscriptions::list(&v, page).await,
        Action::Subscription(s) => {
            subscriptions::detail(&bot, chat, edit, &ctx, &customer, lang, s).await
        }
        Action::SubscriptionQr(s) => subscriptions::qr(&bot, chat, &ctx, &customer, lang, s).await,
        Action::Renew(s) => subscriptions::renew(&bot, chat, edit, &ctx, &customer, lang, s).await,
        Action::Traffic(s) => {
            subscriptions::packs(&bot, chat, edit, &ctx, &customer, lang, s).await
        }
        Action::TrafficPack(s, gb) => subscriptions::add_traffic(&v, s, gb).await,
        Action::Support => support::menu(&bot, chat, edit, &ctx, &customer, lang).await,
        Action::NewTicket => support::ask(&v, &dialogue, None).await,
        Action::Ticket(t) => support::show_ticket(&bot, chat, edit, &ctx, &customer, lang, t).await,
        Action::TicketWrite(t) => support::ask(&v, &dialogue, Some(t)).await,
        Action::TicketClose(t) => support::close(&v, &dialogue, t).await,
        Action::PayVia(o, p) => checkout::pay_order(&v, &dialogue, o, p).await,
        Action::TopUpVia(p) => {
            checkout::ask_top_up(&bot, chat, edit, &dialogue, &ctx, lang, p).await
        }
        Action::CheckPayment(p) => checkout::check(&bot, chat, &ctx, &customer, lang, p).await,
        // Staff-chat buttons do nothing in a private chat.
        Action::ReceiptApprove(_)
        | Action::ReceiptReject(_)
        | Action::ReviewCreditReceived(_)
        | Action::ReviewCreditFull(_)
        | Action::ReviewDecline(_) => stale(&bot, chat, lang).await,
    };
    if let Err(e) = result {
        apologize(&bot, chat, lang, &e).await;
    }
    Ok(())
}
