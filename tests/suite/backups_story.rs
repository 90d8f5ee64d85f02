//! The owner backs the shop up while it runs, and restores last night's backup into a fresh
//! database with one call: balances, subscriptions and orders come back identical, on SQLite and
//! PostgreSQL alike. A backup that cannot be read, a wrong key, and a restore over a shop that
//! holds data are refused with a clear reason.
use vpnshop_core::backups::{self, BackupError};
use vpnshop_core::entities::{ledger_accounts, orders, subscriptions};
use vpnshop_core::sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use vpnshop_tests::db::{TestDb, fresh_db};
use vpnshop_tests::seed;

use crate::support::{customer, irt, plan_30d, t0, top_up};

/// A shop with 40 customers (subscriptions, wallets, one purchase's worth of ledger).
async fn busy_shop() -> TestDb {
    let t = fresh_db().await;
    let db = &t.db;
    let plan = plan_30d(db).await;
    let marzban = crate::support::marzban_for_germany(db).await;
    let _ = marzban;
    let panel = vpnshop_core::entities::panels::Entity::find()
        .one(db)
        .await
        .unwrap()
        .unwrap();
    seed::crowd(
        db,
        8_000_000_000,
        40,
        (&plan, panel.id),
        |i| (i % 2 == 0).then(|| t0() + chrono::Duration::days(i)),
        t0(),
    )
    .await;
    for id in [41, 42, 43] {
        let c = customer(db, id).await;
        top_up(db, &c, irt(125_000 * id)).await;
    }
    t
}

async fn snapshot_of(
    db: &DatabaseConnection,
) -> (
    Vec<ledger_accounts::Model>,
    Vec<subscriptions::Model>,
    Vec<orders::Model>,
) {
    (
        ledger_accounts::Entity::find()
            .order_by_asc(ledger_accounts::Column::Id)
            .all(db)
            .await
            .unwrap(),
        subscriptions::Entity::find()
            .order_by_asc(subscriptions::Column::Id)
            .all(db)
            .await
            .unwrap(),
        orders::Entity::find()
            .order_by_asc(orders::Column::Id)
            .all(db)
            .await
            .unwrap(),
    )
}

#[tokio::test]
async fn a_verified_encrypted_backup_restores_into_a_fresh_database_identical() {
    let shop = busy_shop().await;
    let dir = tempdir();
    let key = backups::parse_key(&backups::new_key()).unwrap();
    let made = backups::make(&shop.db, &shop.url, &dir, Some(&key), t0())
        .await
        .unwrap();
    assert!(made.verified(), "{:?}", made.problems);
    assert!(made.encrypted);
    assert_eq!(made.census.count("customers"), 43);
    assert_eq!(made.census.count("subscriptions"), 20);
    assert!(made.census.ledger_balanced);
    // The checksum file is in `sha256sum` format.
    let name = made.path.file_name().unwrap().to_string_lossy().to_string();
    let sums = std::fs::read_to_string(dir.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(sums, format!("{}  {name}\n", made.sha256));
    // Nothing readable without the key.
    let file = std::fs::read(&made.path).unwrap();
    assert!(!file.windows(9).any(|w| w == b"customers"));

    // Into a fresh database (a migrated, empty one is as empty).
    let fresh = fresh_db().await;
    let restored = backups::restore(&made.path, &fresh.url, Some(&key), false)
        .await
        .unwrap();
    assert!(restored.problems.is_empty(), "{:?}", restored.problems);
    assert_eq!(restored.census.count("customers"), 43);
    let target = vpnshop_core::db::connect(&fresh.url).await.unwrap();
    assert_eq!(snapshot_of(&target).await, snapshot_of(&shop.db).await);
    assert!(
        vpnshop_core::ledger::audit(&target)
            .await
            .unwrap()
            .is_clean()
    );
    target.close().await.ok();

    // Not over a shop that holds data, unless forced.
    let again = backups::restore(&made.path, &fresh.url, Some(&key), false).await;
    assert!(matches!(again, Err(BackupError::NotEmpty(_))), "{again:?}");
    let forced = backups::restore(&made.path, &fresh.url, Some(&key), true)
        .await
        .unwrap();
    assert!(forced.problems.is_empty());

    // The wrong key, or none, is said plainly.
    let other = backups::parse_key(&backups::new_key()).unwrap();
    let empty = fresh_db().await;
    let wrong = backups::restore(&made.path, &empty.url, Some(&other), false).await;
    assert!(matches!(wrong, Err(BackupError::WrongKey)), "{wrong:?}");
    let none = backups::restore(&made.path, &empty.url, None, false).await;
    assert!(matches!(none, Err(BackupError::NeedKey)), "{none:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn old_backups_are_pruned_and_a_damaged_one_is_refused() {
    let shop = busy_shop().await;
    let dir = tempdir();
    for h in 0..3 {
        let at = t0() + chrono::Duration::hours(h);
        let made = backups::make(&shop.db, &shop.url, &dir, None, at)
            .await
            .unwrap();
        assert!(made.verified(), "{:?}", made.problems);
    }
    let gone = backups::prune(&dir, 2).unwrap();
    assert_eq!(gone.len(), 1);
    assert!(gone[0].contains(&t0().format("%Y%m%d-%H%M%S").to_string()));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".gz"))
        .collect();
    assert_eq!(left.len(), 2);

    let damaged = dir.join("damaged.sqlite.gz");
    std::fs::write(&damaged, b"\x1f\x8bnot really").unwrap();
    let empty = fresh_db().await;
    let r = backups::restore(&damaged, &empty.url, None, false).await;
    assert!(matches!(r, Err(BackupError::NotABackup(_))), "{r:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("vpnshop-backups-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The scheduled backup runs in the live bot at its hour and reaches the owner as a document
/// saying what was verified; the owner restores that very file into a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_receives_the_nightly_backup_and_restores_it() {
    let dir = tempdir();
    let where_to = dir.display().to_string();
    let shop = crate::shop::ShopBuilder::new()
        .with_plan()
        .settings(move |s| {
            s.backups.every_hours = 1;
            s.backups.dir = where_to.clone();
        })
        .open()
        .await;
    let app = &shop.app;
    crate::support::buys(app, 701).await;
    // The owner has talked to the bot before (so it may write to them).
    shop.admin.send("/start");
    shop.admin.next().await;
    // The next hour comes.
    app.clock.jump(chrono::Duration::minutes(61));
    let mut got = None;
    for _ in 0..40 {
        let m = shop.admin.next().await;
        if m.document.is_some() {
            got = Some(m);
            break;
        }
    }
    let m = got.expect("the backup as a document");
    assert!(m.text.contains("✅"), "{}", m.text);
    assert!(m.text.contains("sha256"), "{}", m.text);
    let doc = m.document.unwrap();
    assert_eq!(&doc.bytes[..2], b"\x1f\x8b", "a gzip file");
    let file = dir.join("downloaded.gz");
    std::fs::write(&file, &doc.bytes).unwrap();
    let fresh = fresh_db().await;
    let restored = backups::restore(&file, &fresh.url, None, false)
        .await
        .unwrap();
    assert!(restored.problems.is_empty(), "{:?}", restored.problems);
    assert_eq!(restored.census.count("orders"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// As a new owner would: `vpnshop backup`, then `vpnshop restore <file>` into a fresh database,
/// each one command, each saying what it verified.
#[tokio::test]
async fn backup_and_restore_are_one_command_each() {
    let shop = busy_shop().await;
    let dir = tempdir();
    let bin = env!("CARGO_BIN_EXE_vpnshop-under-test");
    let run = |args: &[&str], url: &str| {
        std::process::Command::new(bin)
            .arg("--config")
            .arg(dir.join("absent.toml"))
            .args(args)
            .env("VPNSHOP__DATABASE__URL", url)
            .env("VPNSHOP__BACKUPS__DIR", &dir)
            .env("VPNSHOP__LOG__LEVEL", "warn")
            .env_remove("VPNSHOP_BACKUP_KEY")
            .output()
            .expect("the binary runs")
    };
    let out = run(&["backup"], &shop.url);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("verified: 43 customers, 20 subscriptions"),
        "{said}"
    );
    let file = said.lines().next().unwrap().trim().to_string();

    // A fresh database: a new SQLite file, or a new PostgreSQL database.
    let fresh_pg;
    let target = if vpnshop_tests::db::use_postgres() {
        fresh_pg = fresh_db().await;
        fresh_pg.url.clone()
    } else {
        format!("sqlite://{}", dir.join("restored.db").display())
    };
    let out = run(&["restore", &file], &target);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("verified: 43 customers"), "{said}");
    let restored = vpnshop_core::db::connect(&target).await.unwrap();
    assert_eq!(snapshot_of(&restored).await, snapshot_of(&shop.db).await);
    restored.close().await.ok();

    // Once more, over the restored shop: refused, with the reason.
    let out = run(&["restore", &file], &target);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
