//! Maintenance mode for customers: while it is on, a customer may still open the menu, their
//! subscriptions (with QR codes and guides), help and the language picker, and check a payment
//! already made; anything else gets a polite notice. Staff are never held back. Each process
//! reads the switch at most every few seconds.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teloxide::prelude::*;
use teloxide::types::InlineKeyboardMarkup;
use vpnshop_core::maintenance;
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_core::staff;

use super::Visit;
use crate::callback::Action;
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::tr;

/// How long a process trusts its last reading of the switch.
const FRESH: Duration = Duration::from_secs(5);

/// This process's reading of the switch.
#[derive(Default)]
pub struct Switch(Mutex<Option<(bool, Instant)>>);

impl Switch {
    pub async fn is_on(&self, db: &DatabaseConnection) -> bool {
        if let Some((on, at)) = *self.0.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < FRESH
        {
            return on;
        }
        let on = match maintenance::is_on(db).await {
            Ok(on) => on,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the maintenance switch");
                false
            }
        };
        self.remember(on);
        on
    }

    /// After this process changed it: no need to wait for the next reading.
    pub fn remember(&self, on: bool) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((on, Instant::now()));
    }
}

async fn holds(v: &Visit) -> bool {
    if !v.ctx.maintenance.is_on(&v.ctx.db).await {
        return false;
    }
    // Staff keep working.
    !matches!(
        staff::access_of(&v.ctx.db, v.customer.telegram_id).await,
        Ok(Some(_))
    )
}

/// A press maintenance holds back.
pub async fn holds_action(v: Visit, action: Action) -> bool {
    use Action::*;
    let allowed = matches!(
        action,
        Menu | LanguageMenu
            | SetLanguage(_)
            | Help
            | Guides
            | Guide(_)
            | Subscriptions
            | SubscriptionsPage(_)
            | Subscription(_)
            | SubscriptionQr(_)
            | CheckPayment(_)
    );
    !allowed && holds(&v).await
}

/// A typed message maintenance holds back: all but `/start`, `/subscriptions`, `/help`,
/// `/language` and `/cancel`.
pub async fn holds_message(v: Visit, msg: Message) -> bool {
    let command = msg
        .text()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|w| w.strip_prefix('/'))
        .map(|w| w.split('@').next().unwrap_or(w).to_ascii_lowercase());
    let allowed = matches!(
        command.as_deref(),
        Some("start" | "menu" | "subscriptions" | "help" | "language" | "lang" | "cancel")
    );
    !allowed && holds(&v).await
}

pub async fn notice(v: Visit) -> HandlerResult {
    let keyboard = InlineKeyboardMarkup::new(vec![
        vec![keyboards::button(
            tr(v.lang, "menu.subscriptions"),
            Action::Subscriptions,
        )],
        vec![keyboards::back(v.lang)],
    ]);
    v.say(tr(v.lang, "maintenance.notice"), keyboard).await
}
