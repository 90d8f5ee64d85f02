//! The figures behind `/report`, its charts, the CSV exports and the daily summary: revenue and
//! new customers per day, trial → paid conversion, revenue by plan and by payment method, and
//! the referrers who brought the most customers. Days are UTC days; revenue is what customers
//! paid for orders that were not refunded, in the shop's currency, in minor units.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::entities::{customers, orders, payments, plans};
use crate::ids::{CustomerId, OrderId, PlanId, TelegramId};
use crate::money::Currency;
use crate::orders::{OrderKind, OrderStatus};
use crate::payments::{PaymentStatus, Provider};

/// Orders that took money and kept it.
pub const SOLD: [OrderStatus; 3] = [
    OrderStatus::Paid,
    OrderStatus::Provisioning,
    OrderStatus::Fulfilled,
];

/// A sold order: id, when paid, total, the wallet's part, plan.
type Sold = (OrderId, Option<DateTime<Utc>>, i64, i64, Option<PlanId>);

/// One UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// Minor units of the shop's currency.
    pub revenue: i64,
    pub orders: u64,
    pub new_customers: u64,
}

/// Everything one report shows, for the `days` up to and including today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub currency: Currency,
    pub days: Vec<Day>,
    pub trials: u64,
    /// Of those who took the trial, how many paid for something afterwards.
    pub trials_converted: u64,
    /// (plan name, revenue, orders), most revenue first.
    pub by_plan: Vec<(String, i64, u64)>,
    /// (method, revenue), most first: `wallet`, `card`, `zarinpal`, `telegram_stars`, ….
    pub by_method: Vec<(String, i64)>,
    /// (name, Telegram id, customers invited in the period, of whom bought), most first.
    pub referrers: Vec<(String, TelegramId, u64, u64)>,
}

impl Report {
    pub fn revenue(&self) -> i64 {
        self.days.iter().map(|d| d.revenue).sum()
    }

    pub fn new_customers(&self) -> u64 {
        self.days.iter().map(|d| d.new_customers).sum()
    }

    pub fn orders(&self) -> u64 {
        self.days.iter().map(|d| d.orders).sum()
    }
}

/// The first moment of the report's first day.
pub fn start_of(days: u32, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.date_naive();
    (today - Duration::days(i64::from(Ord::max(days, 1)) - 1))
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc())
}

pub async fn report(
    db: &impl ConnectionTrait,
    currency: Currency,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Report, DbErr> {
    let since = start_of(days, now);
    let mut per_day: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut d = since.date_naive();
    while d <= now.date_naive() {
        per_day.insert(
            d,
            Day {
                date: d,
                ..Day::default()
            },
        );
        d += Duration::days(1);
    }
    let sold: Vec<Sold> = orders::Entity::find()
        .select_only()
        .column(orders::Column::Id)
        .column(orders::Column::PaidAt)
        .column(orders::Column::TotalMinor)
        .column(orders::Column::WalletPaidMinor)
        .column(orders::Column::PlanId)
        .filter(orders::Column::Status.is_in(SOLD))
        .filter(orders::Column::Currency.eq(currency))
        .filter(orders::Column::PaidAt.gte(since))
        .filter(orders::Column::PaidAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let mut plan_totals: BTreeMap<Option<PlanId>, (i64, u64)> = BTreeMap::new();
    let mut methods: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_order: BTreeMap<OrderId, i64> = BTreeMap::new();
    for (id, paid_at, total, wallet, plan) in &sold {
        let Some(at) = paid_at else { continue };
        if let Some(day) = per_day.get_mut(&at.date_naive()) {
            day.revenue += total;
            day.orders += 1;
        }
        let p = plan_totals.entry(*plan).or_default();
        p.0 += total;
        p.1 += 1;
        if *wallet > 0 {
            *methods.entry("wallet".into()).or_default() += Ord::min(*wallet, *total);
        }
        if total > wallet {
            by_order.insert(*id, total - wallet);
        }
    }
    // The rest of each order was paid by the gateway (or card, or Stars) payment made for it.
    if !by_order.is_empty() {
        let ids: Vec<OrderId> = by_order.keys().copied().collect();
        for chunk in ids.chunks(500) {
            let paid: Vec<(Option<OrderId>, Provider)> = payments::Entity::find()
                .select_only()
                .column(payments::Column::OrderId)
                .column(payments::Column::Provider)
                .filter(payments::Column::OrderId.is_in(chunk.iter().copied()))
                .filter(payments::Column::Status.eq(PaymentStatus::Paid))
                .into_tuple()
                .all(db)
                .await?;
            for (order, provider) in paid {
                if let Some(rest) = order.and_then(|o| by_order.remove(&o)) {
                    *methods.entry(provider.as_str().to_string()).or_default() += rest;
                }
            }
        }
        let unknown: i64 = by_order.values().sum();
        if unknown > 0 {
            *methods.entry("other".into()).or_default() += unknown;
        }
    }
    let joined: Vec<DateTime<Utc>> = customers::Entity::find()
        .select_only()
        .column(customers::Column::CreatedAt)
        .filter(customers::Column::CreatedAt.gte(since))
        .filter(customers::Column::CreatedAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    for at in joined {
        if let Some(day) = per_day.get_mut(&at.date_naive()) {
            day.new_customers += 1;
        }
    }

    let names: BTreeMap<PlanId, String> = plans::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut by_plan: Vec<(String, i64, u64)> = plan_totals
        .into_iter()
        .map(|(plan, (sum, n))| {
            let name = plan
                .and_then(|p| names.get(&p).cloned())
                .unwrap_or_else(|| "—".into());
            (name, sum, n)
        })
        .collect();
    by_plan.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut by_method: Vec<(String, i64)> = methods.into_iter().collect();
    by_method.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let (trials, trials_converted) = conversion(db).await?;
    let referrers = referrers(db, since, now, 10).await?;
    Ok(Report {
        currency,
        days: per_day.into_values().collect(),
        trials,
        trials_converted,
        by_plan,
        by_method,
        referrers,
    })
}

/// Customers who took the trial, and how many of them later paid for an order.
async fn conversion(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let s = crate::stats::shop_stats(db, Utc::now()).await?;
    Ok((s.trials, s.trials_converted))
}

/// Who brought the most customers in the period, and how many of those bought.
async fn referrers(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(String, TelegramId, u64, u64)>, DbErr> {
    let invited: Vec<(CustomerId, CustomerId)> = customers::Entity::find()
        .select_only()
        .column(customers::Column::ReferredBy)
        .column(customers::Column::Id)
        .filter(customers::Column::ReferredBy.is_not_null())
        .filter(customers::Column::CreatedAt.gte(since))
        .filter(customers::Column::CreatedAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    if invited.is_empty() {
        return Ok(Vec::new());
    }
    let friends: Vec<CustomerId> = invited.iter().map(|(_, f)| *f).collect();
    let mut buyers = std::collections::HashSet::new();
    for chunk in friends.chunks(500) {
        let bought: Vec<CustomerId> = orders::Entity::find()
            .select_only()
            .column(orders::Column::CustomerId)
            .filter(orders::Column::CustomerId.is_in(chunk.iter().copied()))
            .filter(orders::Column::Status.is_in(SOLD))
            .filter(orders::Column::Kind.ne(OrderKind::Trial))
            .filter(orders::Column::TotalMinor.gt(0))
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        buyers.extend(bought);
    }
    let mut per: BTreeMap<CustomerId, (u64, u64)> = BTreeMap::new();
    for (referrer, friend) in invited {
        let e = per.entry(referrer).or_default();
        e.0 += 1;
        if buyers.contains(&friend) {
            e.1 += 1;
        }
    }
    let mut ranked: Vec<(CustomerId, u64, u64)> =
        per.into_iter().map(|(c, (a, b))| (c, a, b)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    ranked.truncate(limit);
    let mut out = Vec::new();
    for (c, n, bought) in ranked {
        if let Some(row) = customers::Entity::find_by_id(c).one(db).await? {
            out.push((row.first_name, row.telegram_id, n, bought));
        }
    }
    Ok(out)
}

/// One row of the orders export.
pub type OrderRow = orders::Model;

/// Orders created in `[from, to)`, oldest first, for the CSV export.
pub async fn orders_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<orders::Model>, DbErr> {
    orders::Entity::find()
        .filter(orders::Column::CreatedAt.gte(from))
        .filter(orders::Column::CreatedAt.lt(to))
        .order_by_asc(orders::Column::Id)
        .all(db)
        .await
}

/// Payments created in `[from, to)`, oldest first.
pub async fn payments_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<payments::Model>, DbErr> {
    payments::Entity::find()
        .filter(payments::Column::CreatedAt.gte(from))
        .filter(payments::Column::CreatedAt.lt(to))
        .order_by_asc(payments::Column::Id)
        .all(db)
        .await
}

/// Customers who joined in `[from, to)`, oldest first, with how much they paid for orders.
pub async fn customers_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(customers::Model, i64, u64)>, DbErr> {
    let rows = customers::Entity::find()
        .filter(customers::Column::CreatedAt.gte(from))
        .filter(customers::Column::CreatedAt.lt(to))
        .order_by_asc(customers::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut spent: BTreeMap<CustomerId, (i64, u64)> = BTreeMap::new();
    let ids: Vec<CustomerId> = rows.iter().map(|c| c.id).collect();
    for chunk in ids.chunks(500) {
        let sums: Vec<(CustomerId, Option<i64>, i64)> = orders::Entity::find()
            .select_only()
            .column(orders::Column::CustomerId)
            .column_as(
                Expr::col(orders::Column::TotalMinor)
                    .sum()
                    .cast_as("BIGINT"),
                "s",
            )
            .column_as(Expr::col(orders::Column::Id).count(), "n")
            .filter(orders::Column::CustomerId.is_in(chunk.iter().copied()))
            .filter(orders::Column::Status.is_in(SOLD))
            .group_by(orders::Column::CustomerId)
            .into_tuple()
            .all(db)
            .await?;
        for (c, s, n) in sums {
            spent.insert(c, (s.unwrap_or(0), u64::try_from(n).unwrap_or(0)));
        }
    }
    for c in rows {
        let (s, n) = spent.get(&c.id).copied().unwrap_or((0, 0));
        out.push((c, s, n));
    }
    Ok(out)
}
