//! Support tickets: a customer opens one with text or a photo, it is posted to the staff chat,
//! staff answer by replying to that post, and the answer is delivered; every message is saved
//! first and delivered through a queued notice, so none is lost to a failed send.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entities::{ticket_messages, tickets};
use crate::ids::{CustomerId, StaffPost, TelegramId, TicketId};
use crate::notices::{self, Notice};

pub use ticket_messages::Model as TicketMessage;
pub use tickets::Model as Ticket;

text_column! {
    /// Whether a ticket still takes messages. The `tickets.status` column is this type.
    pub enum TicketStatus {
        Open = "open",
        Closed = "closed",
    }
}

text_column! {
    /// Who wrote a ticket message. The `ticket_messages.author` column is this type.
    pub enum Author {
        Customer = "customer",
        Staff = "staff",
    }
}
/// Longer messages are refused with a hint (Telegram's caption limit is 1024, a post to staff
/// carries a header too).
pub const MAX_BODY: usize = 3000;

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("no such ticket")]
    NotFound,
    #[error("this ticket is closed")]
    Closed,
    #[error("a ticket message needs text or a photo")]
    Empty,
    #[error("a ticket message is at most {MAX_BODY} characters")]
    TooLong,
    /// The customer already has this many open tickets: one more is refused until one closes.
    #[error("at most {0} open tickets at once")]
    TooMany(usize),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// What someone wrote: text, a photo (Telegram file id), or both.
#[derive(Clone, Debug, Default)]
pub struct Writing {
    pub body: Option<String>,
    pub photo_file_id: Option<String>,
}

impl Writing {
    fn checked(self) -> Result<Self, TicketError> {
        let body = self
            .body
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty());
        if body.as_ref().is_some_and(|b| b.chars().count() > MAX_BODY) {
            return Err(TicketError::TooLong);
        }
        if body.is_none() && self.photo_file_id.is_none() {
            return Err(TicketError::Empty);
        }
        Ok(Writing {
            body,
            photo_file_id: self.photo_file_id,
        })
    }
}

async fn add_message(
    txn: &sea_orm::DatabaseTransaction,
    ticket: TicketId,
    author: Author,
    author_telegram_id: TelegramId,
    w: Writing,
    now: DateTime<Utc>,
) -> Result<TicketMessage, DbErr> {
    let m = ticket_messages::Entity::insert(ticket_messages::ActiveModel {
        ticket_id: Set(ticket),
        author: Set(author),
        author_telegram_id: Set(author_telegram_id),
        body: Set(w.body),
        photo_file_id: Set(w.photo_file_id),
        staff_chat_message_id: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(txn)
    .await?;
    tickets::Entity::update_many()
        .col_expr(tickets::Column::UpdatedAt, now.into())
        .filter(tickets::Column::Id.eq(ticket))
        .exec(txn)
        .await?;
    let notice = if author == Author::Staff {
        Notice::TicketToCustomer { message_id: m.id }
    } else {
        Notice::TicketToStaff { message_id: m.id }
    };
    notices::enqueue(txn, &notice, now).await?;
    Ok(m)
}

/// Opens a ticket with its first message.
pub async fn open(
    db: &DatabaseConnection,
    customer: CustomerId,
    telegram: TelegramId,
    writing: Writing,
    max_open: usize,
    now: DateTime<Utc>,
) -> Result<Ticket, TicketError> {
    let writing = writing.checked()?;
    if open_of(db, customer).await?.len() >= max_open {
        return Err(TicketError::TooMany(max_open));
    }
    let subject = writing
        .body
        .as_deref()
        .map(|b| b.chars().take(60).collect::<String>());
    let txn = crate::db::begin(db).await?;
    let ticket = tickets::Entity::insert(tickets::ActiveModel {
        customer_id: Set(customer),
        status: Set(TicketStatus::Open),
        subject: Set(subject),
        updated_at: Set(now),
        closed_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_with_returning(&txn)
    .await?;
    add_message(&txn, ticket.id, Author::Customer, telegram, writing, now).await?;
    txn.commit().await?;
    Ok(ticket)
}

/// The customer's ticket, if it is theirs.
pub async fn owned(
    db: &DatabaseConnection,
    ticket: TicketId,
    customer: CustomerId,
) -> Result<Ticket, TicketError> {
    tickets::Entity::find_by_id(ticket)
        .one(db)
        .await?
        .filter(|t| t.customer_id == customer)
        .ok_or(TicketError::NotFound)
}

/// The customer writes again in their open ticket.
pub async fn customer_writes(
    db: &DatabaseConnection,
    ticket: TicketId,
    customer: CustomerId,
    telegram: TelegramId,
    writing: Writing,
    now: DateTime<Utc>,
) -> Result<Ticket, TicketError> {
    let writing = writing.checked()?;
    let t = owned(db, ticket, customer).await?;
    if t.status != TicketStatus::Open {
        return Err(TicketError::Closed);
    }
    let txn = crate::db::begin(db).await?;
    add_message(&txn, t.id, Author::Customer, telegram, writing, now).await?;
    txn.commit().await?;
    Ok(t)
}

/// A staff member replied to the staff-chat post `replied_to`: the answer goes to the ticket's
/// customer. `Ok(None)` when that post is not a ticket's.
pub async fn staff_answers(
    db: &DatabaseConnection,
    replied_to: StaffPost,
    staff: TelegramId,
    writing: Writing,
    now: DateTime<Utc>,
) -> Result<Option<Ticket>, TicketError> {
    let Some(post) = post_of(db, replied_to).await? else {
        return Ok(None);
    };
    let writing = writing.checked()?;
    let t = tickets::Entity::find_by_id(post.ticket_id)
        .one(db)
        .await?
        .ok_or(TicketError::NotFound)?;
    if t.status != TicketStatus::Open {
        return Err(TicketError::Closed);
    }
    let txn = crate::db::begin(db).await?;
    add_message(&txn, t.id, Author::Staff, staff, writing, now).await?;
    txn.commit().await?;
    Ok(Some(t))
}

/// Remembers which staff-chat post shows a customer's message, so replies to it find the ticket.
pub async fn posted_to_staff(
    db: &DatabaseConnection,
    message: i64,
    post: StaffPost,
) -> Result<(), DbErr> {
    ticket_messages::Entity::update_many()
        .col_expr(ticket_messages::Column::StaffChatId, Some(post.chat).into())
        .col_expr(
            ticket_messages::Column::StaffChatMessageId,
            Some(post.message).into(),
        )
        .filter(ticket_messages::Column::Id.eq(message))
        .exec(db)
        .await?;
    Ok(())
}

/// Closes the customer's ticket. Closing a closed ticket changes nothing.
pub async fn close(
    db: &DatabaseConnection,
    ticket: TicketId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<Ticket, TicketError> {
    let t = owned(db, ticket, customer).await?;
    tickets::Entity::update_many()
        .col_expr(tickets::Column::Status, TicketStatus::Closed.into())
        .col_expr(tickets::Column::ClosedAt, Some(now).into())
        .col_expr(tickets::Column::UpdatedAt, now.into())
        .filter(tickets::Column::Id.eq(t.id))
        .filter(tickets::Column::Status.eq(TicketStatus::Open))
        .exec(db)
        .await?;
    Ok(t)
}

/// The customer's open tickets, most recently active first.
pub async fn open_of(db: &DatabaseConnection, customer: CustomerId) -> Result<Vec<Ticket>, DbErr> {
    tickets::Entity::find()
        .filter(tickets::Column::CustomerId.eq(customer))
        .filter(tickets::Column::Status.eq(TicketStatus::Open))
        .order_by_desc(tickets::Column::UpdatedAt)
        .all(db)
        .await
}

/// A message with its ticket, for delivering it.
pub async fn message(
    db: &DatabaseConnection,
    id: i64,
) -> Result<Option<(TicketMessage, Ticket)>, DbErr> {
    let Some(m) = ticket_messages::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let t = tickets::Entity::find_by_id(m.ticket_id).one(db).await?;
    Ok(t.map(|t| (m, t)))
}

/// The latest `limit` messages of a ticket, oldest first.
pub async fn messages(
    db: &DatabaseConnection,
    ticket: TicketId,
    limit: u64,
) -> Result<Vec<TicketMessage>, DbErr> {
    use sea_orm::QuerySelect;
    let mut m = ticket_messages::Entity::find()
        .filter(ticket_messages::Column::TicketId.eq(ticket))
        .order_by_desc(ticket_messages::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    m.reverse();
    Ok(m)
}

/// Whether a staff-chat post shows a ticket message.
pub async fn is_staff_post(db: &DatabaseConnection, post: StaffPost) -> Result<bool, DbErr> {
    Ok(post_of(db, post).await?.is_some())
}

/// The ticket message a staff-chat post shows, matched on chat and message.
async fn post_of(
    db: &DatabaseConnection,
    post: StaffPost,
) -> Result<Option<ticket_messages::Model>, DbErr> {
    ticket_messages::Entity::find()
        .filter(ticket_messages::Column::StaffChatId.eq(post.chat))
        .filter(ticket_messages::Column::StaffChatMessageId.eq(post.message))
        .one(db)
        .await
}

impl tickets::Model {
    pub fn ticket_id(&self) -> crate::ids::TicketId {
        self.id
    }
}
