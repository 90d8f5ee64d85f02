//! Money through outside providers, at the service level: a provider payment credits once
//! however often it is reported, a late "failed" changes nothing, a wrong amount goes to staff,
//! and card-to-card receipts are decided once, only by finance staff, with two approvers above
//! the limit. Runs on SQLite and PostgreSQL like every story.
use chrono::Duration;
use vpnshop_core::entities::audit_log;
use vpnshop_core::ids::{OrderId, TelegramId};
use vpnshop_core::ledger;
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::orders::{self, OrderKind, OrderStatus, PointsRules, QuoteRequest};
use vpnshop_core::payments::card::{self, Approval, CardError, CardNumber, CardRules};
use vpnshop_core::payments::{self, Outcome, PaymentStatus, Provider, Report};
use vpnshop_core::sea_orm::{DatabaseConnection, EntityTrait};
use vpnshop_core::staff::{self, Role};
use vpnshop_tests::db::fresh_db;

use crate::support::{customer, irt, plan_30d, t0};

const FINANCE: i64 = 8_000_000_001;
const ADMIN: i64 = 8_000_000_002;
const SUPPORT: i64 = 8_000_000_003;
const STRANGER: i64 = 8_000_000_004;

fn rules() -> CardRules {
    CardRules {
        max_offset_minor: 999,
        second_approval_above: Some(irt(1_000_000)),
        remind_after: Duration::minutes(30),
        expire_after: Duration::hours(24),
        takeover_after: Duration::minutes(30),
        max_pending_per_customer: 2,
    }
}

async fn staff_team(db: &DatabaseConnection) {
    for (id, role) in [
        (FINANCE, Role::Finance),
        (ADMIN, Role::Admin),
        (SUPPORT, Role::Support),
    ] {
        staff::put(db, TelegramId::new(id), role, t0())
            .await
            .unwrap();
    }
}

async fn a_card(db: &DatabaseConnection) {
    let number = CardNumber::parse("۶۰۳۷-۹۹۱۱-۲۲۳۳-۴۴۵۵").unwrap();
    assert_eq!(number.as_str(), "6037991122334455");
    card::add_card(db, &number, "Ali Rezaei", "Melli", t0())
        .await
        .unwrap();
}

async fn pending_order(db: &DatabaseConnection, c: &vpnshop_core::customers::Customer) -> OrderId {
    let plan = plan_30d(db).await;
    let quote = orders::quote(
        db,
        &QuoteRequest {
            customer: c.customer_id(),
            plan: plan.plan_id(),
            currency: Currency::Irt,
            promo_code: None,
            points: 0,
            location: None,
        },
        &PointsRules::default(),
        t0(),
    )
    .await
    .unwrap();
    orders::place(
        db,
        c.customer_id(),
        OrderKind::Purchase,
        &quote,
        None,
        Duration::minutes(30),
        t0(),
    )
    .await
    .unwrap()
    .order_id()
}

async fn wallet(db: &DatabaseConnection, c: &vpnshop_core::customers::Customer) -> i64 {
    ledger::wallet_balance(db, c.customer_id(), Currency::Irt)
        .await
        .unwrap()
        .minor()
}

async fn audit_rows(db: &DatabaseConnection, action: &str) -> usize {
    audit_log::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .count()
}

#[tokio::test]
async fn two_pending_transfers_of_one_price_get_different_amounts_and_cards_rotate() {
    let t = fresh_db().await;
    let db = &t.db;
    a_card(db).await;
    let second = CardNumber::parse("6219 8610 0000 0001").unwrap();
    card::add_card(db, &second, "Sara Ahmadi", "Saman", t0())
        .await
        .unwrap();
    let (a, b) = (customer(db, 1).await, customer(db, 2).await);
    let ta = card::open(db, a.customer_id(), None, irt(150_000), &rules(), t0())
        .await
        .unwrap();
    let tb = card::open(db, b.customer_id(), None, irt(150_000), &rules(), t0())
        .await
        .unwrap();
    assert_eq!(ta.checkout.charge, irt(150_001));
    assert_eq!(tb.checkout.charge, irt(150_002));
    assert_ne!(ta.card.id, tb.card.id, "cards are used in turn");
    // What is transferred, offset included, is what the wallet gets.
    assert_eq!(tb.checkout.credit, tb.checkout.charge);
    // Twenty customers open a transfer of the same amount at the same instant: twenty amounts.
    let mut many = Vec::new();
    for i in 0..20 {
        many.push(customer(db, 100 + i).await);
    }
    let same_rules = rules();
    let opened = futures::future::join_all(
        many.iter()
            .map(|c| card::open(db, c.customer_id(), None, irt(150_000), &same_rules, t0())),
    )
    .await;
    let mut charges: Vec<i64> = opened
        .into_iter()
        .map(|t| t.unwrap().checkout.charge.minor())
        .collect();
    charges.sort();
    charges.dedup();
    assert_eq!(charges.len(), 20, "{charges:?}");
    assert!(CardNumber::parse("6037 9911").is_none());
    assert!(CardNumber::parse("6037-9911-2233-445x").is_none());
}

#[tokio::test]
async fn finance_approves_a_receipt_once_and_the_order_is_paid_from_the_wallet() {
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let c = customer(db, 10).await;
    let order = pending_order(db, &c).await;
    let due = payments::amount_due(db, order, c.customer_id(), t0())
        .await
        .unwrap();
    let transfer = card::open(db, c.customer_id(), Some(order), due, &rules(), t0())
        .await
        .unwrap();
    let submitted = card::submit(
        db,
        transfer.checkout.payment,
        c.customer_id(),
        "file-1",
        "uniq-1",
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(submitted.duplicate_of, None);
    assert!(matches!(
        card::submit(
            db,
            transfer.checkout.payment,
            c.customer_id(),
            "file-1",
            "uniq-1",
            t0()
        )
        .await,
        Err(CardError::AlreadySubmitted)
    ));

    // Support staff, and someone who is not staff at all, press a (forged) Approve: nothing.
    for who in [SUPPORT, STRANGER] {
        let r = card::approve(db, submitted.receipt, TelegramId::new(who), &rules(), t0()).await;
        assert!(matches!(r, Err(CardError::NotAllowed)), "{who}: {r:?}");
    }
    assert_eq!(audit_rows(db, "receipt.approve.denied").await, 2);
    assert_eq!(wallet(db, &c).await, 0);

    let approved = card::approve(
        db,
        submitted.receipt,
        TelegramId::new(FINANCE),
        &rules(),
        t0(),
    )
    .await
    .unwrap();
    let Approval::Approved(credited) = approved else {
        panic!("one approver is enough below the limit: {approved:?}");
    };
    assert!(credited.order_paid);
    let o = orders::get(db, order).await.unwrap().unwrap();
    assert_eq!(o.state(), OrderStatus::Paid);
    // The offset (a few toman) stays in the wallet: nothing the customer sent is lost.
    assert_eq!(
        wallet(db, &c).await,
        transfer.checkout.charge.minor() - o.total_minor
    );

    // Pressing again, by anyone, changes nothing.
    for who in [FINANCE, ADMIN] {
        let again =
            card::approve(db, submitted.receipt, TelegramId::new(who), &rules(), t0()).await;
        assert!(
            matches!(again, Err(CardError::AlreadyDecided(_))),
            "{again:?}"
        );
    }
    assert_eq!(
        wallet(db, &c).await,
        transfer.checkout.charge.minor() - o.total_minor
    );
    let r = card::receipt(db, submitted.receipt).await.unwrap().unwrap();
    assert_eq!(r.decided_by, Some(FINANCE));
    assert!(ledger::audit(db).await.unwrap().is_clean());
}

#[tokio::test]
async fn two_staff_pressing_approve_at_once_credit_once() {
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let c = customer(db, 11).await;
    let transfer = card::open(db, c.customer_id(), None, irt(200_000), &rules(), t0())
        .await
        .unwrap();
    let s = card::submit(
        db,
        transfer.checkout.payment,
        c.customer_id(),
        "f",
        "u",
        t0(),
    )
    .await
    .unwrap();
    let presses = (0..10).map(|i| {
        let db = db.clone();
        let who = if i % 2 == 0 { FINANCE } else { ADMIN };
        async move { card::approve(&db, s.receipt, TelegramId::new(who), &rules(), t0()).await }
    });
    let results = futures::future::join_all(presses).await;
    let wins = results
        .iter()
        .filter(|r| matches!(r, Ok(Approval::Approved(_))))
        .count();
    assert_eq!(wins, 1, "{results:?}");
    assert_eq!(wallet(db, &c).await, transfer.checkout.charge.minor());
    assert!(ledger::audit(db).await.unwrap().is_clean());
}

#[tokio::test]
async fn a_large_receipt_needs_two_different_approvers() {
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let c = customer(db, 12).await;
    let transfer = card::open(db, c.customer_id(), None, irt(2_000_000), &rules(), t0())
        .await
        .unwrap();
    let s = card::submit(
        db,
        transfer.checkout.payment,
        c.customer_id(),
        "f",
        "u",
        t0(),
    )
    .await
    .unwrap();
    let first = card::approve(db, s.receipt, TelegramId::new(FINANCE), &rules(), t0())
        .await
        .unwrap();
    assert_eq!(first, Approval::NeedsSecond);
    assert_eq!(wallet(db, &c).await, 0);
    let same = card::approve(db, s.receipt, TelegramId::new(FINANCE), &rules(), t0()).await;
    assert!(matches!(same, Err(CardError::SameApprover)), "{same:?}");
    let second = card::approve(db, s.receipt, TelegramId::new(ADMIN), &rules(), t0())
        .await
        .unwrap();
    assert!(matches!(second, Approval::Approved(_)));
    assert_eq!(wallet(db, &c).await, transfer.checkout.charge.minor());
}

#[tokio::test]
async fn a_rejected_receipt_fails_its_payment_and_the_same_photo_is_flagged_next_time() {
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let c = customer(db, 13).await;
    let first = card::open(db, c.customer_id(), None, irt(100_000), &rules(), t0())
        .await
        .unwrap();
    let s = card::submit(
        db,
        first.checkout.payment,
        c.customer_id(),
        "f",
        "same-photo",
        t0(),
    )
    .await
    .unwrap();
    card::begin_reject(db, s.receipt, TelegramId::new(FINANCE), &rules(), t0())
        .await
        .unwrap();
    // While FINANCE writes the reason, nobody else can approve or finish the rejection.
    let approve = card::approve(db, s.receipt, TelegramId::new(ADMIN), &rules(), t0()).await;
    assert!(
        matches!(approve, Err(CardError::AlreadyDecided(_))),
        "{approve:?}"
    );
    let other = card::finish_reject(db, s.receipt, TelegramId::new(ADMIN), "no", t0()).await;
    assert!(
        matches!(other, Err(CardError::AlreadyDecided(_))),
        "{other:?}"
    );
    let done = card::finish_reject(
        db,
        s.receipt,
        TelegramId::new(FINANCE),
        "No such transfer on 21 Nov",
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(done.reason.as_deref(), Some("No such transfer on 21 Nov"));
    let p = payments::get(db, first.checkout.payment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Failed);

    let again = card::open(db, c.customer_id(), None, irt(100_000), &rules(), t0())
        .await
        .unwrap();
    let flagged = card::submit(
        db,
        again.checkout.payment,
        c.customer_id(),
        "f2",
        "same-photo",
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(flagged.duplicate_of, Some(s.receipt));
    assert_eq!(wallet(db, &c).await, 0);
}

#[tokio::test]
async fn unreviewed_receipts_are_reminded_never_approved() {
    let t = fresh_db().await;
    let db = &t.db;
    a_card(db).await;
    let c = customer(db, 14).await;
    let tr = card::open(db, c.customer_id(), None, irt(100_000), &rules(), t0())
        .await
        .unwrap();
    card::submit(db, tr.checkout.payment, c.customer_id(), "f", "u", t0())
        .await
        .unwrap();
    assert!(
        card::due_reminders(db, &rules(), t0() + Duration::minutes(29))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        card::due_reminders(db, &rules(), t0() + Duration::minutes(31))
            .await
            .unwrap()
            .len(),
        1
    );
    // Not again until another half hour passed.
    assert!(
        card::due_reminders(db, &rules(), t0() + Duration::minutes(40))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        card::due_reminders(db, &rules(), t0() + Duration::minutes(62))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(wallet(db, &c).await, 0);
}

/// A gateway-style payment opened directly (as `gateways::checkout` does) with a reference.
async fn gateway_payment(
    db: &DatabaseConnection,
    telegram: i64,
    reference: &str,
) -> (vpnshop_core::customers::Customer, payments::Checkout) {
    let c = customer(db, telegram).await;
    let rub = Money::new(50_000, Currency::Rub).unwrap();
    let checkout = payments::open(
        db,
        Provider::YooKassa,
        c.customer_id(),
        None,
        rub,
        rub,
        serde_json::json!({}),
        t0(),
    )
    .await
    .unwrap();
    payments::attach_reference(
        db,
        checkout.payment,
        reference,
        Some("https://pay.example/x"),
        t0(),
    )
    .await
    .unwrap();
    (c, checkout)
}

fn paid_rub(minor: i64) -> Report {
    Report::Paid {
        amount_minor: minor,
        currency: "RUB".into(),
    }
}

#[tokio::test]
async fn two_hundred_concurrent_reports_of_one_payment_credit_once() {
    let t = fresh_db().await;
    let db = &t.db;
    let (c, checkout) = gateway_payment(db, 20, "yk-1").await;
    let reports =
        (0..200).map(|_| {
            let db = db.clone();
            async move {
                payments::apply(&db, Provider::YooKassa, "yk-1", &paid_rub(50_000), t0()).await
            }
        });
    let outcomes = futures::future::join_all(reports).await;
    let credited = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Outcome::Credited(_))))
        .count();
    assert_eq!(credited, 1);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(Outcome::Credited(_) | Outcome::AlreadySettled))),
        "{outcomes:?}"
    );
    let balance = ledger::wallet_balance(db, c.customer_id(), Currency::Rub)
        .await
        .unwrap();
    assert_eq!(balance, checkout.credit);
    assert!(ledger::audit(db).await.unwrap().is_clean());
}

#[tokio::test]
async fn a_late_failure_after_paid_changes_nothing_and_a_late_paid_after_failure_counts() {
    let t = fresh_db().await;
    let db = &t.db;
    let (c, _) = gateway_payment(db, 21, "yk-2").await;
    assert!(matches!(
        payments::apply(db, Provider::YooKassa, "yk-2", &paid_rub(50_000), t0())
            .await
            .unwrap(),
        Outcome::Credited(_)
    ));
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "yk-2", &Report::Failed, t0())
            .await
            .unwrap(),
        Outcome::AlreadySettled
    );
    let p = payments::by_reference(db, Provider::YooKassa, "yk-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.status, PaymentStatus::Paid);
    assert_eq!(
        ledger::wallet_balance(db, c.customer_id(), Currency::Rub)
            .await
            .unwrap()
            .minor(),
        50_000
    );

    // Expired first, then the money arrives after all (crypto does this): it is credited.
    let (c2, _) = gateway_payment(db, 22, "yk-3").await;
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "yk-3", &Report::Failed, t0())
            .await
            .unwrap(),
        Outcome::MarkedFailed
    );
    assert!(matches!(
        payments::apply(db, Provider::YooKassa, "yk-3", &paid_rub(50_000), t0())
            .await
            .unwrap(),
        Outcome::Credited(_)
    ));
    assert_eq!(
        ledger::wallet_balance(db, c2.customer_id(), Currency::Rub)
            .await
            .unwrap()
            .minor(),
        50_000
    );
}

#[tokio::test]
async fn a_wrong_amount_or_currency_goes_to_staff_and_credits_nothing() {
    let t = fresh_db().await;
    let db = &t.db;
    let (c, checkout) = gateway_payment(db, 23, "yk-4").await;
    let under = payments::apply(db, Provider::YooKassa, "yk-4", &paid_rub(49_999), t0())
        .await
        .unwrap();
    assert_eq!(
        under,
        Outcome::Review {
            payment: checkout.payment
        }
    );
    // The right amount reported afterwards does not undo the review: staff decide.
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "yk-4", &paid_rub(50_000), t0())
            .await
            .unwrap(),
        Outcome::AlreadySettled
    );
    let (_, _) = gateway_payment(db, 24, "yk-5").await;
    let other_currency = Report::Paid {
        amount_minor: 50_000,
        currency: "USD".into(),
    };
    assert!(matches!(
        payments::apply(db, Provider::YooKassa, "yk-5", &other_currency, t0())
            .await
            .unwrap(),
        Outcome::Review { .. }
    ));
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "nobody", &paid_rub(50_000), t0())
            .await
            .unwrap(),
        Outcome::Unknown
    );
    assert_eq!(
        ledger::wallet_balance(db, c.customer_id(), Currency::Rub)
            .await
            .unwrap()
            .minor(),
        0
    );
    let p = payments::get(db, checkout.payment).await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Review);
}

#[tokio::test]
async fn staff_settle_a_payment_in_review_once_and_only_finance_or_admin_may() {
    use vpnshop_core::payments::review::{self, Decision, ReviewError, Settled};
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    let rub = |minor| Money::new(minor, Currency::Rub).unwrap();
    let balance = |c: vpnshop_core::ids::CustomerId| async move {
        ledger::wallet_balance(db, c, Currency::Rub)
            .await
            .unwrap()
            .minor()
    };

    // 400 of 500 rubles arrived: finance credits what arrived, once, however often pressed.
    let (c, short) = gateway_payment(db, 31, "yk-31").await;
    payments::apply(db, Provider::YooKassa, "yk-31", &paid_rub(40_000), t0())
        .await
        .unwrap();
    let row = payments::get(db, short.payment).await.unwrap().unwrap();
    assert_eq!(review::received_credit(&row), Some(rub(40_000)));

    // Support staff and strangers are refused, and it is written down.
    for who in [SUPPORT, STRANGER] {
        let refused = review::decide(
            db,
            short.payment,
            TelegramId::new(who),
            Decision::CreditFull,
            None,
            t0(),
        )
        .await;
        assert!(matches!(refused, Err(ReviewError::NotAllowed)), "{who}");
    }
    let denied = audit_log::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "payment.review.credit_full.denied")
        .count();
    assert_eq!(denied, 2);

    let presses = futures::future::join_all((0..10).map(|i| {
        let who = if i % 2 == 0 { FINANCE } else { ADMIN };
        review::decide(
            db,
            short.payment,
            TelegramId::new(who),
            Decision::CreditReceived,
            None,
            t0(),
        )
    }))
    .await;
    let credited = presses
        .iter()
        .filter(|p| matches!(p, Ok(Settled::Credited(_))))
        .count();
    assert_eq!(credited, 1, "{presses:?}");
    assert!(
        presses
            .iter()
            .all(|p| matches!(p, Ok(_) | Err(ReviewError::AlreadyDecided(_))))
    );
    assert_eq!(balance(c.customer_id()).await, 40_000);
    // A late, right-sized report or a decline afterwards changes nothing.
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "yk-31", &paid_rub(50_000), t0())
            .await
            .unwrap(),
        Outcome::AlreadySettled
    );
    assert!(matches!(
        review::decide(
            db,
            short.payment,
            TelegramId::new(ADMIN),
            Decision::Decline,
            None,
            t0()
        )
        .await,
        Err(ReviewError::AlreadyDecided(_))
    ));
    assert_eq!(balance(c.customer_id()).await, 40_000);

    // Paid in another currency: nothing to scale; the admin credits in full.
    let (c2, other) = gateway_payment(db, 32, "yk-32").await;
    let usd = Report::Paid {
        amount_minor: 550,
        currency: "USD".into(),
    };
    payments::apply(db, Provider::YooKassa, "yk-32", &usd, t0())
        .await
        .unwrap();
    let row = payments::get(db, other.payment).await.unwrap().unwrap();
    assert_eq!(review::received_credit(&row), None);
    assert!(matches!(
        review::decide(
            db,
            other.payment,
            TelegramId::new(ADMIN),
            Decision::CreditReceived,
            None,
            t0()
        )
        .await,
        Err(ReviewError::NotComparable)
    ));
    assert!(matches!(
        review::decide(
            db,
            other.payment,
            TelegramId::new(ADMIN),
            Decision::CreditFull,
            None,
            t0()
        )
        .await,
        Ok(Settled::Credited(_))
    ));
    assert_eq!(balance(c2.customer_id()).await, 50_000);

    // Declined: nothing credited, and reconciliation never brings it back to review.
    let (c3, declined) = gateway_payment(db, 33, "yk-33").await;
    payments::apply(db, Provider::YooKassa, "yk-33", &paid_rub(1_000), t0())
        .await
        .unwrap();
    assert_eq!(
        review::decide(
            db,
            declined.payment,
            TelegramId::new(FINANCE),
            Decision::Decline,
            None,
            t0()
        )
        .await
        .unwrap(),
        Settled::Declined
    );
    assert_eq!(
        payments::apply(db, Provider::YooKassa, "yk-33", &paid_rub(1_000), t0())
            .await
            .unwrap(),
        Outcome::AlreadySettled
    );
    let row = payments::get(db, declined.payment).await.unwrap().unwrap();
    assert_eq!(row.status, PaymentStatus::Declined);
    assert_eq!(balance(c3.customer_id()).await, 0);
    assert!(ledger::audit(db).await.unwrap().is_clean());
}

/// A seller resets the database (or runs a second shop on the same YooKassa account): payment
/// ids restart at 1, and YooKassa remembers idempotence keys for 24 hours. The new database's
/// first top-up must open a payment of its own, never get the old shop's payment back.
#[tokio::test]
async fn a_second_shop_on_the_same_yookassa_account_opens_its_own_payments() {
    use vpnshop_core::payments::gateways::{self, Purchase, Urls, yookassa::YooKassa};
    let fake = vpnshop_tests::gateways::yookassa::FakeYooKassa::start("123456", "live_key").await;
    let mut links = Vec::new();
    for _ in 0..2 {
        let t = fresh_db().await;
        let c = customer(&t.db, 7_000_000_001).await;
        let yookassa = YooKassa {
            shop_id: "123456".into(),
            secret_key: "live_key".to_string().into(),
            api_base: fake.url.clone(),
            http: reqwest::Client::new(),
        };
        let (checkout, link) = gateways::checkout(
            &t.db,
            &yookassa,
            &Urls {
                public_base: "https://shop.example".into(),
            },
            Purchase {
                customer: c.customer_id(),
                order: None,
                credit: Money::new(50_000, Currency::Rub).unwrap(),
                description: "Wallet top-up".into(),
            },
            100,
            t0(),
        )
        .await
        .unwrap();
        assert_eq!(checkout.payment.get(), 1, "a fresh database starts at 1");
        links.push(link);
    }
    assert_ne!(links[0], links[1], "each shop pays its own payment");
    assert_eq!(fake.create_count(), 2);
}

/// Staff match card transfers by their unique amounts. A transfer nobody sent a receipt for
/// expires and frees its amount; when every amount is held, a new transfer is refused rather
/// than given a repeated one; a receipt sent late still reaches staff.
#[tokio::test]
async fn unreceipted_transfers_expire_and_amounts_never_repeat() {
    let t = fresh_db().await;
    let db = &t.db;
    a_card(db).await;
    let tight = CardRules {
        max_offset_minor: 2,
        ..rules()
    };
    let (a, b, c) = (
        customer(db, 1).await,
        customer(db, 2).await,
        customer(db, 3).await,
    );
    let ta = card::open(db, a.customer_id(), None, irt(150_000), &tight, t0())
        .await
        .unwrap();
    card::open(db, b.customer_id(), None, irt(150_000), &tight, t0())
        .await
        .unwrap();
    // Both distinguishable amounts are held: a third would repeat one.
    assert!(matches!(
        card::open(db, c.customer_id(), None, irt(150_000), &tight, t0()).await,
        Err(CardError::NoFreeAmount)
    ));
    // A day later neither sent a receipt: both expired, and the amounts are free again.
    let later = t0() + Duration::hours(25);
    let tc = card::open(db, c.customer_id(), None, irt(150_000), &tight, later)
        .await
        .unwrap();
    assert_eq!(tc.checkout.charge, irt(150_001));
    let first = payments::get(db, ta.checkout.payment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, PaymentStatus::Failed);

    // The first customer had paid after all, and sends the receipt late: staff still see it.
    let waiting = card::awaiting_receipt(db, a.customer_id(), &tight, later)
        .await
        .unwrap()
        .expect("the expired transfer still takes its receipt");
    assert_eq!(waiting.id, ta.checkout.payment);
    card::submit(
        db,
        ta.checkout.payment,
        a.customer_id(),
        "f-late",
        "u-late",
        later,
    )
    .await
    .unwrap();
    let first = payments::get(db, ta.checkout.payment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, PaymentStatus::Pending, "back before staff");
    // Far later, an old expired transfer no longer catches stray photos.
    assert!(
        card::awaiting_receipt(db, b.customer_id(), &tight, t0() + Duration::days(3))
            .await
            .unwrap()
            .is_none()
    );
}

/// A customer types an absurd amount for a card top-up: refused before anything is opened,
/// and no sum of money can overflow.
#[tokio::test]
async fn a_huge_card_top_up_is_refused_not_overflowed() {
    let t = fresh_db().await;
    let db = &t.db;
    a_card(db).await;
    let c = customer(db, 1).await;
    assert!(matches!(
        Money::parse("9223372036854775807", Currency::Irt),
        Err(vpnshop_core::money::MoneyError::TooLarge { .. })
    ));
    // Even an amount that got past parsing cannot overflow the offset.
    let near_max = Money::new(i64::MAX - 1, Currency::Irt).unwrap();
    assert!(
        card::open(db, c.customer_id(), None, near_max, &rules(), t0())
            .await
            .is_err()
    );
}

/// A finance member who also buys from the shop cannot approve their own receipt or settle
/// their own payment in review; a review credit above the second-approval limit needs two
/// different people, as a receipt does.
#[tokio::test]
async fn staff_never_decide_their_own_payments_and_big_review_credits_need_two() {
    use vpnshop_core::payments::review::{self, Decision, ReviewError, Settled};
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;

    // The finance member tops up by card and tries to approve the receipt themself.
    let me = customer(db, FINANCE).await;
    let transfer = card::open(db, me.customer_id(), None, irt(200_000), &rules(), t0())
        .await
        .unwrap();
    let r = card::submit(
        db,
        transfer.checkout.payment,
        me.customer_id(),
        "f",
        "u",
        t0(),
    )
    .await
    .unwrap();
    let own = card::approve(db, r.receipt, TelegramId::new(FINANCE), &rules(), t0()).await;
    assert!(matches!(own, Err(CardError::OwnPayment)), "{own:?}");
    assert!(matches!(
        card::begin_reject(db, r.receipt, TelegramId::new(FINANCE), &rules(), t0()).await,
        Err(CardError::OwnPayment)
    ));
    assert_eq!(wallet(db, &me).await, 0, "nothing credited");
    assert_eq!(audit_rows(db, "receipt.approve.denied").await, 1);
    // Someone else decides it.
    card::approve(db, r.receipt, TelegramId::new(ADMIN), &rules(), t0())
        .await
        .unwrap();

    // Their own gateway payment in review: refused too.
    let limit = Some(Money::new(30_000, Currency::Rub).unwrap());
    let (_, mine) = gateway_payment(db, FINANCE, "yk-own").await;
    payments::apply(db, Provider::YooKassa, "yk-own", &paid_rub(45_000), t0())
        .await
        .unwrap();
    assert!(matches!(
        review::decide(
            db,
            mine.payment,
            TelegramId::new(FINANCE),
            Decision::CreditFull,
            limit,
            t0()
        )
        .await,
        Err(ReviewError::OwnPayment)
    ));

    // Someone else's 500 ₽ in review, above the 300 ₽ limit: the first press only records.
    let (c, theirs) = gateway_payment(db, 77, "yk-big").await;
    payments::apply(db, Provider::YooKassa, "yk-big", &paid_rub(45_000), t0())
        .await
        .unwrap();
    let decide = |who: i64, decision| {
        review::decide(
            db,
            theirs.payment,
            TelegramId::new(who),
            decision,
            limit,
            t0(),
        )
    };
    assert!(matches!(
        decide(ADMIN, Decision::CreditFull).await,
        Ok(Settled::NeedsSecond)
    ));
    let balance = || async {
        ledger::wallet_balance(db, c.customer_id(), Currency::Rub)
            .await
            .unwrap()
            .minor()
    };
    assert_eq!(balance().await, 0);
    assert!(matches!(
        decide(ADMIN, Decision::CreditFull).await,
        Err(ReviewError::SameApprover)
    ));
    assert!(matches!(
        decide(FINANCE, Decision::CreditFull).await,
        Ok(Settled::Credited(_))
    ));
    assert_eq!(balance().await, 50_000, "credited once, in full");
    assert!(matches!(
        decide(ADMIN, Decision::CreditFull).await,
        Err(ReviewError::AlreadyDecided(_))
    ));
}

/// The seller moves staff to a new group: message numbers start again there, so a staff reply
/// in the new group must never land on a receipt or ticket posted in the old one.
#[tokio::test]
async fn staff_replies_are_matched_in_their_own_chat() {
    use vpnshop_core::ids::StaffPost;
    use vpnshop_core::tickets::{self, Writing};
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let (old_chat, new_chat) = (-100_111, -100_222);
    let c = customer(db, 21).await;
    let transfer = card::open(db, c.customer_id(), None, irt(100_000), &rules(), t0())
        .await
        .unwrap();
    let r = card::submit(
        db,
        transfer.checkout.payment,
        c.customer_id(),
        "f",
        "u",
        t0(),
    )
    .await
    .unwrap();
    let in_old = StaffPost {
        chat: old_chat,
        message: 42,
    };
    let same_number_in_new = StaffPost {
        chat: new_chat,
        message: 42,
    };
    card::set_staff_message(db, r.receipt, in_old)
        .await
        .unwrap();
    assert_eq!(
        card::by_staff_message(db, in_old)
            .await
            .unwrap()
            .map(|r| r.id),
        Some(r.receipt)
    );
    assert!(
        card::by_staff_message(db, same_number_in_new)
            .await
            .unwrap()
            .is_none()
    );

    let ticket = tickets::open(
        db,
        c.customer_id(),
        TelegramId::new(21),
        Writing {
            body: Some("my VPN is slow".into()),
            photo_file_id: None,
        },
        3,
        t0(),
    )
    .await
    .unwrap();
    let first = tickets::messages(db, ticket.id, 10)
        .await
        .unwrap()
        .remove(0);
    tickets::posted_to_staff(db, first.id, in_old)
        .await
        .unwrap();
    staff::put(db, TelegramId::new(SUPPORT), Role::Support, t0())
        .await
        .unwrap();
    let support = staff::access_of(db, TelegramId::new(SUPPORT))
        .await
        .unwrap()
        .unwrap();
    let answer = |post| {
        tickets::staff_answers(
            db,
            post,
            &support,
            Writing {
                body: Some("try another server".into()),
                photo_file_id: None,
            },
            t0(),
        )
    };
    assert!(answer(same_number_in_new).await.unwrap().is_none());
    assert_eq!(answer(in_old).await.unwrap().map(|t| t.id), Some(ticket.id));
}

/// Reconciliation asks NOWPayments about many open invoices: it logs in once and reuses the
/// token (NOWPayments' last five minutes), logging in again only when it is refused.
#[tokio::test]
async fn nowpayments_reconciliation_logs_in_once_not_once_per_invoice() {
    use vpnshop_core::payments::gateways::nowpayments::{NowPayments, Session};
    use vpnshop_core::payments::gateways::{self, Purchase, Urls};
    let fake = vpnshop_tests::gateways::nowpayments::FakeNowPayments::start(
        "np-key",
        "np-ipn",
        "seller@shop.example",
        "np-pass",
    )
    .await;
    let t = fresh_db().await;
    let np = NowPayments {
        charge_in: None,
        api_key: "np-key".to_string().into(),
        ipn_secret: "np-ipn".to_string().into(),
        email: "seller@shop.example".into(),
        password: "np-pass".to_string().into(),
        api_base: fake.url.clone(),
        http: reqwest::Client::new(),
        session: Session::default(),
    };
    let urls = Urls {
        public_base: "https://shop.example".into(),
    };
    for i in 0..5 {
        let c = customer(&t.db, 900 + i).await;
        gateways::checkout(
            &t.db,
            &np,
            &urls,
            Purchase {
                customer: c.customer_id(),
                order: None,
                credit: Money::new(1_000, Currency::Usd).unwrap(),
                description: "Wallet top-up".into(),
            },
            100,
            t0(),
        )
        .await
        .unwrap();
    }
    let all: [&dyn gateways::Gateway; 1] = [&np];
    let sweep = |minutes| {
        gateways::reconcile(
            &t.db,
            &all,
            Duration::zero(),
            Duration::days(3),
            t0() + Duration::minutes(minutes),
        )
    };
    sweep(5).await.unwrap();
    assert_eq!(fake.calls("/auth"), 1, "one login for five invoices");
    sweep(10).await.unwrap();
    assert_eq!(fake.calls("/auth"), 1, "the token is reused");
    fake.expire_tokens();
    sweep(15).await.unwrap();
    assert_eq!(fake.calls("/auth"), 2, "a refused token is renewed once");
}

/// Sixty customers opened YooKassa checkouts and never paid. Each sweep asks about at most 50
/// of them, the longest unasked first, and old ones are asked hourly instead of every sweep.
#[tokio::test]
async fn abandoned_checkouts_are_asked_about_less_and_less_and_never_all_at_once() {
    use vpnshop_core::payments::gateways::{self, Purchase, Urls, yookassa::YooKassa};
    let fake = vpnshop_tests::gateways::yookassa::FakeYooKassa::start("123456", "live_key").await;
    let t = fresh_db().await;
    let yookassa = YooKassa {
        shop_id: "123456".into(),
        secret_key: "live_key".to_string().into(),
        api_base: fake.url.clone(),
        http: reqwest::Client::new(),
    };
    let urls = Urls {
        public_base: "https://shop.example".into(),
    };
    for i in 0..60 {
        let c = customer(&t.db, 1_000 + i).await;
        gateways::checkout(
            &t.db,
            &yookassa,
            &urls,
            Purchase {
                customer: c.customer_id(),
                order: None,
                credit: Money::new(50_000, Currency::Rub).unwrap(),
                description: "Wallet top-up".into(),
            },
            100,
            t0(),
        )
        .await
        .unwrap();
    }
    let all: [&dyn gateways::Gateway; 1] = [&yookassa];
    let asked_at = |minutes| {
        let before = fake.calls("/payments/");
        let all = &all;
        let t = &t;
        let fake = &fake;
        async move {
            gateways::reconcile(
                &t.db,
                all,
                Duration::zero(),
                Duration::days(3),
                t0() + Duration::minutes(minutes),
            )
            .await
            .unwrap();
            fake.calls("/payments/") - before
        }
    };
    assert_eq!(asked_at(5).await, 50, "a cap per sweep");
    assert_eq!(asked_at(5).await, 10, "then the ones not asked yet");
    // A day later they are asked again, but then only hourly.
    assert_eq!(asked_at(24 * 60).await, 50);
    assert_eq!(asked_at(24 * 60 + 10).await, 10);
    assert_eq!(
        asked_at(24 * 60 + 20).await,
        0,
        "not due again within the hour"
    );
    assert_eq!(asked_at(24 * 60 + 70).await, 50);
}

/// `vpnshop check` tries every configured gateway with a harmless authenticated call: right
/// keys pass, and a wrong one is named with where to find the right one.
#[tokio::test]
async fn every_gateway_proves_its_keys_and_names_a_wrong_one() {
    use vpnshop_core::payments::gateways::Gateway;
    use vpnshop_core::payments::gateways::cryptobot::CryptoBot;
    use vpnshop_core::payments::gateways::nowpayments::{NowPayments, Session};
    use vpnshop_core::payments::gateways::yookassa::YooKassa;
    use vpnshop_core::payments::gateways::zarinpal::Zarinpal;
    use vpnshop_tests::gateways::{
        cryptobot::FakeCryptoBot, nowpayments::FakeNowPayments, yookassa::FakeYooKassa,
        zarinpal::FakeZarinpal,
    };
    let http = reqwest::Client::new();
    let zp = FakeZarinpal::start("1344b5d4-0048-11e8-94db-005056a205be").await;
    let yk = FakeYooKassa::start("123456", "live_key").await;
    let np = FakeNowPayments::start("np-key", "np-ipn", "seller@shop.example", "np-pass").await;
    let cb = FakeCryptoBot::start("12345:AAcryptotoken").await;
    let zarinpal = |merchant: &str| Zarinpal {
        merchant_id: merchant.to_string().into(),
        currency: Currency::Irr,
        api_base: zp.url.clone(),
        http: http.clone(),
    };
    let yookassa = |secret: &str| YooKassa {
        shop_id: "123456".into(),
        secret_key: secret.to_string().into(),
        api_base: yk.url.clone(),
        http: http.clone(),
    };
    let nowpayments = |key: &str, password: &str| NowPayments {
        charge_in: None,
        api_key: key.to_string().into(),
        ipn_secret: "np-ipn".to_string().into(),
        email: "seller@shop.example".into(),
        password: password.to_string().into(),
        api_base: np.url.clone(),
        http: http.clone(),
        session: Session::default(),
    };
    let cryptobot = |token: &str| CryptoBot {
        charge_in: None,
        token: token.to_string().into(),
        api_base: cb.url.clone(),
        http: http.clone(),
    };
    assert_eq!(
        zarinpal("1344b5d4-0048-11e8-94db-005056a205be")
            .verify()
            .await,
        Ok(())
    );
    assert_eq!(yookassa("live_key").verify().await, Ok(()));
    assert_eq!(nowpayments("np-key", "np-pass").verify().await, Ok(()));
    assert_eq!(cryptobot("12345:AAcryptotoken").verify().await, Ok(()));

    let wrong = [
        (
            zarinpal("00000000-0000-0000-0000-000000000000")
                .verify()
                .await,
            "payments.zarinpal.merchant_id",
        ),
        (
            yookassa("wrong_key").verify().await,
            "payments.yookassa.shop_id or secret_key",
        ),
        (
            nowpayments("np-key", "wrong-pass").verify().await,
            "payments.nowpayments.email or password",
        ),
        (
            nowpayments("wrong-key", "np-pass").verify().await,
            "payments.nowpayments.api_key",
        ),
        (
            cryptobot("12345:wrong").verify().await,
            "payments.cryptobot.token",
        ),
    ];
    for (outcome, key) in wrong {
        let why = outcome.expect_err(key);
        assert!(why.contains(key), "{why}");
        assert!(!why.contains("wrong"), "a secret is never repeated: {why}");
    }
}

/// A finance member pressed Reject and went home without writing the reason. For half an hour
/// the receipt is theirs; after that anyone else in finance may take the rejection over, or
/// approve the receipt instead, and either is written down.
#[tokio::test]
async fn a_rejection_left_without_a_reason_is_taken_over_or_cancelled_by_someone_else() {
    let t = fresh_db().await;
    let db = &t.db;
    staff_team(db).await;
    a_card(db).await;
    let receipt_of = |c: vpnshop_core::customers::Customer, n: &'static str| async move {
        let transfer = card::open(db, c.customer_id(), None, irt(100_000), &rules(), t0())
            .await
            .unwrap();
        card::submit(db, transfer.checkout.payment, c.customer_id(), n, n, t0())
            .await
            .unwrap()
            .receipt
    };
    let first = receipt_of(customer(db, 31).await, "photo-1").await;
    let second = receipt_of(customer(db, 32).await, "photo-2").await;
    for r in [first, second] {
        card::begin_reject(db, r, TelegramId::new(FINANCE), &rules(), t0())
            .await
            .unwrap();
    }
    let soon = t0() + Duration::minutes(10);
    assert!(matches!(
        card::begin_reject(db, first, TelegramId::new(ADMIN), &rules(), soon).await,
        Err(CardError::AlreadyDecided(_))
    ));
    assert!(matches!(
        card::approve(db, second, TelegramId::new(ADMIN), &rules(), soon).await,
        Err(CardError::AlreadyDecided(_))
    ));

    let later = t0() + Duration::minutes(31);
    let taken = card::begin_reject(db, first, TelegramId::new(ADMIN), &rules(), later)
        .await
        .unwrap();
    assert_eq!(taken.claimed_by, Some(ADMIN));
    card::finish_reject(db, first, TelegramId::new(ADMIN), "wrong amount", later)
        .await
        .unwrap();
    assert!(matches!(
        card::approve(db, second, TelegramId::new(ADMIN), &rules(), later)
            .await
            .unwrap(),
        Approval::Approved(_)
    ));
    assert_eq!(audit_rows(db, "receipt.reject.taken_over").await, 1);
    assert_eq!(audit_rows(db, "receipt.reject.cancelled").await, 1);
}

/// One customer cannot flood staff, gateways or the card amounts: open tickets, open gateway
/// checkouts and card transfers waiting for receipts are capped per customer.
#[tokio::test]
async fn one_customer_cannot_open_tickets_checkouts_or_transfers_without_end() {
    use vpnshop_core::payments::gateways::{self, PayError, Purchase, Urls, yookassa::YooKassa};
    use vpnshop_core::tickets::{self, TicketError, Writing};
    let t = fresh_db().await;
    let db = &t.db;
    a_card(db).await;
    let c = customer(db, 61).await;
    let question = || Writing {
        body: Some("hello?".into()),
        photo_file_id: None,
    };
    for _ in 0..3 {
        tickets::open(
            db,
            c.customer_id(),
            TelegramId::new(61),
            question(),
            3,
            t0(),
        )
        .await
        .unwrap();
    }
    assert!(matches!(
        tickets::open(
            db,
            c.customer_id(),
            TelegramId::new(61),
            question(),
            3,
            t0()
        )
        .await,
        Err(TicketError::TooMany(3))
    ));

    for _ in 0..2 {
        card::open(db, c.customer_id(), None, irt(50_000), &rules(), t0())
            .await
            .unwrap();
    }
    assert!(matches!(
        card::open(db, c.customer_id(), None, irt(50_000), &rules(), t0()).await,
        Err(CardError::TooManyPending(2))
    ));

    let fake = vpnshop_tests::gateways::yookassa::FakeYooKassa::start("123456", "live_key").await;
    let yookassa = YooKassa {
        shop_id: "123456".into(),
        secret_key: "live_key".to_string().into(),
        api_base: fake.url.clone(),
        http: reqwest::Client::new(),
    };
    let urls = Urls {
        public_base: "https://shop.example".into(),
    };
    let open = |at| {
        gateways::checkout(
            db,
            &yookassa,
            &urls,
            Purchase {
                customer: c.customer_id(),
                order: None,
                credit: Money::new(50_000, Currency::Rub).unwrap(),
                description: "Wallet top-up".into(),
            },
            5,
            at,
        )
    };
    for _ in 0..5 {
        open(t0()).await.unwrap();
    }
    assert!(matches!(open(t0()).await, Err(PayError::TooManyPending(5))));
    // A day later the old ones no longer count.
    open(t0() + Duration::hours(25)).await.unwrap();
}

/// A flood of forged notices must not fill the audit log: the first refusal of a minute is
/// written with its reason, the rest of that minute as one count.
#[tokio::test]
async fn a_flood_of_forged_notices_writes_a_count_not_a_row_each() {
    use vpnshop_core::payments::gateways::nowpayments::{NowPayments, Session};
    use vpnshop_core::payments::gateways::{self, Callback};
    let t = fresh_db().await;
    let np = NowPayments {
        charge_in: None,
        api_key: "k".to_string().into(),
        ipn_secret: "np-ipn-flood".to_string().into(),
        email: String::new(),
        password: String::new().into(),
        api_base: "http://127.0.0.1:9".into(),
        http: reqwest::Client::new(),
        session: Session::default(),
    };
    let forged = Callback {
        headers: vec![("x-nowpayments-sig".into(), "00".repeat(64))],
        body: br#"{"invoice_id":1,"payment_status":"finished"}"#.to_vec(),
        ..Callback::default()
    };
    // Two minutes far from any other test's refusals.
    let minute = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2031, 1, 1, 10, 0, 0).unwrap();
    for second in 0..50 {
        let at = minute + Duration::seconds(second);
        assert!(
            gateways::on_callback(&t.db, &np, &forged, at)
                .await
                .unwrap()
                .is_err()
        );
    }
    let next = minute + Duration::minutes(1);
    assert!(
        gateways::on_callback(&t.db, &np, &forged, next)
            .await
            .unwrap()
            .is_err()
    );
    let rows: Vec<String> = audit_log::Entity::find()
        .all(&t.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "payment.callback.refused.nowpayments")
        .map(|r| r.details)
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows[1].starts_with("49 more refused"), "{rows:?}");
}
