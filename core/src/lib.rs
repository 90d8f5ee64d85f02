//! vpnshop's domain: customers, catalog, wallet ledger, points, orders and durable jobs.
//!
//! Services are plain async functions over a sea-orm connection that return plain results; they
//! know nothing of Telegram. Time is passed in (`now`), so expiry and backoff are testable.
#[macro_use]
pub mod columns;
pub mod clock;
pub mod config;
pub mod db;
pub mod entities;
pub mod gifts;
pub mod ids;
pub mod ledger;
pub mod money;

pub use sea_orm;
pub mod adjustments;
pub mod audit;
pub mod background;
pub mod backups;
pub mod broadcasts;
pub mod catalog;
pub mod customers;
pub mod dialogues;
pub mod job_board;
pub mod jobs;
pub mod maintenance;
pub mod notices;
pub mod orders;
pub mod overrides;
pub mod pace;
pub mod panel_health;
pub mod panels;
pub mod payments;
pub mod points;
pub mod profiles;
pub mod promo;
pub mod provisioning;
pub mod reconcile;
pub mod reports;
pub mod rewards;
pub mod sales;
pub mod shop;
pub mod staff;
pub mod staff_messages;
pub mod stats;
pub mod subscriptions;
pub mod tickets;
pub mod trial;
