//! Card-to-card payments: the cards customers pay to, and the receipts staff review.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("cards")
                .col(big_pk_auto("id"))
                .col(string_len("number", 32))
                .col(string_len("holder", 64))
                .col(string_len("bank", 64).default(""))
                .col(boolean("enabled").default(true))
                .col(big_integer("times_shown").default(0))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("receipts")
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("payment_id"))
                .col(big_integer("customer_id"))
                .col(big_integer_null("card_id"))
                .col(text("file_id"))
                .col(string_len("file_unique_id", 128))
                .col(big_integer_null("duplicate_of"))
                .col(string_len("status", 16))
                .col(big_integer_null("first_approver"))
                .col(big_integer_null("decided_by"))
                .col(big_integer_null("claimed_by"))
                .col(text_null("reason"))
                .col(big_integer_null("staff_message_id"))
                .col(timestamp_with_time_zone_null("reminded_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_receipts_payment_id")
                        .from("receipts", "payment_id")
                        .to("payments", "id"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_receipts_customer_id")
                        .from("receipts", "customer_id")
                        .to("customers", "id"),
                )
                .take(),
        )
        .await?;
        for (name, cols) in [
            ("ix_receipts_file_unique_id", &["file_unique_id"][..]),
            (
                "ix_receipts_status_created_at",
                &["status", "created_at"][..],
            ),
            (
                "ix_payments_provider_status_amount",
                &["provider", "status", "amount_minor"][..],
            ),
        ] {
            let mut i = Index::create();
            i.name(name).table(if name.contains("payments") {
                "payments"
            } else {
                "receipts"
            });
            for c in cols {
                i.col(*c);
            }
            m.create_index(i.take()).await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
