//! Payments that arrived for another amount or currency than asked (status `review`) are
//! settled by finance or admin staff from the staff chat: credit what really arrived, credit in
//! full once they have checked the gateway's dashboard, or decline (the money goes back to the
//! payer at the gateway, by hand). The role is checked here, at every press; the first decision
//! wins and is recorded with who made it. Nobody decides their own payment, and a credit above
//! the card-to-card second-approval limit needs two different people, as a receipt does.
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::audit;
use crate::entities::payments as rows;
use crate::ids::{PaymentId, TelegramId};
use crate::ledger::LedgerError;
use crate::money::Money;
use crate::notices::{self, Notice};
use crate::payments::{self, Credited, Payment, PaymentStatus, credit_of, details_of};
use crate::staff::{self, Permission};

/// What staff decided about a payment in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Credit the wallet with what the provider reports (the asked credit scaled down).
    CreditReceived,
    /// Credit what was asked, in full.
    CreditFull,
    /// Credit nothing: the payer gets the money back at the gateway.
    Decline,
}

impl Decision {
    fn code(self) -> &'static str {
        match self {
            Decision::CreditReceived => "credit_received",
            Decision::CreditFull => "credit_full",
            Decision::Decline => "decline",
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Decision::CreditReceived => "payment.review.credit_received",
            Decision::CreditFull => "payment.review.credit_full",
            Decision::Decline => "payment.review.decline",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    Credited(Credited),
    Declined,
    /// The credit is above the second-approval limit: recorded as the first approval, and
    /// someone else must press the same decision.
    NeedsSecond,
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("only finance or admin staff can settle payments")]
    NotAllowed,
    #[error("no such payment")]
    NoSuchPayment,
    /// Someone decided first (or it was never in review).
    #[error("someone else decided this payment first (it was {0})")]
    AlreadyDecided(PaymentStatus),
    /// The provider reported another currency: there is no "received" amount to credit.
    #[error("the amount received is in another currency")]
    NotComparable,
    #[error("nobody may decide their own payment")]
    OwnPayment,
    #[error("the second approval must come from someone else")]
    SameApprover,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// What the wallet gets for what really arrived: the asked credit times reported / asked,
/// rounded down. `None` when the provider reported another currency or nothing usable.
pub fn received_credit(p: &Payment) -> Option<Money> {
    let details = details_of(p);
    let reported = details["reported_minor"].as_i64()?;
    if details["reported_currency"].as_str()? != p.currency.code() || p.amount_minor <= 0 {
        return None;
    }
    let credit = credit_of(p)?;
    let scaled =
        i128::from(credit.minor()) * i128::from(reported.max(0)) / i128::from(p.amount_minor);
    let scaled = i64::try_from(scaled).ok().filter(|m| *m > 0)?;
    Money::new(scaled, credit.currency()).ok()
}

/// Applies `decision` by `who` to `payment`, once. A credit above `second_approval_above`
/// takes two different people pressing the same decision.
pub async fn decide(
    db: &DatabaseConnection,
    payment: PaymentId,
    who: TelegramId,
    decision: Decision,
    second_approval_above: Option<Money>,
    now: DateTime<Utc>,
) -> Result<Settled, ReviewError> {
    let target = Some(format!("payment:{payment}"));
    let allowed = staff::access_of(db, who)
        .await?
        .is_some_and(|a| a.may(Permission::Payments));
    if !allowed {
        let action = format!("{}.denied", decision.audit_action());
        audit::record(db, Some(who), &action, target, String::new(), now).await?;
        return Err(ReviewError::NotAllowed);
    }
    let txn = crate::db::begin(db).await?;
    let row = payments::get(&txn, payment)
        .await?
        .ok_or(ReviewError::NoSuchPayment)?;
    if row.status != PaymentStatus::Review {
        return Err(ReviewError::AlreadyDecided(row.status));
    }
    if crate::customers::is_telegram_user(&txn, row.customer_id, who).await? {
        let action = format!("{}.denied", decision.audit_action());
        audit::record(
            &txn,
            Some(who),
            &action,
            target,
            "their own payment".into(),
            now,
        )
        .await?;
        txn.commit().await?;
        return Err(ReviewError::OwnPayment);
    }
    let (to, credit) = match decision {
        Decision::Decline => (PaymentStatus::Declined, None),
        Decision::CreditFull => (PaymentStatus::Paid, credit_of(&row)),
        Decision::CreditReceived => (
            PaymentStatus::Paid,
            Some(received_credit(&row).ok_or(ReviewError::NotComparable)?),
        ),
    };
    let needs_two = credit.is_some_and(|c| {
        second_approval_above
            .is_some_and(|limit| limit.currency() == c.currency() && c.minor() > limit.minor())
    });
    let first = details_of(&row);
    let first_approver = first["first_approver"].as_i64();
    let seconds_it =
        first_approver.is_some() && first["first_decision"].as_str() == Some(decision.code());
    if needs_two && seconds_it && first_approver == Some(who.get()) {
        return Err(ReviewError::SameApprover);
    }
    if needs_two && !seconds_it {
        // The first of two approvals: recorded on the payment, which stays in review. The
        // update is conditional on what was read, so two first presses at once record one.
        let mut details = first.clone();
        if let Some(d) = details.as_object_mut() {
            d.insert("first_approver".into(), who.get().into());
            d.insert("first_decision".into(), decision.code().into());
        }
        let recorded = rows::Entity::update_many()
            .col_expr(rows::Column::Details, Some(details.to_string()).into())
            .col_expr(rows::Column::UpdatedAt, now.into())
            .filter(rows::Column::Id.eq(row.id))
            .filter(rows::Column::Status.eq(PaymentStatus::Review))
            .filter(match &row.details {
                Some(d) => rows::Column::Details.eq(d.clone()),
                None => rows::Column::Details.is_null(),
            })
            .exec(&txn)
            .await?
            .rows_affected;
        if recorded != 1 {
            return Err(ReviewError::AlreadyDecided(PaymentStatus::Review));
        }
        let action = format!("{}.first", decision.audit_action());
        audit::record(&txn, Some(who), &action, target, String::new(), now).await?;
        txn.commit().await?;
        return Ok(Settled::NeedsSecond);
    }
    // The first press wins: the move out of `review` is conditional.
    let mut details = details_of(&row);
    if let (Some(d), Some(credit)) = (details.as_object_mut(), credit) {
        d.insert("credit_minor".into(), credit.minor().into());
        d.insert("decided_by".into(), who.get().into());
    }
    let moved = rows::Entity::update_many()
        .col_expr(rows::Column::Status, to.into())
        .col_expr(rows::Column::Details, Some(details.to_string()).into())
        .col_expr(rows::Column::UpdatedAt, now.into())
        .filter(rows::Column::Id.eq(row.id))
        .filter(rows::Column::Status.eq(PaymentStatus::Review))
        .exec(&txn)
        .await?
        .rows_affected;
    if moved != 1 {
        return Err(ReviewError::AlreadyDecided(PaymentStatus::Review));
    }
    let settled = match credit {
        Some(credit) => {
            let updated = payments::get(&txn, payment)
                .await?
                .ok_or(ReviewError::NoSuchPayment)?;
            let credited = payments::credit_and_pay(&txn, &updated, now).await?;
            debug_assert_eq!(credited.credit, credit);
            notices::enqueue(
                &txn,
                &Notice::PaymentReceived {
                    payment_id: payment,
                },
                now,
            )
            .await?;
            Settled::Credited(credited)
        }
        None => {
            notices::enqueue(
                &txn,
                &Notice::PaymentDeclined {
                    payment_id: payment,
                },
                now,
            )
            .await?;
            Settled::Declined
        }
    };
    let note = match &settled {
        Settled::Credited(c) => format!("credited {} {}", c.credit.minor(), c.credit.currency()),
        Settled::Declined => "declined".into(),
        Settled::NeedsSecond => unreachable!("returned above"),
    };
    audit::record(&txn, Some(who), decision.audit_action(), target, note, now).await?;
    txn.commit().await?;
    Ok(settled)
}
