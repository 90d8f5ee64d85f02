//! A staff member writes to a customer from their card: the message is a durable notice, queued
//! with its audit row, so it is delivered (and retried) like every other and never lost to a
//! failed send.
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::audit::Entry;
use crate::ids::CustomerId;
use crate::notices::{self, Notice};
use crate::staff::{Access, Permission};

/// One Telegram message, with the header the bot puts on top.
pub const MAX_TEXT: usize = 3_000;

#[derive(Debug, thiserror::Error)]
pub enum StaffMessageError {
    #[error("your role may not message customers")]
    NotAllowed,
    #[error("a message needs text")]
    Empty,
    #[error("a message is at most {MAX_TEXT} characters")]
    TooLong,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` sends `text` to `customer`.
pub async fn send(
    db: &DatabaseConnection,
    by: &Access,
    customer: CustomerId,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(), StaffMessageError> {
    if !by.may(Permission::Messages) {
        return Err(StaffMessageError::NotAllowed);
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(StaffMessageError::Empty);
    }
    let length = text.chars().count();
    if length > MAX_TEXT {
        return Err(StaffMessageError::TooLong);
    }
    let txn = crate::db::begin(db).await?;
    let notice = Notice::StaffMessage {
        customer,
        text: text.to_string(),
        key: uuid::Uuid::new_v4().simple().to_string(),
    };
    notices::enqueue(&txn, &notice, now).await?;
    Entry::new(Some(by.who), "customer.message")
        .target(format!("customer:{customer}"))
        .customer(customer)
        .details(format!(
            "{length} characters: {}",
            text.chars().take(80).collect::<String>()
        ))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
