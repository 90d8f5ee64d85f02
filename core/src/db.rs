//! Opening the database (SQLite file or PostgreSQL) and bringing its schema up to date.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use vpnshop_migrations::{Migrator, MigratorTrait};

#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    #[error("database URL `{0}` must start with sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] DbErr),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[source] DbErr),
    #[error("cannot create the database file {path}: {error}")]
    CreateFile { path: String, error: std::io::Error },
}

/// Opens the database at `url`. A SQLite file is created on first use.
///
/// SQLite gets a single connection: its writers serialize anyway, and one connection means a
/// transaction can never wait on a second connection's lock (the "database is locked" trap).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbOpenError> {
    let mut url = url.trim().to_string();
    let sqlite = url.starts_with("sqlite:");
    if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(DbOpenError::UnsupportedUrl(url));
    }
    if sqlite && !url.contains("mode=") && !url.contains(":memory:") {
        url.push_str(if url.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    if sqlite && let Some(path) = sqlite_path(&url) {
        create_private(&path)?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if sqlite {
        options.max_connections(1).min_connections(1);
        // Set on every connection the pool opens, so a reconnect keeps them. WAL lets readers
        // in other processes (backups, `vpnshop` admin commands) work beside the bot; the busy
        // timeout makes a writer wait for another process's write instead of failing.
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        options.max_connections(16);
    }
    let mut db = Database::connect(options)
        .await
        .map_err(DbOpenError::Connect)?;
    db.set_metric_callback(|info| {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let verb = info.statement.sql.trim_start().get(..6).unwrap_or_default();
        if ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| verb.eq_ignore_ascii_case(w))
        {
            WRITES.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(db)
}

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Of [`statements_run`], those that write (INSERT, UPDATE, DELETE): on SQLite each write
/// transaction is a disk sync, so a press that only reads should make none.
pub fn writes_run() -> u64 {
    WRITES.load(Ordering::Relaxed)
}

/// SQL statements run by every connection this process opened, since it started: the
/// `/metrics` figure that shows what a button press costs the database.
pub fn statements_run() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// The file a `sqlite:` URL names, unless it is in memory.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.into())
}

/// Creates the SQLite file readable by its owner only (it holds panel credentials and the
/// customers' data); SQLite gives its WAL and shared-memory files the same permissions.
fn create_private(path: &std::path::Path) -> Result<(), DbOpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
        .or_else(|e| match e.kind() {
            // Made meanwhile by another process: fine.
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(DbOpenError::CreateFile {
                path: path.display().to_string(),
                error: e,
            }),
        })
}

/// Starts a transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`:
/// a default (deferred) transaction that read first fails at once with "database is locked"
/// when another process (an admin's `vpnshop` command) wrote meanwhile, whatever the busy
/// timeout; an immediate one waits its turn instead.
pub async fn begin(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbOpenError> {
    Migrator::up(db, None).await.map_err(DbOpenError::Migrate)
}

/// Connects and migrates: what `vpnshop run` does first.
pub async fn open(url: &str) -> Result<DatabaseConnection, DbOpenError> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// True when `err` is a UNIQUE violation: the way inserts learn that a row already exists.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
