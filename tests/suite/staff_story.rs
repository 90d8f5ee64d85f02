//! Who may run the shop: owners from the config, roles granted from the bot by the rules (owners
//! anything, admins finance and support, nobody above their own role, the last owner stays),
//! custom roles as named sets of permissions — and every change audited, before → after.
use vpnshop_core::audit::{self, Filter};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_core::staff::{self, Access, Grant, Permission, Role, StaffError};
use vpnshop_tests::db::fresh_db;

use crate::support::t0;

const OWNER: TelegramId = TelegramId::new(100);
const ADMIN: TelegramId = TelegramId::new(200);
const FINANCE: TelegramId = TelegramId::new(300);
const NEWCOMER: TelegramId = TelegramId::new(400);

async fn access(db: &DatabaseConnection, who: TelegramId) -> Access {
    staff::access_of(db, who).await.unwrap().expect("staff")
}

#[tokio::test]
async fn owners_come_from_the_config_and_leave_with_it() {
    let t = fresh_db().await;
    let gone = staff::sync_config_owners(&t.db, &[OWNER, ADMIN], t0())
        .await
        .unwrap();
    assert!(gone.is_empty());
    assert_eq!(access(&t.db, ADMIN).await.role, Role::Owner);

    // The seller takes 200 out of shop.admin_ids: at the next start it is no longer an owner.
    let gone = staff::sync_config_owners(&t.db, &[OWNER], t0())
        .await
        .unwrap();
    assert_eq!(gone, vec![ADMIN]);
    assert!(staff::access_of(&t.db, ADMIN).await.unwrap().is_none());

    // A role granted from the bot is not the config's to take away.
    let owner = access(&t.db, OWNER).await;
    staff::grant(&t.db, &owner, FINANCE, Grant::Role(Role::Finance), t0())
        .await
        .unwrap();
    staff::sync_config_owners(&t.db, &[OWNER], t0())
        .await
        .unwrap();
    assert_eq!(access(&t.db, FINANCE).await.role, Role::Finance);
}

#[tokio::test]
async fn nobody_grants_above_their_own_role_and_the_last_owner_stays() {
    let t = fresh_db().await;
    staff::sync_config_owners(&t.db, &[OWNER], t0())
        .await
        .unwrap();
    let owner = access(&t.db, OWNER).await;
    staff::grant(&t.db, &owner, ADMIN, Grant::Role(Role::Admin), t0())
        .await
        .unwrap();
    let admin = access(&t.db, ADMIN).await;

    // An admin grants finance and support, never admin or owner, and cannot touch an owner.
    staff::grant(&t.db, &admin, FINANCE, Grant::Role(Role::Finance), t0())
        .await
        .unwrap();
    let refused = staff::grant(&t.db, &admin, NEWCOMER, Grant::Role(Role::Admin), t0()).await;
    assert!(
        matches!(refused, Err(StaffError::AboveYou(Role::Admin))),
        "{refused:?}"
    );
    let refused = staff::revoke(&t.db, &admin, OWNER, t0()).await;
    assert!(
        matches!(refused, Err(StaffError::AboveYou(Role::Owner))),
        "{refused:?}"
    );

    // Finance manages no one.
    let finance = access(&t.db, FINANCE).await;
    let refused = staff::grant(&t.db, &finance, NEWCOMER, Grant::Role(Role::Support), t0()).await;
    assert!(
        matches!(refused, Err(StaffError::NotAllowed)),
        "{refused:?}"
    );
    assert!(!finance.may(Permission::Staff));
    assert!(finance.may(Permission::Balances));
    assert!(!finance.may(Permission::Tickets));

    // The only owner can neither remove nor demote themself.
    let refused = staff::revoke(&t.db, &owner, OWNER, t0()).await;
    assert!(matches!(refused, Err(StaffError::LastOwner)), "{refused:?}");
    let refused = staff::grant(&t.db, &owner, OWNER, Grant::Role(Role::Admin), t0()).await;
    assert!(matches!(refused, Err(StaffError::LastOwner)), "{refused:?}");
    assert_eq!(access(&t.db, OWNER).await.role, Role::Owner);

    // With a second owner, one may step down.
    staff::grant(&t.db, &owner, ADMIN, Grant::Role(Role::Owner), t0())
        .await
        .unwrap();
    assert!(staff::revoke(&t.db, &owner, OWNER, t0()).await.unwrap());

    // Each change is one audit row saying who, on whom, and before → after.
    let (rows, _) = audit::latest(
        &t.db,
        &Filter {
            kind: Some("staff".into()),
            ..Filter::default()
        },
        0,
        10,
    )
    .await
    .unwrap();
    let changes: Vec<(Option<TelegramId>, String, String, String)> = rows
        .into_iter()
        .map(|r| {
            (
                r.actor_telegram_id,
                r.target.unwrap_or_default(),
                r.before.unwrap_or_default(),
                r.after.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (Some(OWNER), "staff:100".into(), "owner".into(), "-".into()),
            (
                Some(OWNER),
                "staff:200".into(),
                "admin".into(),
                "owner".into()
            ),
            (
                Some(ADMIN),
                "staff:300".into(),
                "-".into(),
                "finance".into()
            ),
            (Some(OWNER), "staff:200".into(), "-".into(), "admin".into()),
        ]
    );
    let (by_admin, more) = audit::latest(
        &t.db,
        &Filter {
            actor: Some(ADMIN),
            ..Filter::default()
        },
        0,
        10,
    )
    .await
    .unwrap();
    assert_eq!(by_admin.len(), 1);
    assert!(!more);
}

#[tokio::test]
async fn a_custom_role_carries_exactly_its_permissions() {
    let t = fresh_db().await;
    staff::sync_config_owners(&t.db, &[OWNER], t0())
        .await
        .unwrap();
    let owner = access(&t.db, OWNER).await;
    let refused = staff::define_role(&t.db, &owner, "x", &["receipts", "teleport"], t0()).await;
    assert!(matches!(refused, Err(StaffError::UnknownPermission(p)) if p == "teleport"));
    let refused = staff::define_role(&t.db, &owner, "finance", &["receipts"], t0()).await;
    assert!(matches!(refused, Err(StaffError::BadName)), "{refused:?}");
    staff::define_role(&t.db, &owner, "receipts-only", &["receipts"], t0())
        .await
        .unwrap();
    staff::grant(
        &t.db,
        &owner,
        NEWCOMER,
        Grant::Custom("receipts-only".into()),
        t0(),
    )
    .await
    .unwrap();
    let member = access(&t.db, NEWCOMER).await;
    assert_eq!(member.title(), "receipts-only");
    assert!(member.may(Permission::Receipts));
    assert!(!member.may(Permission::Payments));
    assert!(!member.may(Permission::Balances));

    // Only owners define roles; an admin cannot hand a custom role out either.
    staff::grant(&t.db, &owner, ADMIN, Grant::Role(Role::Admin), t0())
        .await
        .unwrap();
    let admin = access(&t.db, ADMIN).await;
    let refused = staff::define_role(&t.db, &admin, "tickets-only", &["tickets"], t0()).await;
    assert!(
        matches!(refused, Err(StaffError::AboveYou(Role::Owner))),
        "{refused:?}"
    );
    let refused = staff::grant(
        &t.db,
        &admin,
        FINANCE,
        Grant::Custom("receipts-only".into()),
        t0(),
    )
    .await;
    assert!(
        matches!(refused, Err(StaffError::AboveYou(Role::Custom))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_confirmed_wallet_correction_moves_money_once_and_never_below_zero() {
    use vpnshop_core::adjustments::{self, AdjustError, Adjustment};
    use vpnshop_core::ledger;
    use vpnshop_core::money::Currency;
    let t = fresh_db().await;
    staff::sync_config_owners(&t.db, &[OWNER], t0())
        .await
        .unwrap();
    let owner = access(&t.db, OWNER).await;
    let c = crate::support::customer(&t.db, 7_000_000_001).await;
    let credit = Adjustment::new(c.id, Currency::Irt, 50_000, "refund for the outage");

    // Confirm pressed three times at once: one credit.
    let tries = futures::future::join_all(
        (0..3).map(|_| adjustments::adjust_wallet(&t.db, &owner, &credit, t0())),
    )
    .await;
    assert_eq!(tries.iter().filter(|r| r.is_ok()).count(), 1, "{tries:?}");
    assert!(
        tries
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(AdjustError::AlreadyMade)))
    );
    let wallet = ledger::wallet_balance(&t.db, c.id, Currency::Irt)
        .await
        .unwrap();
    assert_eq!(wallet.minor(), 50_000);

    // A debit larger than the wallet is refused; one without a reason too.
    let too_much = Adjustment::new(c.id, Currency::Irt, -60_000, "typo");
    let refused = adjustments::adjust_wallet(&t.db, &owner, &too_much, t0()).await;
    assert!(matches!(refused, Err(AdjustError::WouldGoNegative(m)) if m.minor() == 50_000));
    let silent = Adjustment::new(c.id, Currency::Irt, -10_000, "  ");
    let refused = adjustments::adjust_wallet(&t.db, &owner, &silent, t0()).await;
    assert!(matches!(refused, Err(AdjustError::NoReason)));
    assert!(ledger::audit(&t.db).await.unwrap().is_clean());
}
