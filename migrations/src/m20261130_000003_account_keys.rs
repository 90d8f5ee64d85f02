//! Keys the shop keeps for every panel account, and the targets a renewal or traffic pack
//! computes once, before its first panel call.
//!
//! - `subscriptions.account_uuid` / `account_sub_id`: the client id and subscription id the shop
//!   generated for the account, so it never reads a whole 3x-UI inbound to find them, a rotated
//!   Hiddify API key orphans nothing, and an account found under the shop's name is adopted only
//!   when it carries them. Rows made before this migration have none.
//! - `orders.target_set`, `target_expires_at`, `target_limit_bytes`: what a renewal or
//!   add-traffic order sets the account to, written before the panel is first called, so a
//!   retry after a usage refresh copied the panel's new figures never applies the order twice.
//! - `promo_uses.use_no`, unique with the code and the customer: two payments racing for a
//!   customer's last use of a promo code cannot both record it. Existing uses are numbered in
//!   the order they were made.
//! - `payments.checked_at`: when reconciliation last asked the gateway about a pending
//!   payment, so old abandoned checkouts are asked less and less often.
//! - `receipts.staff_chat_id`, `ticket_messages.staff_chat_id`: staff-chat message ids repeat
//!   from chat to chat, so a staff reply is matched on the chat too (indexed, with the customer
//!   lookups receipts lacked).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new("account_uuid").string_len(36).null().take(),
            ColumnDef::new("account_sub_id")
                .string_len(32)
                .null()
                .take(),
        ] {
            m.alter_table(
                Table::alter()
                    .table("subscriptions")
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        for column in [
            boolean("target_set").default(false).take(),
            timestamp_with_time_zone_null("target_expires_at"),
            big_integer_null("target_limit_bytes"),
        ] {
            m.alter_table(Table::alter().table("orders").add_column(column).take())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table("promo_uses")
                .add_column(big_integer("use_no").default(0))
                .take(),
        )
        .await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE promo_uses SET use_no = (SELECT COUNT(*) FROM promo_uses AS earlier \
                 WHERE earlier.promo_code_id = promo_uses.promo_code_id \
                 AND earlier.customer_id = promo_uses.customer_id \
                 AND earlier.id <= promo_uses.id)",
            )
            .await?;
        m.alter_table(
            Table::alter()
                .table("payments")
                .add_column(timestamp_with_time_zone_null("checked_at"))
                .take(),
        )
        .await?;
        for table in ["receipts", "ticket_messages"] {
            m.alter_table(
                Table::alter()
                    .table(table)
                    .add_column(big_integer_null("staff_chat_id"))
                    .take(),
            )
            .await?;
        }
        for (name, table, cols) in [
            (
                "ix_receipts_staff_post",
                "receipts",
                &["staff_chat_id", "staff_message_id"][..],
            ),
            ("ix_receipts_customer_id", "receipts", &["customer_id"][..]),
            // Each Buy press counts active accounts per panel.
            (
                "ix_subscriptions_panel_status",
                "subscriptions",
                &["panel_id", "status"][..],
            ),
            (
                "ix_ticket_messages_staff_post",
                "ticket_messages",
                &["staff_chat_id", "staff_chat_message_id"][..],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(table);
            for col in cols {
                index.col(*col);
            }
            m.create_index(index.take()).await?;
        }
        m.create_index(
            Index::create()
                .name("ux_promo_uses_code_customer_use")
                .table("promo_uses")
                .col("promo_code_id")
                .col("customer_id")
                .col("use_no")
                .unique()
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
