//! Support tickets: a customer opens one with text or a photo, it is posted to the staff chat,
//! staff answer by replying to that post, and the answer is delivered; every message is saved
//! first and delivered through a queued notice, so none is lost to a failed send.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::audit::Entry;
use crate::entities::{customers, ticket_messages, tickets};
use crate::ids::{CustomerId, StaffPost, TelegramId, TicketId};
use crate::notices::{self, Notice};
use crate::staff::{Access, Permission};

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
    /// The presser's role does not carry the tickets permission.
    #[error("your role may not handle tickets")]
    NotAllowed,
    /// A rating is for a closed ticket.
    #[error("this ticket is still open")]
    StillOpen,
    #[error("this ticket is already rated")]
    AlreadyRated,
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
    // A customer message starts (or continues) a wait for an answer; a staff answer ends it.
    let awaiting = match author {
        Author::Customer => Expr::col(tickets::Column::AwaitingSince).if_null(now),
        Author::Staff => Expr::value(Option::<DateTime<Utc>>::None),
    };
    tickets::Entity::update_many()
        .col_expr(tickets::Column::UpdatedAt, now.into())
        .col_expr(tickets::Column::AwaitingSince, awaiting)
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
        taken_by: Set(None),
        taken_at: Set(None),
        awaiting_since: Set(Some(now)),
        rating: Set(None),
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
    by: &Access,
    writing: Writing,
    now: DateTime<Utc>,
) -> Result<Option<Ticket>, TicketError> {
    let Some(post) = post_of(db, replied_to).await? else {
        return Ok(None);
    };
    answer(db, post.ticket_id, by, writing, now).await.map(Some)
}

/// `by` answers ticket `ticket` (from the staff chat or the support queue). An untaken ticket
/// becomes theirs; the answer is queued for the customer in the same transaction; audited.
pub async fn answer(
    db: &DatabaseConnection,
    ticket: TicketId,
    by: &Access,
    writing: Writing,
    now: DateTime<Utc>,
) -> Result<Ticket, TicketError> {
    if !by.may(Permission::Tickets) {
        return Err(TicketError::NotAllowed);
    }
    let writing = writing.checked()?;
    let t = tickets::Entity::find_by_id(ticket)
        .one(db)
        .await?
        .ok_or(TicketError::NotFound)?;
    if t.status != TicketStatus::Open {
        return Err(TicketError::Closed);
    }
    let txn = crate::db::begin(db).await?;
    claim(&txn, t.id, by.who, now).await?;
    let length = writing.body.as_deref().map_or(0, |b| b.chars().count());
    let message = add_message(&txn, t.id, Author::Staff, by.who, writing, now).await?;
    Entry::new(Some(by.who), "ticket.answer")
        .target(format!("ticket:{}", t.id))
        .customer(t.customer_id)
        .details(format!("message {} ({length} characters)", message.id))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(t)
}

/// Makes an untaken ticket `who`'s; true when it did.
async fn claim(
    db: &impl ConnectionTrait,
    ticket: TicketId,
    who: TelegramId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = tickets::Entity::update_many()
        .col_expr(tickets::Column::TakenBy, Some(who).into())
        .col_expr(tickets::Column::TakenAt, Some(now).into())
        .filter(tickets::Column::Id.eq(ticket))
        .filter(tickets::Column::TakenBy.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// What taking a ticket came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// It is yours now.
    Now,
    /// It already was.
    AlreadyYours,
    /// Someone else has it.
    By(TelegramId),
}

/// `by` takes an open ticket, so the others see it is being answered. Audited when it changes
/// hands.
pub async fn take(
    db: &DatabaseConnection,
    ticket: TicketId,
    by: &Access,
    now: DateTime<Utc>,
) -> Result<Taken, TicketError> {
    if !by.may(Permission::Tickets) {
        return Err(TicketError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let t = tickets::Entity::find_by_id(ticket)
        .one(&txn)
        .await?
        .ok_or(TicketError::NotFound)?;
    if t.status != TicketStatus::Open {
        return Err(TicketError::Closed);
    }
    if !claim(&txn, t.id, by.who, now).await? {
        let holder = tickets::Entity::find_by_id(ticket)
            .one(&txn)
            .await?
            .and_then(|t| t.taken_by);
        return Ok(match holder {
            Some(h) if h == by.who => Taken::AlreadyYours,
            Some(h) => Taken::By(h),
            None => Taken::Now,
        });
    }
    Entry::new(Some(by.who), "ticket.take")
        .target(format!("ticket:{}", t.id))
        .customer(t.customer_id)
        .change("free", format!("taken by {}", by.who))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(Taken::Now)
}

/// Staff close a ticket: the customer is told (and asked to rate the answer) through a queued
/// notice; audited. Closing a closed ticket is refused, so a second press says so.
pub async fn staff_close(
    db: &DatabaseConnection,
    ticket: TicketId,
    by: &Access,
    now: DateTime<Utc>,
) -> Result<Ticket, TicketError> {
    if !by.may(Permission::Tickets) {
        return Err(TicketError::NotAllowed);
    }
    let t = tickets::Entity::find_by_id(ticket)
        .one(db)
        .await?
        .ok_or(TicketError::NotFound)?;
    let txn = crate::db::begin(db).await?;
    if !close_open(&txn, t.id, now).await? {
        return Err(TicketError::Closed);
    }
    notices::enqueue(&txn, &Notice::TicketClosed { ticket_id: t.id }, now).await?;
    Entry::new(Some(by.who), "ticket.close")
        .target(format!("ticket:{}", t.id))
        .customer(t.customer_id)
        .change("open", "closed")
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(t)
}

/// Closes the ticket if it is open; true when this call closed it.
async fn close_open(
    db: &impl ConnectionTrait,
    ticket: TicketId,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let done = tickets::Entity::update_many()
        .col_expr(tickets::Column::Status, TicketStatus::Closed.into())
        .col_expr(tickets::Column::ClosedAt, Some(now).into())
        .col_expr(tickets::Column::UpdatedAt, now.into())
        .col_expr(
            tickets::Column::AwaitingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(tickets::Column::Id.eq(ticket))
        .filter(tickets::Column::Status.eq(TicketStatus::Open))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// A customer's rating of how their ticket was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rating(u8);

impl Rating {
    /// 1 to 5; anything else is not a rating.
    pub fn new(stars: u8) -> Option<Rating> {
        (1..=5).contains(&stars).then_some(Rating(stars))
    }

    pub fn stars(self) -> u8 {
        self.0
    }
}

/// The customer rates their closed ticket, once.
pub async fn rate(
    db: &DatabaseConnection,
    ticket: TicketId,
    customer: CustomerId,
    rating: Rating,
) -> Result<Ticket, TicketError> {
    let t = owned(db, ticket, customer).await?;
    if t.status == TicketStatus::Open {
        return Err(TicketError::StillOpen);
    }
    let done = tickets::Entity::update_many()
        .col_expr(tickets::Column::Rating, Some(i16::from(rating.0)).into())
        .filter(tickets::Column::Id.eq(t.id))
        .filter(tickets::Column::Rating.is_null())
        .exec(db)
        .await?;
    if done.rows_affected == 0 {
        return Err(TicketError::AlreadyRated);
    }
    Ok(t)
}

/// An open ticket in the support queue, with who wrote it.
#[derive(Clone, Debug)]
pub struct Queued {
    pub ticket: Ticket,
    pub customer: crate::customers::Customer,
}

/// Open tickets, oldest first: page `page` of `per_page`, and how many are open in all.
pub async fn queue(
    db: &DatabaseConnection,
    page: u64,
    per_page: u64,
) -> Result<(Vec<Queued>, u64), DbErr> {
    let open = tickets::Entity::find().filter(tickets::Column::Status.eq(TicketStatus::Open));
    let total = open.clone().count(db).await?;
    let rows = open
        .order_by_asc(tickets::Column::CreatedAt)
        .order_by_asc(tickets::Column::Id)
        .offset(page * per_page)
        .limit(per_page)
        .all(db)
        .await?;
    let ids: Vec<CustomerId> = rows.iter().map(|t| t.customer_id).collect();
    let people = customers::Entity::find()
        .filter(customers::Column::Id.is_in(ids))
        .all(db)
        .await?;
    let queued = rows
        .into_iter()
        .filter_map(|ticket| {
            let customer = people.iter().find(|c| c.id == ticket.customer_id)?.clone();
            Some(Queued { ticket, customer })
        })
        .collect();
    Ok((queued, total))
}

/// A ticket by id, for staff.
pub async fn get(db: &DatabaseConnection, ticket: TicketId) -> Result<Option<Ticket>, DbErr> {
    tickets::Entity::find_by_id(ticket).one(db).await
}

/// Queues a reminder to staff for each open ticket whose customer has waited longer than
/// `after` for an answer: once per unanswered stretch (its start is in the notice's key), so a
/// reminder is never repeated and a new wait after an answer is reminded again. Returns how many
/// were queued or already had been.
pub async fn remind_waiting(
    db: &DatabaseConnection,
    after: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let waiting = tickets::Entity::find()
        .filter(tickets::Column::Status.eq(TicketStatus::Open))
        .filter(tickets::Column::AwaitingSince.lte(now - after))
        .all(db)
        .await?;
    for t in &waiting {
        let Some(since) = t.awaiting_since else {
            continue;
        };
        let notice = Notice::TicketWaiting {
            ticket_id: t.id,
            since: since.timestamp(),
        };
        notices::enqueue(db, &notice, now).await?;
    }
    Ok(waiting.len())
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
    close_open(db, t.id, now).await?;
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
