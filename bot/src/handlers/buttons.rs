//! The button router: a decoded [`Action`] from the presser's own chat, to the feature that owns
//! it. Every handler checks again that what the button names belongs to the presser and can
//! still be acted on.
use super::{
    Visit, answered, buy, checkout, guides, help, invite, language, menu, moves, points,
    subscriptions, support, trial, wallet,
};
use crate::callback::Action;
use crate::errors::HandlerResult;

pub async fn on_button(v: Visit, action: Action) -> HandlerResult {
    let v = &v;
    let result = match action {
        Action::Menu => menu::show(v).await,
        Action::LanguageMenu => language::ask(v).await,
        Action::SetLanguage(new) => language::choose(v, new).await,
        Action::Wallet => wallet::show_wallet(v, 0).await,
        Action::WalletPage(page) => wallet::show_wallet(v, page).await,
        Action::TopUp => wallet::top_up_menu(v).await,
        Action::TopUpStars(n) => wallet::top_up(v, n).await,
        Action::Invite => invite::show_invite(v).await,
        Action::Help => help::show_help(v).await,
        Action::Guides => guides::menu(v).await,
        Action::Guide(p) => guides::guide(v, p).await,
        Action::Points => points::show_points(v).await,
        Action::Trial => trial::take(v).await,
        Action::Buy => buy::locations(v).await,
        Action::BuyLocation(l) => buy::plans(v, l).await,
        Action::BuyPlan(l, p) => buy::choose(v, l, p).await,
        Action::PayWallet(o) => buy::pay_wallet(v, o).await,
        Action::PayStars(o) => buy::pay_stars(v, o).await,
        Action::Promo(o) => buy::ask_promo(v, o).await,
        Action::UsePoints(o) => buy::use_points(v, o).await,
        Action::CancelOrder(o) => buy::cancel(v, o).await,
        Action::Subscriptions => subscriptions::list(v, 0).await,
        Action::SubscriptionsPage(page) => subscriptions::list(v, page).await,
        Action::Subscription(s) => subscriptions::detail(v, s).await,
        Action::SubscriptionQr(s) => subscriptions::qr(v, s).await,
        Action::Renew(s) => subscriptions::renew(v, s).await,
        Action::Traffic(s) => subscriptions::packs(v, s).await,
        Action::TrafficPack(s, gb) => subscriptions::add_traffic(v, s, gb).await,
        Action::AutoRenew(s, on) => subscriptions::set_auto_renew(v, s, on).await,
        Action::Move(s) => moves::destinations(v, s).await,
        Action::MoveTo(s, l) => moves::confirm(v, s, l).await,
        Action::MoveConfirm(s, l) => moves::request(v, s, l).await,
        Action::Support => support::menu(v).await,
        Action::NewTicket => support::ask(v, None).await,
        Action::Ticket(t) => support::show_ticket(v, t).await,
        Action::TicketWrite(t) => support::ask(v, Some(t)).await,
        Action::TicketClose(t) => support::close(v, t).await,
        Action::TicketRate(t, n) => support::rate(v, t, n).await,
        Action::PayVia(o, p) => checkout::pay_order(v, o, p).await,
        Action::TopUpVia(p) => checkout::ask_top_up(v, p).await,
        Action::CheckPayment(p) => checkout::check(v, p).await,
    };
    answered(v, result).await
}
