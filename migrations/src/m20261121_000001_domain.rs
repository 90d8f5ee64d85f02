//! The whole domain model, designed once: customers, staff, catalog, subscriptions, orders,
//! payments, the double-entry ledger, points, promo codes, tickets, jobs, broadcasts, audit,
//! dialogue state and settings.
//!
//! Money and points are `BIGINT` minor units; Telegram ids are `BIGINT` (they exceed 2^31);
//! times are `timestamptz` (text on SQLite, written by one encoder so they compare in order).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn created(t: &mut TableCreateStatement) -> &mut TableCreateStatement {
    t.col(timestamp_with_time_zone("created_at"))
}

fn fk(from_table: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{col}"))
        .from(from_table, col)
        .to(to, "id")
        .take()
}

fn index(table: &'static str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(format!("ix_{table}_{}", cols.join("_")))
        .table(table);
    for c in cols {
        i.col(*c);
    }
    if unique {
        i.unique();
    }
    i.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            m.create_table(table).await?;
        }
        for i in indexes() {
            m.create_index(i).await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("migrations are forward-only".into()))
    }
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        created(
            Table::create()
                .table("customers")
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("telegram_id"))
                .col(string_null("username"))
                .col(string("first_name"))
                .col(string_len_null("language", 8))
                .col(string_len_uniq("referral_code", 32))
                .col(big_integer_null("referred_by"))
                .col(boolean("trial_used").default(false))
                .col(boolean("banned").default(false))
                .col(boolean("blocked_bot").default(false))
                .col(timestamp_with_time_zone("last_seen_at"))
                .foreign_key(&mut fk("customers", "referred_by", "customers")),
        )
        .take(),
        created(
            Table::create()
                .table("staff")
                .col(big_pk_auto("id"))
                .col(big_integer_uniq("telegram_id"))
                .col(string_len("role", 16))
                .col(big_integer_null("added_by")),
        )
        .take(),
        created(
            Table::create()
                .table("locations")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("code", 32))
                .col(string("name"))
                .col(string_len("flag", 16).default(""))
                .col(integer("sort_order").default(0))
                .col(boolean("enabled").default(true)),
        )
        .take(),
        created(
            Table::create()
                .table("panels")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("name", 64))
                .col(string_len("kind", 16))
                .col(string("base_url"))
                .col(string_null("username"))
                .col(text("secret"))
                .col(string_null("proxy_url"))
                .col(text("options").default("{}"))
                .col(big_integer("location_id"))
                .col(integer_null("capacity"))
                .col(boolean("enabled").default(true))
                .col(boolean("healthy").default(true))
                .col(timestamp_with_time_zone_null("checked_at"))
                .col(text_null("last_error"))
                .foreign_key(&mut fk("panels", "location_id", "locations")),
        )
        .take(),
        created(
            Table::create()
                .table("plans")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("code", 32))
                .col(string("name"))
                .col(big_integer_null("location_id"))
                .col(integer("duration_days"))
                .col(big_integer_null("traffic_bytes"))
                .col(boolean("is_trial").default(false))
                .col(integer("sort_order").default(0))
                .col(boolean("enabled").default(true))
                .foreign_key(&mut fk("plans", "location_id", "locations")),
        )
        .take(),
        Table::create()
            .table("plan_prices")
            .col(big_pk_auto("id"))
            .col(big_integer("plan_id"))
            .col(string_len("currency", 8))
            .col(big_integer("amount_minor").check(Expr::col("amount_minor").gte(0)))
            .foreign_key(&mut fk("plan_prices", "plan_id", "plans"))
            .take(),
        created(
            Table::create()
                .table("subscriptions")
                .col(big_pk_auto("id"))
                .col(big_integer("customer_id"))
                .col(big_integer("plan_id"))
                .col(big_integer("panel_id"))
                .col(string_len("panel_account", 64))
                .col(string_len("status", 16))
                .col(boolean("is_trial").default(false))
                .col(big_integer_null("traffic_limit_bytes"))
                .col(big_integer("used_bytes").default(0))
                .col(timestamp_with_time_zone_null("expires_at"))
                .col(text_null("subscription_url"))
                .col(timestamp_with_time_zone_null("usage_synced_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("subscriptions", "customer_id", "customers"))
                .foreign_key(&mut fk("subscriptions", "plan_id", "plans"))
                .foreign_key(&mut fk("subscriptions", "panel_id", "panels")),
        )
        .take(),
        created(
            Table::create()
                .table("promo_codes")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("code", 32))
                .col(integer_null("percent_off"))
                .col(big_integer_null("amount_off_minor"))
                .col(string_len_null("currency", 8))
                .col(big_integer_null("plan_id"))
                .col(integer_null("max_uses"))
                .col(integer("per_customer_limit").default(1))
                .col(integer("uses").default(0))
                .col(timestamp_with_time_zone_null("valid_until"))
                .col(boolean("enabled").default(true))
                .foreign_key(&mut fk("promo_codes", "plan_id", "plans")),
        )
        .take(),
        created(
            Table::create()
                .table("orders")
                .col(big_pk_auto("id"))
                .col(big_integer("customer_id"))
                .col(string_len("kind", 16))
                .col(string_len("status", 24))
                .col(big_integer_null("plan_id"))
                .col(big_integer_null("subscription_id"))
                .col(big_integer_null("location_id"))
                .col(integer("duration_days").default(0))
                .col(big_integer_null("traffic_bytes"))
                .col(string_len("currency", 8))
                .col(big_integer("list_price_minor"))
                .col(big_integer("discount_minor").default(0))
                .col(big_integer("points_used").default(0))
                .col(big_integer("points_value_minor").default(0))
                .col(big_integer("total_minor"))
                .col(big_integer("wallet_paid_minor").default(0))
                .col(big_integer_null("promo_code_id"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("paid_at"))
                .col(timestamp_with_time_zone_null("fulfilled_at"))
                .col(text_null("failure"))
                .foreign_key(&mut fk("orders", "customer_id", "customers"))
                .foreign_key(&mut fk("orders", "plan_id", "plans"))
                .foreign_key(&mut fk("orders", "subscription_id", "subscriptions"))
                .foreign_key(&mut fk("orders", "promo_code_id", "promo_codes")),
        )
        .take(),
        created(
            Table::create()
                .table("promo_uses")
                .col(big_pk_auto("id"))
                .col(big_integer("promo_code_id"))
                .col(big_integer("customer_id"))
                .col(big_integer_uniq("order_id"))
                .foreign_key(&mut fk("promo_uses", "promo_code_id", "promo_codes"))
                .foreign_key(&mut fk("promo_uses", "customer_id", "customers"))
                .foreign_key(&mut fk("promo_uses", "order_id", "orders")),
        )
        .take(),
        created(
            Table::create()
                .table("payments")
                .col(big_pk_auto("id"))
                .col(big_integer("customer_id"))
                .col(big_integer_null("order_id"))
                .col(string_len("provider", 24))
                .col(string_null("provider_payment_id"))
                .col(string_len("status", 16))
                .col(big_integer("amount_minor"))
                .col(string_len("currency", 8))
                .col(text_null("details"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("payments", "customer_id", "customers"))
                .foreign_key(&mut fk("payments", "order_id", "orders")),
        )
        .take(),
        created(
            Table::create()
                .table("ledger_accounts")
                .col(big_pk_auto("id"))
                .col(string_len_uniq("code", 96))
                .col(string_len("kind", 24))
                .col(big_integer_null("customer_id"))
                .col(string_len("currency", 8))
                .col(boolean("allow_negative").default(false))
                .col(big_integer("balance_minor").default(0))
                .check(
                    Expr::col("allow_negative")
                        .eq(true)
                        .or(Expr::col("balance_minor").gte(0)),
                )
                .foreign_key(&mut fk("ledger_accounts", "customer_id", "customers")),
        )
        .take(),
        created(
            Table::create()
                .table("ledger_transactions")
                .col(big_pk_auto("id"))
                .col(string_len("kind", 24))
                .col(string_len_null("idempotency_key", 128).unique_key())
                .col(big_integer_null("order_id"))
                .col(big_integer_null("payment_id"))
                .col(big_integer_null("reverses_id").unique_key())
                .col(big_integer_null("actor_telegram_id"))
                .col(text("memo").default(""))
                .foreign_key(&mut fk("ledger_transactions", "order_id", "orders"))
                .foreign_key(&mut fk("ledger_transactions", "payment_id", "payments"))
                .foreign_key(&mut fk(
                    "ledger_transactions",
                    "reverses_id",
                    "ledger_transactions",
                )),
        )
        .take(),
        created(
            Table::create()
                .table("ledger_entries")
                .col(big_pk_auto("id"))
                .col(big_integer("transaction_id"))
                .col(big_integer("account_id"))
                .col(big_integer("amount_minor"))
                .foreign_key(&mut fk(
                    "ledger_entries",
                    "transaction_id",
                    "ledger_transactions",
                ))
                .foreign_key(&mut fk("ledger_entries", "account_id", "ledger_accounts")),
        )
        .take(),
        created(
            Table::create()
                .table("points_lots")
                .col(big_pk_auto("id"))
                .col(big_integer("customer_id"))
                .col(big_integer("transaction_id"))
                .col(big_integer("amount"))
                .col(big_integer("remaining").check(Expr::col("remaining").gte(0)))
                .col(timestamp_with_time_zone_null("expires_at"))
                .foreign_key(&mut fk("points_lots", "customer_id", "customers"))
                .foreign_key(&mut fk(
                    "points_lots",
                    "transaction_id",
                    "ledger_transactions",
                )),
        )
        .take(),
        created(
            Table::create()
                .table("tickets")
                .col(big_pk_auto("id"))
                .col(big_integer("customer_id"))
                .col(string_len("status", 16))
                .col(string_null("subject"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("closed_at"))
                .foreign_key(&mut fk("tickets", "customer_id", "customers")),
        )
        .take(),
        created(
            Table::create()
                .table("ticket_messages")
                .col(big_pk_auto("id"))
                .col(big_integer("ticket_id"))
                .col(string_len("author", 16))
                .col(big_integer("author_telegram_id"))
                .col(text_null("body"))
                .col(string_null("photo_file_id"))
                .col(big_integer_null("staff_chat_message_id"))
                .foreign_key(&mut fk("ticket_messages", "ticket_id", "tickets")),
        )
        .take(),
        created(
            Table::create()
                .table("jobs")
                .col(big_pk_auto("id"))
                .col(string_len("kind", 48))
                .col(text("payload"))
                .col(string_len_null("dedupe_key", 128).unique_key())
                .col(string_len("status", 16))
                .col(timestamp_with_time_zone("run_at"))
                .col(integer("attempts").default(0))
                .col(integer("max_attempts"))
                .col(string_len_null("leased_by", 64))
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(text_null("last_error"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("finished_at")),
        )
        .take(),
        created(
            Table::create()
                .table("broadcasts")
                .col(big_pk_auto("id"))
                .col(big_integer("created_by"))
                .col(text("body"))
                .col(text("audience").default("all"))
                .col(string_len("status", 16))
                .col(integer("total").default(0))
                .col(integer("sent").default(0))
                .col(integer("failed").default(0))
                .col(timestamp_with_time_zone_null("finished_at")),
        )
        .take(),
        Table::create()
            .table("broadcast_deliveries")
            .col(big_pk_auto("id"))
            .col(big_integer("broadcast_id"))
            .col(big_integer("customer_id"))
            .col(string_len("status", 16))
            .col(big_integer_null("telegram_message_id"))
            .col(text_null("error"))
            .col(timestamp_with_time_zone_null("attempted_at"))
            .foreign_key(&mut fk(
                "broadcast_deliveries",
                "broadcast_id",
                "broadcasts",
            ))
            .foreign_key(&mut fk("broadcast_deliveries", "customer_id", "customers"))
            .take(),
        created(
            Table::create()
                .table("audit_log")
                .col(big_pk_auto("id"))
                .col(big_integer_null("actor_telegram_id"))
                .col(string_len("action", 48))
                .col(string_len_null("target", 64))
                .col(text("details").default("")),
        )
        .take(),
        Table::create()
            .table("dialogue_state")
            .col(big_integer("chat_id").primary_key())
            .col(text("state"))
            .col(timestamp_with_time_zone("updated_at"))
            .take(),
        Table::create()
            .table("settings")
            .col(string_len("key", 64).primary_key())
            .col(text("value"))
            .col(timestamp_with_time_zone("updated_at"))
            .take(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("customers", &["referred_by"], false),
        index("locations", &["enabled", "sort_order"], false),
        index("panels", &["location_id", "enabled"], false),
        index("plans", &["enabled", "location_id"], false),
        index("plan_prices", &["plan_id", "currency"], true),
        index("subscriptions", &["customer_id", "status"], false),
        index("subscriptions", &["panel_id", "panel_account"], true),
        index("subscriptions", &["status", "expires_at"], false),
        index("orders", &["customer_id", "status"], false),
        index("orders", &["status", "expires_at"], false),
        index("promo_uses", &["promo_code_id", "customer_id"], false),
        index("payments", &["provider", "provider_payment_id"], true),
        index("payments", &["order_id"], false),
        index("payments", &["status", "provider"], false),
        index("ledger_accounts", &["customer_id"], false),
        index("ledger_transactions", &["order_id"], false),
        index("ledger_entries", &["account_id", "id"], false),
        index("ledger_entries", &["transaction_id"], false),
        index("points_lots", &["customer_id", "expires_at"], false),
        index("tickets", &["customer_id", "status"], false),
        index("ticket_messages", &["ticket_id"], false),
        index("ticket_messages", &["staff_chat_message_id"], false),
        index("jobs", &["status", "run_at"], false),
        index("jobs", &["kind", "status"], false),
        index(
            "broadcast_deliveries",
            &["broadcast_id", "customer_id"],
            true,
        ),
        index("broadcast_deliveries", &["broadcast_id", "status"], false),
        index("audit_log", &["actor_telegram_id"], false),
    ]
}
