//! Running the shop from Telegram: roles with permissions, and an audit log that can be
//! searched.
//!
//! - `custom_roles`: a named set of permissions an owner defined ("receipts only"); a staff row
//!   with role `custom` points at one through `staff.custom_role_id`.
//! - `staff.from_config`: the owner came from `shop.admin_ids`, so removing the id from the
//!   config removes the role at the next start (and a role granted from the bot never is).
//! - `audit_log.before` / `after`: what the action changed, as people read it; `customer_id`:
//!   the customer it concerned, so `/audit` can show one customer's history. Indexed by actor
//!   (already), customer and action.
//! - `customers.created_at`, `orders.paid_at`: indexed for the "new today / 7 d / 30 d" counts
//!   and the sales sums of `/stats`.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("custom_roles")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("name", 32))
                .col(text("permissions"))
                .col(big_integer_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            boolean("from_config").default(false).take(),
            big_integer_null("custom_role_id"),
        ] {
            m.alter_table(Table::alter().table("staff").add_column(column).take())
                .await?;
        }
        for column in [
            text_null("before"),
            text_null("after"),
            big_integer_null("customer_id"),
        ] {
            m.alter_table(Table::alter().table("audit_log").add_column(column).take())
                .await?;
        }
        for (name, table, col) in [
            ("ix_audit_log_customer_id", "audit_log", "customer_id"),
            ("ix_audit_log_action", "audit_log", "action"),
            ("ix_customers_created_at", "customers", "created_at"),
            ("ix_orders_paid_at", "orders", "paid_at"),
        ] {
            m.create_index(Index::create().name(name).table(table).col(col).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
