//! Finding a customer the way staff know them (a Telegram id, an @username, a customer number,
//! an order or payment number, a panel account name), everything staff see on their card, and
//! banning (a banned customer is politely refused everywhere).
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::customers::{self, Customer};
use crate::entities::{customers as customer_rows, orders, payments, subscriptions, tickets};
use crate::ids::{CustomerId, OrderId, PaymentId, TelegramId};
use crate::ledger;
use crate::money::{Currency, Money};
use crate::orders::Order;
use crate::payments::Payment;
use crate::points;
use crate::subscriptions::Subscription;
use crate::tickets::TicketStatus;

/// The customer `query` names: `@username`; `#12` (customer number); `o12` / `p12` (an order's
/// or a payment's customer); a bare number (a Telegram id, else a customer number); anything
/// else as a panel account name.
pub async fn find(db: &impl ConnectionTrait, query: &str) -> Result<Option<Customer>, DbErr> {
    let q = query.trim();
    let number = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    if q.starts_with('@') {
        return customers::by_username(db, q).await;
    }
    if let Some(n) = q.strip_prefix('#').and_then(number) {
        return customers::by_id(db, CustomerId::new(n)).await;
    }
    if let Some(n) = q.strip_prefix(['o', 'O']).and_then(number) {
        let Some(o) = orders::Entity::find_by_id(OrderId::new(n)).one(db).await? else {
            return Ok(None);
        };
        return customers::by_id(db, o.customer_id).await;
    }
    if let Some(n) = q.strip_prefix(['p', 'P']).and_then(number) {
        let Some(p) = payments::Entity::find_by_id(PaymentId::new(n))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        return customers::by_id(db, p.customer_id).await;
    }
    if let Some(n) = number(q) {
        if let Some(c) = customers::by_telegram_id(db, TelegramId::new(n)).await? {
            return Ok(Some(c));
        }
        return customers::by_id(db, CustomerId::new(n)).await;
    }
    if q.is_empty() {
        return Ok(None);
    }
    let Some(sub) = subscriptions::Entity::find()
        .filter(subscriptions::Column::PanelAccount.eq(q))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    customers::by_id(db, sub.customer_id).await
}

/// A customer's card, as staff see it.
#[derive(Clone, Debug)]
pub struct Profile {
    pub customer: Customer,
    pub wallet: Money,
    pub points: i64,
    pub referrer: Option<Customer>,
    pub referrals: u64,
    /// Newest first.
    pub subscriptions: Vec<Subscription>,
    /// The five latest, newest first.
    pub orders: Vec<Order>,
    /// The five latest, newest first.
    pub payments: Vec<Payment>,
    pub open_tickets: u64,
}

pub async fn profile(
    db: &impl ConnectionTrait,
    customer: Customer,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<Profile, DbErr> {
    let id = customer.id;
    let referrer = match customer.referred_by {
        Some(r) => customers::by_id(db, r).await?,
        None => None,
    };
    Ok(Profile {
        wallet: ledger::wallet_balance(db, id, currency).await?,
        points: points::balance(db, id, now).await?,
        referrer,
        referrals: customer_rows::Entity::find()
            .filter(customer_rows::Column::ReferredBy.eq(id))
            .count(db)
            .await?,
        subscriptions: subscriptions::Entity::find()
            .filter(subscriptions::Column::CustomerId.eq(id))
            .order_by_desc(subscriptions::Column::Id)
            .limit(10)
            .all(db)
            .await?,
        orders: orders::Entity::find()
            .filter(orders::Column::CustomerId.eq(id))
            .order_by_desc(orders::Column::Id)
            .limit(5)
            .all(db)
            .await?,
        payments: payments::Entity::find()
            .filter(payments::Column::CustomerId.eq(id))
            .order_by_desc(payments::Column::Id)
            .limit(5)
            .all(db)
            .await?,
        open_tickets: tickets::Entity::find()
            .filter(tickets::Column::CustomerId.eq(id))
            .filter(tickets::Column::Status.eq(TicketStatus::Open))
            .count(db)
            .await?,
        customer,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum BanError {
    #[error("your role may not ban customers")]
    NotAllowed,
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` bans or unbans `customer`; whether it changed anything. Audited.
pub async fn set_banned(
    db: &sea_orm::DatabaseConnection,
    by: &crate::staff::Access,
    customer: CustomerId,
    banned: bool,
    now: DateTime<Utc>,
) -> Result<bool, BanError> {
    use sea_orm::sea_query::Expr;
    if !by.may(crate::staff::Permission::Bans) {
        return Err(BanError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let changed = customer_rows::Entity::update_many()
        .col_expr(customer_rows::Column::Banned, Expr::value(banned))
        .filter(customer_rows::Column::Id.eq(customer))
        .filter(customer_rows::Column::Banned.eq(!banned))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if changed {
        let (before, after) = match banned {
            true => ("active", "banned"),
            false => ("banned", "active"),
        };
        crate::audit::Entry::new(
            Some(by.who),
            if banned {
                "customer.ban"
            } else {
                "customer.unban"
            },
        )
        .target(format!("customer:{customer}"))
        .customer(customer)
        .change(before, after)
        .record(&txn, now)
        .await?;
    }
    txn.commit().await?;
    Ok(changed)
}
