//! What a durable, resumable broadcast needs beyond the first migration's two tables:
//!
//! - `broadcasts.photo` / `buttons`: the message is a photo with a caption, and carries buttons
//!   (a URL, "open the shop", "renew") — stored as JSON.
//! - `broadcasts.progress_chat` / `progress_message`: the one message the sender keeps editing.
//! - `broadcasts.revision`: bumped by "edit for everyone"; a delivery whose `revision` is lower
//!   still shows the old text, so an edit interrupted by a crash goes on where it stopped.
//! - `broadcasts.draft_key`: the draft it was made from (unique), so a Send pressed twice — on
//!   two processes at once, or again after an error — makes one broadcast.
//! - `broadcast_deliveries.chat_id`: the recipient's chat, read when the broadcast was made.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            text_null("photo"),
            text("buttons").default("[]").take(),
            big_integer_null("progress_chat"),
            big_integer_null("progress_message"),
            integer("revision").default(0).take(),
            timestamp_with_time_zone_null("started_at"),
            string_len_null("draft_key", 40),
        ] {
            m.alter_table(Table::alter().table("broadcasts").add_column(column).take())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("broadcasts_draft_key")
                .table("broadcasts")
                .col("draft_key")
                .unique()
                .take(),
        )
        .await?;
        for column in [
            big_integer("chat_id").default(0).take(),
            integer("revision").default(0).take(),
        ] {
            m.alter_table(
                Table::alter()
                    .table("broadcast_deliveries")
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        Ok(())
    }
}
