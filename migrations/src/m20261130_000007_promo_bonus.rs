//! Promo codes that give more instead of costing less, and narrower codes:
//!
//! - `promo_codes.extra_days` / `extra_bytes`: a bonus on top of the plan (7 more days, 10 GB
//!   more) at the full price.
//! - `promo_codes.location_id`: only in one location.
//! - `promo_codes.first_purchase_only`: only for a customer who has never bought.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            integer_null("extra_days"),
            big_integer_null("extra_bytes"),
            big_integer_null("location_id"),
            boolean("first_purchase_only").default(false).take(),
        ] {
            m.alter_table(
                Table::alter()
                    .table("promo_codes")
                    .add_column(column)
                    .take(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}
