//! The message router: commands first (they work at any step), then whatever the chat's
//! dialogue step waits for, then a hint. Every branch gets the sender's [`Visit`].
use teloxide::dispatching::UpdateHandler;
use teloxide::dispatching::dialogue::ErasedStorage;
use teloxide::prelude::*;
use vpnshop_core::ids::{OrderId, PaymentId, TicketId};

use super::{
    State, Visit, admin, answered, buy, channel, checkout, help, language, maintenance, menu,
    subscriptions, support, wallet,
};
use crate::errors::{BotError, HandlerResult};
use crate::keyboards;
use crate::text::tr;

/// A slash command a customer may type, with or without `@botname` and arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Start,
    Language,
    Help,
    Buy,
    Subscriptions,
    Wallet,
    Support,
    Cancel,
    /// A command we do not have.
    Unknown,
}

impl Command {
    fn of(msg: Message) -> Option<Command> {
        let word = msg.text()?.split_whitespace().next()?;
        let name = word.strip_prefix('/')?;
        let name = name.split('@').next().unwrap_or(name).to_ascii_lowercase();
        Some(match name.as_str() {
            "start" | "menu" => Command::Start,
            "language" | "lang" => Command::Language,
            "help" => Command::Help,
            "buy" => Command::Buy,
            "subscriptions" => Command::Subscriptions,
            "wallet" => Command::Wallet,
            "support" => Command::Support,
            "cancel" => Command::Cancel,
            _ => Command::Unknown,
        })
    }
}

pub fn schema() -> UpdateHandler<BotError> {
    dptree::entry()
        .branch(dptree::filter(|v: Visit| v.customer.banned).endpoint(banned))
        .branch(admin::commands())
        .branch(dptree::filter_async(maintenance::holds_message).endpoint(maintenance::notice))
        .branch(dptree::filter_async(channel::holds_message).endpoint(channel::notice_for_message))
        .branch(dptree::filter_map(Command::of).endpoint(on_command))
        .enter_dialogue::<Message, ErasedStorage<State>, State>()
        .branch(dptree::case![State::EnteringPromo { order }].endpoint(promo))
        .branch(dptree::case![State::WritingTicket { ticket }].endpoint(ticket))
        .branch(dptree::case![State::AwaitingReceipt { payment }].endpoint(receipt))
        .branch(dptree::case![State::EnteringTopUp { method }].endpoint(top_up))
        .branch(dptree::case![State::ChoosingLanguage].endpoint(pick_language))
        .branch(dptree::case![State::Admin(step)].endpoint(admin::step))
        .endpoint(idle)
}

async fn banned(v: Visit) -> HandlerResult {
    v.bot
        .send_message(v.chat, tr(v.lang, "errors.banned"))
        .await?;
    Ok(())
}

async fn on_command(v: Visit, command: Command) -> HandlerResult {
    let result = command_result(&v, command).await;
    answered(&v, result).await
}

async fn command_result(v: &Visit, command: Command) -> HandlerResult {
    match command {
        Command::Start if v.customer.lang().is_none() => {
            v.set_state(State::ChoosingLanguage).await?;
            language::ask(v).await
        }
        Command::Start => {
            v.set_state(State::Idle).await?;
            menu::welcome(v).await
        }
        Command::Language => {
            v.set_state(State::ChoosingLanguage).await?;
            language::ask(v).await
        }
        Command::Help => help::show_help(v).await,
        Command::Buy => {
            v.set_state(State::Idle).await?;
            buy::locations(v).await
        }
        Command::Subscriptions => {
            v.set_state(State::Idle).await?;
            subscriptions::list(v, 0).await
        }
        Command::Wallet => {
            v.set_state(State::Idle).await?;
            wallet::show_wallet(v, 0).await
        }
        Command::Support => {
            v.set_state(State::Idle).await?;
            support::menu(v).await
        }
        Command::Cancel => {
            v.set_state(State::Idle).await?;
            v.say(tr(v.lang, "cancel.done"), keyboards::main_menu(v.lang))
                .await
        }
        // Inside a dialogue step: a hint, and the step stays.
        Command::Unknown if v.dialogue.get().await?.unwrap_or_default() != State::Idle => {
            v.bot
                .send_message(v.chat, tr(v.lang, "hint.in_dialogue"))
                .await?;
            Ok(())
        }
        Command::Unknown => unknown(v).await,
    }
}

async fn promo(v: Visit, msg: Message, order: OrderId) -> HandlerResult {
    let result = buy::promo_entered(&v, order, msg.text()).await;
    answered(&v, result).await
}

async fn ticket(v: Visit, msg: Message, ticket: Option<TicketId>) -> HandlerResult {
    let result = support::written(&v, &msg, ticket).await;
    answered(&v, result).await
}

async fn receipt(v: Visit, msg: Message, payment: PaymentId) -> HandlerResult {
    let result = checkout::receipt(&v, &msg, Some(payment)).await;
    answered(&v, result).await
}

async fn top_up(v: Visit, msg: Message, method: String) -> HandlerResult {
    let result = checkout::top_up_entered(&v, &method, msg.text()).await;
    answered(&v, result).await
}

/// Text or a sticker where a language button is expected: a hint, and the step stays.
async fn pick_language(v: Visit) -> HandlerResult {
    v.bot
        .send_message(v.chat, tr(v.lang, "hint.pick_language"))
        .reply_markup(keyboards::languages())
        .await?;
    Ok(())
}

/// Outside any step: a photo is a card-to-card receipt, anything else gets a hint.
async fn idle(v: Visit, msg: Message) -> HandlerResult {
    let result = match msg.photo() {
        Some(_) => checkout::receipt(&v, &msg, None).await,
        None => unknown(&v).await,
    };
    answered(&v, result).await
}

async fn unknown(v: &Visit) -> HandlerResult {
    v.say(tr(v.lang, "hint.unknown"), keyboards::main_menu(v.lang))
        .await
}
