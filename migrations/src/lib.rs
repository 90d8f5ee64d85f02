//! Versioned, forward-only schema migrations, applied at start-up and by `vpnshop migrate`.
pub use sea_orm_migration::prelude::*;

mod m20261121_000001_domain;
mod m20261121_000002_payments;
mod m20261130_000003_account_keys;
mod m20261130_000004_staff_roles;
mod m20261130_000005_support_queue;
mod m20261130_000006_panel_version;
mod m20261130_000007_promo_bonus;
mod m20261130_000008_subscription_life;
mod m20261130_000009_broadcasts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_domain::Migration),
            Box::new(m20261121_000002_payments::Migration),
            Box::new(m20261130_000003_account_keys::Migration),
            Box::new(m20261130_000004_staff_roles::Migration),
            Box::new(m20261130_000005_support_queue::Migration),
            Box::new(m20261130_000006_panel_version::Migration),
            Box::new(m20261130_000007_promo_bonus::Migration),
            Box::new(m20261130_000008_subscription_life::Migration),
            Box::new(m20261130_000009_broadcasts::Migration),
        ]
    }
}
