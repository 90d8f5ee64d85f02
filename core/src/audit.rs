//! The audit log: who did what, on which object, what it changed, and when — for every admin and
//! staff action and every refused attempt. Written in the same transaction as the change it
//! describes, so a change without its row (or a row without its change) cannot happen.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::audit_log;
use crate::ids::{CustomerId, TelegramId};

pub use audit_log::Model as AuditRow;

/// One row about to be written.
#[derive(Clone, Debug)]
pub struct Entry {
    actor: Option<TelegramId>,
    action: String,
    target: Option<String>,
    customer: Option<CustomerId>,
    before: Option<String>,
    after: Option<String>,
    details: String,
}

impl Entry {
    /// `actor` did `action` (`wallet.adjust`, `staff.grant`; the part before the first dot is
    /// its kind). `None`: the server itself (the command line, the config).
    pub fn new(actor: Option<TelegramId>, action: &str) -> Entry {
        Entry {
            actor,
            action: action.to_string(),
            target: None,
            customer: None,
            before: None,
            after: None,
            details: String::new(),
        }
    }

    /// The object acted on (`order:12`, `staff:123`).
    pub fn target(mut self, target: impl Into<String>) -> Entry {
        self.target = Some(target.into());
        self
    }

    /// The customer the action concerned.
    pub fn customer(mut self, customer: CustomerId) -> Entry {
        self.customer = Some(customer);
        self
    }

    /// What it changed, as people read it.
    pub fn change(mut self, before: impl Into<String>, after: impl Into<String>) -> Entry {
        self.before = Some(before.into());
        self.after = Some(after.into());
        self
    }

    pub fn details(mut self, details: impl Into<String>) -> Entry {
        self.details = details.into();
        self
    }

    pub async fn record(self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), DbErr> {
        audit_log::Entity::insert(audit_log::ActiveModel {
            actor_telegram_id: Set(self.actor),
            action: Set(self.action),
            target: Set(self.target),
            details: Set(self.details),
            before: Set(self.before),
            after: Set(self.after),
            customer_id: Set(self.customer),
            created_at: Set(now),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await?;
        Ok(())
    }
}

/// Records `action` with free-form `details` (the payment and card stories' form).
pub async fn record(
    db: &impl ConnectionTrait,
    actor: Option<TelegramId>,
    action: &str,
    target: Option<String>,
    details: String,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut entry = Entry::new(actor, action).details(details);
    entry.target = target;
    entry.record(db, now).await
}

/// Which rows `/audit` shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub actor: Option<TelegramId>,
    pub customer: Option<CustomerId>,
    /// The action's kind: the part before its first dot (`staff`, `wallet`, `receipt`).
    pub kind: Option<String>,
}

/// A page of the latest rows matching `filter`, newest first, and whether there are more.
pub async fn latest(
    db: &impl ConnectionTrait,
    filter: &Filter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<AuditRow>, bool), DbErr> {
    let mut q = audit_log::Entity::find();
    if let Some(a) = filter.actor {
        q = q.filter(audit_log::Column::ActorTelegramId.eq(a));
    }
    if let Some(c) = filter.customer {
        q = q.filter(audit_log::Column::CustomerId.eq(c));
    }
    if let Some(k) = &filter.kind {
        q = q.filter(
            sea_orm::Condition::any()
                .add(audit_log::Column::Action.eq(k.as_str()))
                .add(audit_log::Column::Action.starts_with(format!("{k}."))),
        );
    }
    let mut rows = q
        .order_by_desc(audit_log::Column::Id)
        .offset(page * per_page)
        .limit(per_page + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > per_page;
    rows.truncate(per_page as usize);
    Ok((rows, more))
}
