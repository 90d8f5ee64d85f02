//! The wallet ledger: balances are the sum of their entries, never negative, and exact under
//! concurrency.
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use vpnshop_core::ledger::{self, LedgerError, Memo, SystemAccount, TxKind};
use vpnshop_core::money::Currency;
use vpnshop_core::sea_orm::{DatabaseConnection, TransactionTrait};
use vpnshop_tests::db::fresh_db;

use crate::support::{customer, irt, t0, top_up};

#[derive(Clone, Debug)]
enum Op {
    Credit(i64),
    Debit(i64),
    /// Reverse the n-th earlier successful transaction (modulo how many there are).
    Refund(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..50_000).prop_map(Op::Credit),
        (1i64..50_000).prop_map(Op::Debit),
        (0usize..64).prop_map(Op::Refund),
    ]
}

async fn play(
    db: &DatabaseConnection,
    telegram_id: i64,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let c = customer(db, telegram_id).await;
    let id = c.customer_id();
    // What the model expects: balance, and the successful transactions with their wallet effect.
    let mut expected: i64 = 0;
    let mut done: Vec<(vpnshop_core::ids::TransactionId, i64, bool)> = Vec::new();
    for op in ops {
        let txn = db.begin().await.unwrap();
        let result = match &op {
            Op::Credit(a) => ledger::credit_wallet(
                &txn,
                id,
                irt(*a),
                &SystemAccount::Gateway(vpnshop_core::payments::Provider::YooKassa),
                TxKind::TopUp,
                Memo::default(),
                t0(),
            )
            .await
            .map(|t| (t, *a)),
            Op::Debit(a) => ledger::debit_wallet(
                &txn,
                id,
                irt(*a),
                &SystemAccount::Revenue,
                TxKind::Purchase,
                Memo::default(),
                t0(),
            )
            .await
            .map(|t| (t, -*a)),
            Op::Refund(n) if !done.is_empty() => {
                let (orig, effect, _) = done[n % done.len()];
                ledger::reverse(&txn, orig, TxKind::Refund, Memo::default(), t0())
                    .await
                    .map(|t| (t, -effect))
            }
            Op::Refund(_) => {
                txn.rollback().await.unwrap();
                continue;
            }
        };
        match result {
            Ok((tx, effect)) => {
                txn.commit().await.unwrap();
                if let Op::Refund(n) = op {
                    let len = done.len();
                    done[n % len].2 = true;
                }
                expected += effect;
                done.push((tx, effect, false));
            }
            Err(LedgerError::InsufficientBalance {
                available,
                required,
            }) => {
                txn.rollback().await.unwrap();
                prop_assert_eq!(available, expected);
                prop_assert!(
                    required > expected,
                    "refused a debit of {} with {} available",
                    required,
                    expected
                );
            }
            Err(LedgerError::AlreadyReversed(orig)) => {
                txn.rollback().await.unwrap();
                prop_assert!(done.iter().any(|(t, _, reversed)| *t == orig && *reversed));
            }
            Err(e) => return Err(TestCaseError::fail(format!("{op:?} failed: {e}"))),
        }
        let balance = ledger::wallet_balance(db, id, Currency::Irt)
            .await
            .unwrap()
            .minor();
        prop_assert_eq!(balance, expected);
        prop_assert!(balance >= 0);
        let account = ledger::wallet_account(db, id, Currency::Irt, t0())
            .await
            .unwrap();
        prop_assert_eq!(ledger::sum_of_entries(db, account).await.unwrap(), balance);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_credits_debits_and_refunds_keep_every_balance_equal_to_its_entries() {
    let t = fresh_db().await;
    let handle = tokio::runtime::Handle::current();
    let next_customer = std::sync::atomic::AtomicI64::new(1_000_000_000_000);
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..30), |ops| {
            let tg = next_customer.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::block_in_place(|| handle.block_on(play(&t.db, tg, ops)))
        })
        .unwrap();
    let audit = ledger::audit(&t.db).await.unwrap();
    assert_eq!(audit, ledger::Audit::default(), "the ledger must balance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_debits_against_a_balance_for_ten_let_exactly_ten_through() {
    let t = fresh_db().await;
    let c = customer(&t.db, 42).await;
    top_up(&t.db, &c, irt(10 * 1_000)).await;
    let db = Arc::new(t.db.clone());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let db = db.clone();
            let id = c.customer_id();
            tokio::spawn(async move {
                let txn = db.begin().await?;
                match ledger::debit_wallet(
                    &txn,
                    id,
                    irt(1_000),
                    &SystemAccount::Revenue,
                    TxKind::Purchase,
                    Memo::default(),
                    t0(),
                )
                .await
                {
                    Ok(_) => {
                        txn.commit().await?;
                        Ok::<_, vpnshop_core::sea_orm::DbErr>(true)
                    }
                    Err(LedgerError::InsufficientBalance { .. }) => Ok(false),
                    Err(e) => panic!("unexpected: {e}"),
                }
            })
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            succeeded += 1;
        }
    }
    assert_eq!(succeeded, 10);
    assert_eq!(
        ledger::wallet_balance(&t.db, c.customer_id(), Currency::Irt)
            .await
            .unwrap()
            .minor(),
        0
    );
    assert_eq!(
        ledger::audit(&t.db).await.unwrap(),
        ledger::Audit::default()
    );
}

#[tokio::test]
async fn a_transaction_is_reversed_at_most_once_and_idempotency_keys_post_once() {
    let t = fresh_db().await;
    let c = customer(&t.db, 7).await;
    let credit = |key: &'static str| {
        let db = t.db.clone();
        let id = c.customer_id();
        async move {
            let txn = db.begin().await.unwrap();
            let memo = Memo {
                idempotency_key: Some(key.into()),
                ..Memo::default()
            };
            let r = ledger::credit_wallet(
                &txn,
                id,
                irt(500),
                &SystemAccount::Gateway(vpnshop_core::payments::Provider::Stars),
                TxKind::TopUp,
                memo,
                t0(),
            )
            .await;
            if r.is_ok() {
                txn.commit().await.unwrap();
            }
            r
        }
    };
    let first = credit("charge-1").await.unwrap();
    assert!(matches!(
        credit("charge-1").await,
        Err(LedgerError::AlreadyPosted(_))
    ));

    let txn = t.db.begin().await.unwrap();
    ledger::reverse(&txn, first, TxKind::Refund, Memo::default(), t0())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let txn = t.db.begin().await.unwrap();
    assert!(matches!(
        ledger::reverse(&txn, first, TxKind::Refund, Memo::default(), t0()).await,
        Err(LedgerError::AlreadyReversed(_))
    ));
    drop(txn);
    assert_eq!(
        ledger::wallet_balance(&t.db, c.customer_id(), Currency::Irt)
            .await
            .unwrap()
            .minor(),
        0
    );
    let history = ledger::wallet_history(&t.db, c.customer_id(), Currency::Irt, 0, 10)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.amount_minor).collect::<Vec<_>>(),
        vec![-500, 500]
    );
}
