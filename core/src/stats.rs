//! How the shop is doing, for `/stats`: each figure is one SQL query (a count or a sum the
//! database does), so the screen costs the same with a hundred customers or a hundred thousand.
//! Days are UTC days.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::entities::{customers, orders, panels, payments, receipts, subscriptions, tickets};
use crate::money::{Currency, Money};
use crate::orders::{OrderKind, OrderStatus};
use crate::payments::PaymentStatus;
use crate::payments::card::ReceiptStatus;
use crate::subscriptions::SubscriptionStatus;
use crate::tickets::TicketStatus;

/// Counts over three windows: since the start of today (UTC), the last 7 and 30 days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Windows {
    pub today: u64,
    pub week: u64,
    pub month: u64,
}

/// Sales in one currency over the same windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revenue {
    pub currency: Currency,
    pub today: Money,
    pub week: Money,
    pub month: Money,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopStats {
    pub customers: u64,
    pub new_customers: Windows,
    /// Subscriptions whose account exists and has not expired.
    pub active_subscriptions: u64,
    /// What customers paid for orders that were not refunded, per currency.
    pub revenue: Vec<Revenue>,
    /// Customers who took the free trial, and how many of them later paid for an order.
    pub trials: u64,
    pub trials_converted: u64,
    pub open_tickets: u64,
    pub pending_receipts: u64,
    pub payments_in_review: u64,
    /// Enabled panels whose last check failed.
    pub panels_down: u64,
}

/// Orders that took money and kept it.
const SOLD: [OrderStatus; 3] = [
    OrderStatus::Paid,
    OrderStatus::Provisioning,
    OrderStatus::Fulfilled,
];

pub async fn shop_stats(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<ShopStats, DbErr> {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let since = [today, now - Duration::days(7), now - Duration::days(30)];

    let customers = customers::Entity::find().count(db).await?;
    let mut new = [0u64; 3];
    for (n, from) in new.iter_mut().zip(since) {
        *n = customers::Entity::find()
            .filter(customers::Column::CreatedAt.gte(from))
            .count(db)
            .await?;
    }
    let active_subscriptions = subscriptions::Entity::find()
        .filter(subscriptions::Column::Status.eq(SubscriptionStatus::Active))
        .filter(subscriptions::Column::ExpiresAt.gt(now))
        .count(db)
        .await?;

    let mut revenue: Vec<Revenue> = Vec::new();
    for (window, from) in since.into_iter().enumerate() {
        let sums: Vec<(Currency, Option<i64>)> = orders::Entity::find()
            .select_only()
            .column(orders::Column::Currency)
            .column_as(
                Expr::col(orders::Column::TotalMinor)
                    .sum()
                    .cast_as("BIGINT"),
                "s",
            )
            .filter(orders::Column::Status.is_in(SOLD))
            .filter(orders::Column::PaidAt.gte(from))
            .group_by(orders::Column::Currency)
            .into_tuple()
            .all(db)
            .await?;
        for (currency, sum) in sums {
            let money = Money::new(Ord::max(sum.unwrap_or(0), 0), currency)
                .unwrap_or(Money::zero(currency));
            let at = match revenue.iter().position(|r| r.currency == currency) {
                Some(i) => i,
                None => {
                    revenue.push(Revenue {
                        currency,
                        today: Money::zero(currency),
                        week: Money::zero(currency),
                        month: Money::zero(currency),
                    });
                    revenue.len() - 1
                }
            };
            let r = &mut revenue[at];
            *match window {
                0 => &mut r.today,
                1 => &mut r.week,
                _ => &mut r.month,
            } = money;
        }
    }
    revenue.sort_by_key(|r| r.currency);

    let trials = customers::Entity::find()
        .filter(customers::Column::TrialUsed.eq(true))
        .count(db)
        .await?;
    let paid_later = Query::select()
        .expr(Expr::val(1))
        .from(orders::Entity)
        .and_where(
            Expr::col((orders::Entity, orders::Column::CustomerId))
                .equals((customers::Entity, customers::Column::Id)),
        )
        .and_where(Expr::col((orders::Entity, orders::Column::Status)).is_in(SOLD))
        .and_where(Expr::col((orders::Entity, orders::Column::Kind)).ne(OrderKind::Trial))
        .and_where(Expr::col((orders::Entity, orders::Column::TotalMinor)).gt(0))
        .take();
    let trials_converted = customers::Entity::find()
        .filter(customers::Column::TrialUsed.eq(true))
        .filter(Expr::exists(paid_later))
        .count(db)
        .await?;

    let open_tickets = tickets::Entity::find()
        .filter(tickets::Column::Status.eq(TicketStatus::Open))
        .count(db)
        .await?;
    let pending_receipts = receipts::Entity::find()
        .filter(receipts::Column::Status.is_in([
            ReceiptStatus::Submitted,
            ReceiptStatus::HalfApproved,
            ReceiptStatus::Rejecting,
        ]))
        .count(db)
        .await?;
    let payments_in_review = payments::Entity::find()
        .filter(payments::Column::Status.eq(PaymentStatus::Review))
        .count(db)
        .await?;
    let panels_down = panels::Entity::find()
        .filter(panels::Column::Enabled.eq(true))
        .filter(panels::Column::Healthy.eq(false))
        .count(db)
        .await?;
    Ok(ShopStats {
        customers,
        new_customers: Windows {
            today: new[0],
            week: new[1],
            month: new[2],
        },
        active_subscriptions,
        revenue,
        trials,
        trials_converted,
        open_tickets,
        pending_receipts,
        payments_in_review,
        panels_down,
    })
}
