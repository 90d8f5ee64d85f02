//! One test binary for every story, run on SQLite by default and on PostgreSQL with
//! `VPNSHOP_TEST_DB=postgres`. Each test gets its own fresh database.
mod admin_journeys;
mod catalog_admin_story;
mod customer_care_story;
mod customers_story;
mod housekeeping_story;
mod jobs_story;
mod journeys;
mod ledger_story;
mod orders_story;
mod panel_admin_story;
mod panel_contract;
mod panel_health_story;
mod payment_crashes;
mod payment_journeys;
mod payment_matrix;
mod payments_story;
mod provisioning_story;
mod settings_story;
mod shop;
mod shop_screens_story;
mod staff_story;
mod staff_topics_story;
mod start_story;
mod subscription_life_story;
mod support;
mod support_queue;
