//! Opening the database (SQLite file or PostgreSQL) and bringing its schema up to date.
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use vpnshop_migrations::{Migrator, MigratorTrait};

#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    #[error("database URL `{0}` must start with sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] DbErr),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[source] DbErr),
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
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    if sqlite {
        options.max_connections(1).min_connections(1);
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options)
        .await
        .map_err(DbOpenError::Connect)?;
    if sqlite {
        // WAL lets readers in other processes (backups, `vpnshop` admin commands) work beside the bot.
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
        )
        .await
        .map_err(DbOpenError::Connect)?;
    }
    Ok(db)
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
