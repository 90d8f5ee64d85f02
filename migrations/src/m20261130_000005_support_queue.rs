//! The support queue: who took a ticket, since when it waits for an answer, and how the customer
//! rated it once closed.
//!
//! - `tickets.taken_by` / `taken_at`: the staff member (Telegram id) answering it, so the others
//!   see it is taken.
//! - `tickets.awaiting_since`: the first customer message nobody has answered yet (cleared by a
//!   staff answer); the reminder job reads it, and puts it in each reminder's dedupe key so a
//!   ticket is recalled once per unanswered stretch.
//! - `tickets.rating`: 1–5, given once by the customer after the ticket closed.
//! - Indexed on `(status, created_at)`: the queue lists open tickets oldest first.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            big_integer_null("taken_by"),
            timestamp_with_time_zone_null("taken_at"),
            timestamp_with_time_zone_null("awaiting_since"),
            small_integer_null("rating"),
        ] {
            m.alter_table(Table::alter().table("tickets").add_column(column).take())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_tickets_status_created_at")
                .table("tickets")
                .col("status")
                .col("created_at")
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
