//! What the scheduled side of a subscription's life needs:
//!
//! - `subscriptions.online_at` / `panel_status`: the last time the account was online and the
//!   state the panel reports (on hold, limited…), read by the usage sync in bulk.
//! - `subscriptions.auto_renew`: the customer asked for renewals from the wallet.
//! - `subscriptions.disabled_at` / `deleted_at`: when the expiry job turned the account off after
//!   the grace period, and when it deleted it.
//! - `subscriptions.switched_at`: the last move to another location (at most one per period).
//! - `orders.auto_renew_key`: one automatic renewal per subscription and period, enforced by a
//!   unique index, so two processes (or a replay) never charge a period twice.
//! - `orders.moved_from`: a move to another location names the subscription it replaces (its
//!   `subscription_id` is the new one, attached when it is made).
//! - `locations.placement`: how a new account picks a panel in the location.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            timestamp_with_time_zone_null("online_at"),
            string_len_null("panel_status", 16),
            boolean("auto_renew").default(false).take(),
            timestamp_with_time_zone_null("disabled_at"),
            timestamp_with_time_zone_null("deleted_at"),
            timestamp_with_time_zone_null("switched_at"),
        ] {
            m.alter_table(
                Table::alter()
                    .table("subscriptions")
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table("orders")
                .add_column(string_len_null("auto_renew_key", 96))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("orders")
                .add_column(big_integer_null("moved_from"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("orders_auto_renew_key")
                .table("orders")
                .col("auto_renew_key")
                .unique()
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("locations")
                .add_column(string_len("placement", 16).default("most_room").take())
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("subscriptions_panel_status")
                .table("subscriptions")
                .col("panel_id")
                .col("status")
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
