//! The admin side: screens for running the shop from Telegram, in the admin's private chat.
//!
//! Every admin update becomes an [`Admin`]: the customer's [`Visit`] plus their [`Access`], read
//! from the staff table when the update arrives — never from the chat or the button. Each screen
//! then asks [`Admin::require`] for the permission its action needs at the moment it runs, so a
//! forged admin button changes nothing: it is refused, and the refusal is audited.
mod audit;
pub mod broadcasts;
mod catalog;
mod customers;
mod gifts;
mod jobs;
mod menu;
mod messages;
mod panels;
mod payments;
mod points;
mod reconcile;
mod reports;
mod settings;
mod stats;
mod support;
mod team;

pub use messages::deliver as notify_staff_message;
pub use panels::notify_drift;
pub use panels::notify_health as notify_panel_health;
pub use stats::notify_summary;

use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::InlineKeyboardButton;
use vpnshop_core::audit::Entry;
use vpnshop_core::customers::Language;
use vpnshop_core::staff::{self, Access, Permission};

use super::{State, Visit, answered, visit};
use crate::callback::{AdminAction, Button};
use crate::errors::{BotError, HandlerResult};
use crate::refusals::Refusal;
use crate::text::tr;

/// A step of an admin dialogue (what a typed message answers).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminStep {
    /// Adding staff: waiting for the person's Telegram id or @username.
    StaffWho,
    /// Waiting for who to find.
    FindCustomer,
    /// Correcting a wallet: waiting for the signed amount and the reason.
    WalletAmount {
        customer: vpnshop_core::ids::CustomerId,
    },
    /// The correction previewed, waiting for Confirm. Kept here, on the server, so the button
    /// carries no amount.
    ConfirmAdjust(vpnshop_core::adjustments::Adjustment),
    /// Adding a panel: waiting for its password or API key (deleted as soon as it is read).
    PanelSecret(Box<crate::cli::panel::AddPanel>),
    /// Answering a ticket from the support queue: waiting for the text or photo.
    TicketReply { ticket: vpnshop_core::ids::TicketId },
    /// Correcting points: waiting for the signed number and the reason.
    PointsAmount {
        customer: vpnshop_core::ids::CustomerId,
    },
    /// Extending a subscription: waiting for days and/or GB and the reason.
    GiftAmount {
        subscription: vpnshop_core::ids::SubscriptionId,
    },
    /// The gift previewed, waiting for Confirm.
    ConfirmGift(vpnshop_core::gifts::Gift),
    /// Writing to a customer: waiting for the text.
    MessageText {
        customer: vpnshop_core::ids::CustomerId,
    },
    /// Changing a panel's capacity: waiting for the number (or `-`).
    PanelCapacity { panel: vpnshop_core::ids::PanelId },
    /// Waiting for the required channel's @username or link.
    Channel,
    /// Waiting for the help text in this language (`-`: the built-in one).
    HelpText(Language),
    /// Composing a broadcast: waiting for its message (text, or a photo with a caption).
    BroadcastBody,
    /// The draft, waiting for its audience, buttons and Send.
    Broadcast(Box<vpnshop_core::broadcasts::Draft>),
    /// Waiting for the days of "expiring in" (false) or "expired in the last" (true).
    BroadcastDays(Box<vpnshop_core::broadcasts::Draft>, bool),
    /// Waiting for a list of Telegram ids.
    BroadcastIds(Box<vpnshop_core::broadcasts::Draft>),
    /// Waiting for `Label | https://…`.
    BroadcastUrl(Box<vpnshop_core::broadcasts::Draft>),
    /// Waiting for the new text of a sent broadcast.
    BroadcastEdit(vpnshop_core::ids::BroadcastId),
}

/// A staff member on an admin screen.
#[derive(Clone)]
pub struct Admin {
    pub v: Visit,
    pub access: Access,
}

impl Admin {
    pub fn lang(&self) -> Language {
        self.v.lang
    }

    /// Goes on only if their role carries `needed` now; otherwise the refusal is audited and
    /// said.
    pub async fn require(&self, needed: Permission, what: &str) -> HandlerResult {
        if self.access.may(needed) {
            return Ok(());
        }
        denied(&self.v, Some(&self.access), what).await?;
        Err(BotError::Refused(
            Refusal::new("admin.not_allowed").with("role", self.access.title()),
        ))
    }
}

/// Records a refused admin attempt.
async fn denied(v: &Visit, access: Option<&Access>, what: &str) -> HandlerResult {
    let who = v.customer.telegram_id;
    Entry::new(Some(who), "admin.denied")
        .target(what.chars().take(64).collect::<String>())
        .details(access.map_or("not staff".to_string(), |a| a.title()))
        .customer(v.customer.id)
        .record(&v.ctx.db, v.ctx.clock.now())
        .await?;
    tracing::warn!(telegram_id = %who, action = what, "an admin action was refused");
    Ok(())
}

/// A button back to the admin menu.
fn back(lang: Language) -> InlineKeyboardButton {
    button(tr(lang, "admin.back"), AdminAction::Menu)
}

fn button(label: String, action: AdminAction) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, action.encode())
}

/// The commands staff type: `/admin`, `/stats`, `/staff`, `/audit …`, `/role …`, `/tickets`, ….
#[derive(Clone, Debug, PartialEq, Eq)]
enum Command {
    Admin,
    Stats,
    Staff,
    /// The rest of the line after `/audit`.
    Audit(String),
    /// The rest of the line after `/role`.
    Role(String),
    /// The rest of the line after `/find`.
    Find(String),
    /// `/location …`, `/plan …`, `/card …`, `/promo …`, with the rest of the line.
    Catalog(catalog::Family, String),
    /// `/panel …`, with the rest of the line and the message (deleted: it may hold a secret).
    Panel(String, teloxide::types::MessageId),
    /// `/maintenance on|off`.
    Maintenance(String),
    /// `/tickets`: the support queue.
    Tickets,
    /// `/settings`.
    Settings,
    /// `/rate USD 95000`.
    Rate(String),
    /// `/jobs`: the background jobs.
    Jobs,
    /// `/reconcile`: the shop against its panels.
    Reconcile,
    /// `/broadcast`: compose one.
    Broadcast,
    /// `/report …`: charts and exports, with the rest of the line.
    Report(String),
}

impl Command {
    fn of(msg: &Message) -> Option<Command> {
        let text = msg.text()?.trim();
        let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let name = word.strip_prefix('/')?;
        let name = name.split('@').next().unwrap_or(name).to_ascii_lowercase();
        let rest = rest.trim().to_string();
        Some(match name.as_str() {
            "admin" => Command::Admin,
            "stats" => Command::Stats,
            "staff" => Command::Staff,
            "audit" => Command::Audit(rest),
            "role" => Command::Role(rest),
            "find" => Command::Find(rest),
            "location" => Command::Catalog(catalog::Family::Location, rest),
            "plan" => Command::Catalog(catalog::Family::Plan, rest),
            "card" => Command::Catalog(catalog::Family::Card, rest),
            "promo" => Command::Catalog(catalog::Family::Promo, rest),
            "panel" => Command::Panel(rest, msg.id),
            "maintenance" => Command::Maintenance(rest),
            "tickets" => Command::Tickets,
            "settings" => Command::Settings,
            "rate" => Command::Rate(rest),
            "jobs" => Command::Jobs,
            "reconcile" => Command::Reconcile,
            "broadcast" => Command::Broadcast,
            "report" => Command::Report(rest),
            _ => return None,
        })
    }
}

/// Admin commands from staff; anyone else's fall through to the customer's commands (where
/// they are unknown).
pub fn commands() -> UpdateHandler<BotError> {
    dptree::filter_map(|msg: Message| Command::of(&msg))
        .filter_map_async(|v: Visit, command: Command| async move {
            let access = staff::access_of(&v.ctx.db, v.customer.telegram_id)
                .await
                .ok()??;
            Some((Admin { v, access }, command))
        })
        .endpoint(|(a, command): (Admin, Command)| async move {
            let result = on_command(&a, command).await;
            answered(&a.v, result).await
        })
}

async fn on_command(a: &Admin, command: Command) -> HandlerResult {
    a.v.set_state(State::Idle).await?;
    match command {
        Command::Admin => menu::show(a).await,
        Command::Stats => stats::show(a).await,
        Command::Staff => team::show(a).await,
        Command::Audit(rest) => audit::from_command(a, &rest).await,
        Command::Role(rest) => team::define_role(a, &rest).await,
        Command::Find(rest) => customers::find(a, &rest).await,
        Command::Catalog(family, rest) => catalog::run(a, family, &rest).await,
        Command::Panel(rest, message) => panels::run(a, &rest, message).await,
        Command::Maintenance(rest) => maintenance(a, &rest).await,
        Command::Tickets => support::queue(a, 0, None).await,
        Command::Settings => settings::show(a, None).await,
        Command::Rate(rest) => payments::set_rate(a, &rest).await,
        Command::Jobs => jobs::show(a).await,
        Command::Reconcile => reconcile::show(a, None).await,
        Command::Broadcast => broadcasts::ask_body(a).await,
        Command::Report(rest) => reports::from_command(a, &rest).await,
    }
}

/// `/maintenance on|off`: customers get a notice and can still see their subscriptions.
async fn maintenance(a: &Admin, rest: &str) -> HandlerResult {
    a.require(Permission::Settings, "settings.maintenance")
        .await?;
    let ctx = &a.v.ctx;
    let on = match rest.trim().to_ascii_lowercase().as_str() {
        "on" => true,
        "off" => false,
        _ => {
            let now = ctx.maintenance.is_on(&ctx.db).await;
            let key = if now {
                "admin.maintenance.is_on"
            } else {
                "admin.maintenance.is_off"
            };
            let text = format!(
                "{}\n{}",
                tr(a.lang(), key),
                tr(a.lang(), "admin.maintenance.usage")
            );
            return a
                .v
                .say(
                    text,
                    teloxide::types::InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]),
                )
                .await;
        }
    };
    vpnshop_core::maintenance::set(&ctx.db, &a.access, on, ctx.clock.now()).await?;
    ctx.maintenance.remember(on);
    let key = if on {
        "admin.maintenance.is_on"
    } else {
        "admin.maintenance.is_off"
    };
    a.v.say(
        tr(a.lang(), key),
        teloxide::types::InlineKeyboardMarkup::new(vec![vec![back(a.lang())]]),
    )
    .await
}

/// A typed answer to an admin dialogue step.
pub async fn step(v: Visit, step: AdminStep, msg: Message) -> HandlerResult {
    let result = async {
        let Some(access) = staff::access_of(&v.ctx.db, v.customer.telegram_id).await? else {
            v.set_state(State::Idle).await?;
            return Ok(());
        };
        let a = Admin {
            v: v.clone(),
            access,
        };
        match step {
            AdminStep::StaffWho => team::who(&a, msg.text().unwrap_or_default()).await,
            AdminStep::FindCustomer => customers::find(&a, msg.text().unwrap_or_default()).await,
            AdminStep::WalletAmount { customer } => {
                customers::preview(&a, customer, msg.text().unwrap_or_default()).await
            }
            AdminStep::PanelSecret(args) => panels::secret(&a, *args, &msg).await,
            AdminStep::TicketReply { ticket } => support::reply(&a, ticket, &msg).await,
            AdminStep::PointsAmount { customer } => {
                points::preview(&a, customer, msg.text().unwrap_or_default()).await
            }
            AdminStep::GiftAmount { subscription } => {
                gifts::preview(&a, subscription, msg.text().unwrap_or_default()).await
            }
            AdminStep::MessageText { customer } => {
                messages::send(&a, customer, msg.text().unwrap_or_default()).await
            }
            AdminStep::ConfirmGift(_) => {
                let hint = tr(a.lang(), "admin.customers.confirm_hint");
                v.bot.send_message(v.chat, hint).await?;
                Ok(())
            }
            AdminStep::PanelCapacity { panel } => {
                panels::set_capacity(&a, panel, msg.text().unwrap_or_default()).await
            }
            AdminStep::Channel => {
                settings::set_channel(&a, Some(msg.text().unwrap_or_default())).await
            }
            AdminStep::HelpText(lang) => {
                settings::set_help(&a, lang, msg.text().unwrap_or_default()).await
            }
            AdminStep::BroadcastBody => broadcasts::body(&a, &msg).await,
            AdminStep::Broadcast(draft) => broadcasts::typed_on_draft(&a, *draft).await,
            AdminStep::BroadcastDays(draft, expired) => {
                broadcasts::days(&a, *draft, expired, msg.text().unwrap_or_default()).await
            }
            AdminStep::BroadcastIds(draft) => {
                broadcasts::ids(&a, *draft, msg.text().unwrap_or_default()).await
            }
            AdminStep::BroadcastUrl(draft) => {
                broadcasts::url(&a, *draft, msg.text().unwrap_or_default()).await
            }
            AdminStep::BroadcastEdit(id) => broadcasts::edit(&a, id, &msg).await,
            AdminStep::ConfirmAdjust(_) => {
                let hint = tr(a.lang(), "admin.customers.confirm_hint");
                v.bot.send_message(v.chat, hint).await?;
                Ok(())
            }
        }
    }
    .await;
    answered(&v, result).await
}

/// Admin buttons, ahead of the customer's: data that decodes as an admin action, pressed in the
/// presser's own chat.
pub fn buttons() -> UpdateHandler<BotError> {
    dptree::filter_map(
        |q: CallbackQuery| match q.data.as_deref().and_then(Button::decode) {
            Some(Button::Admin(action)) => Some(action),
            _ => None,
        },
    )
    .filter_map_async(visit::of_button)
    .endpoint(on_button)
}

async fn on_button(v: Visit, q: CallbackQuery, action: AdminAction) -> HandlerResult {
    let access = staff::access_of(&v.ctx.db, v.customer.telegram_id).await?;
    let Some(access) = access else {
        // A customer pressing (or forging) an admin button: nothing happens but the record.
        let data = q.data.clone().unwrap_or_default();
        denied(&v, None, &data).await?;
        v.bot
            .answer_callback_query(q.id.clone())
            .text(tr(v.lang, "errors.stale_button"))
            .await?;
        return Ok(());
    };
    if let Err(e) = v.bot.answer_callback_query(q.id.clone()).await {
        tracing::warn!(error = %e, "cannot answer a button press");
    }
    let a = Admin { v, access };
    let result = match action {
        AdminAction::Menu => menu::show(&a).await,
        AdminAction::Stats => stats::show(&a).await,
        AdminAction::Staff => team::show(&a).await,
        AdminAction::StaffAdd => team::ask_who(&a).await,
        AdminAction::StaffGrant(who, role) => team::grant(&a, who, role).await,
        AdminAction::StaffRevoke(who) => team::revoke(&a, who).await,
        AdminAction::Audit(page, filter) => audit::show(&a, page, filter).await,
        AdminAction::Customers => customers::ask(&a).await,
        AdminAction::Customer(c) => customers::show(&a, c, None).await,
        AdminAction::AdjustWallet(c) => customers::ask_adjustment(&a, c).await,
        AdminAction::ConfirmAdjust(c) => customers::confirm(&a, c).await,
        AdminAction::Ban(c, on) => customers::ban(&a, c, on).await,
        AdminAction::ResendLink(s) => customers::resend_link(&a, s).await,
        AdminAction::Refund(o) => customers::refund_preview(&a, o).await,
        AdminAction::ConfirmRefund(o) => customers::refund(&a, o).await,
        AdminAction::Tickets(page) => support::queue(&a, page, None).await,
        AdminAction::Ticket(t) => support::show(&a, t, None).await,
        AdminAction::TicketTake(t) => support::take(&a, t).await,
        AdminAction::TicketReply(t) => support::ask_reply(&a, t).await,
        AdminAction::TicketClose(t) => support::close(&a, t).await,
        AdminAction::AdjustPoints(c) => points::ask(&a, c).await,
        AdminAction::Gift(s) => gifts::ask(&a, s).await,
        AdminAction::ConfirmGift(s) => gifts::confirm(&a, s).await,
        AdminAction::Message(c) => messages::ask(&a, c).await,
        AdminAction::Catalog => catalog::screen(&a, None).await,
        AdminAction::LocationEnabled(l, on) => catalog::location_enabled(&a, l, on).await,
        AdminAction::PlanEnabled(p, on) => catalog::plan_enabled(&a, p, on).await,
        AdminAction::Payments => payments::show(&a, None).await,
        AdminAction::CardEnabled(c, on) => payments::card_enabled(&a, c, on).await,
        AdminAction::Promos => catalog::promos(&a, None).await,
        AdminAction::PromoEnabled(p, on) => catalog::promo_enabled(&a, p, on).await,
        AdminAction::Panels => panels::screen(&a, None).await,
        AdminAction::Panel(p) => panels::show(&a, p, None).await,
        AdminAction::PanelCheck(p) => panels::check(&a, p).await,
        AdminAction::PanelEnabled(p, on) => panels::set_enabled(&a, p, on).await,
        AdminAction::PanelCapacity(p) => panels::ask_capacity(&a, p).await,
        AdminAction::Settings => settings::show(&a, None).await,
        AdminAction::Jobs => jobs::show(&a).await,
        AdminAction::Reconcile => reconcile::show(&a, None).await,
        pressed @ (AdminAction::RepairSub(..)
        | AdminAction::RepairUnknown(..)
        | AdminAction::RepairAll) => reconcile::repair(&a, pressed).await,
        AdminAction::SetMaintenance(on) => settings::set_maintenance(&a, on).await,
        AdminAction::AskChannel => settings::ask_channel(&a).await,
        AdminAction::ChannelOff => settings::set_channel(&a, None).await,
        AdminAction::TrialPlans => settings::trial_plans(&a).await,
        AdminAction::SetTrial(pick) => settings::set_trial(&a, pick).await,
        AdminAction::AskHelp(lang) => settings::ask_help(&a, lang).await,
        AdminAction::Broadcasts => broadcasts::list(&a).await,
        AdminAction::BroadcastNew => broadcasts::ask_body(&a).await,
        AdminAction::BroadcastAudience(pick) => broadcasts::pick(&a, pick).await,
        AdminAction::BroadcastExtra(pick) => broadcasts::extra(&a, pick).await,
        AdminAction::BroadcastConfirm => broadcasts::confirm(&a).await,
        AdminAction::BroadcastDiscard => broadcasts::discard(&a).await,
        AdminAction::BroadcastShow(b) => broadcasts::show(&a, b, None).await,
        AdminAction::BroadcastControl(b, what) => broadcasts::control(&a, b, what).await,
        AdminAction::BroadcastEdit(b) => broadcasts::ask_edit(&a, b).await,
        AdminAction::BroadcastDelete(b, sure) => broadcasts::delete(&a, b, sure).await,
        AdminAction::Reports => reports::screen(&a).await,
        AdminAction::Report(days) => reports::send(&a, days).await,
        AdminAction::Export(kind) => reports::export(&a, kind).await,
    };
    answered(&a.v, result).await
}
