//! Backups that are proven to restore.
//!
//! A backup is a consistent snapshot — SQLite's `VACUUM INTO` (a transactionally consistent
//! copy taken while the shop keeps running), or `pg_dump` run inside the very transaction whose
//! snapshot was counted — gzip-compressed, optionally encrypted (XChaCha20-Poly1305, key from
//! the environment, never stored in the database), with a SHA-256 checksum beside it in
//! `sha256sum` format.
//!
//! The file carries a one-line JSON header before the snapshot: the kind, when it was made,
//! the row count of every table and whether the ledger balanced, as read from the snapshot
//! itself. Right after making it, the file is restored into a scratch database and counted
//! again: a backup is "verified" only when the counts are equal and the ledger balances there.
//! `restore` does the same checks against the header.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The environment variable the encryption key is read from (64 hex digits).
pub const KEY_ENV: &str = "VPNSHOP_BACKUP_KEY";
/// What an encrypted file starts with.
const ENCRYPTED: &[u8] = b"VPNSHOP-ENC1";
/// The first line of the decompressed file starts with this.
const HEADER: &str = "VPNSHOP-BACKUP ";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "pg_dump was not found: install the PostgreSQL client tools (Debian: apt install postgresql-client) to back up a PostgreSQL shop"
    )]
    PgDumpMissing,
    #[error("psql was not found: install the PostgreSQL client tools to restore into PostgreSQL")]
    PsqlMissing,
    #[error("{0} failed: {1}")]
    Tool(&'static str, String),
    #[error("{KEY_ENV} must be 64 hexadecimal digits (make one with `vpnshop backup --new-key`)")]
    BadKey,
    #[error("this backup is encrypted: set {KEY_ENV} to its key")]
    NeedKey,
    #[error("the backup cannot be decrypted with this key (wrong key, or the file was changed)")]
    WrongKey,
    #[error("this is not a vpnshop backup, or it is damaged: {0}")]
    NotABackup(String),
    #[error(
        "the database is not empty ({0}); restore only into an empty one, or pass --force to replace it"
    )]
    NotEmpty(String),
    #[error("a {backup} backup cannot be restored into a {target} database")]
    WrongKind { backup: Kind, target: Kind },
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Open(#[from] crate::db::DbOpenError),
}

/// The database a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        })
    }
}

impl Kind {
    pub fn of_url(url: &str) -> Kind {
        if url.starts_with("postgres") {
            Kind::Postgres
        } else {
            Kind::Sqlite
        }
    }
}

/// What a snapshot holds: rows per table, and whether every balance equals its entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    pub rows: BTreeMap<String, u64>,
    pub ledger_balanced: bool,
}

impl Census {
    pub fn count(&self, table: &str) -> u64 {
        self.rows.get(table).copied().unwrap_or(0)
    }

    /// What differs from `other`, as people read it (empty when nothing does).
    pub fn differences(&self, other: &Census) -> Vec<String> {
        let mut out = Vec::new();
        let tables: std::collections::BTreeSet<&String> =
            self.rows.keys().chain(other.rows.keys()).collect();
        for t in tables {
            let (a, b) = (self.count(t), other.count(t));
            if a != b {
                out.push(format!("{t}: {a} in the source, {b} restored"));
            }
        }
        if !other.ledger_balanced {
            out.push("the restored ledger does not balance".into());
        }
        out
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Header {
    kind: Kind,
    made_at: DateTime<Utc>,
    census: Census,
}

/// A backup made and checked.
#[derive(Clone, Debug)]
pub struct Made {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub encrypted: bool,
    /// What the snapshot held.
    pub census: Census,
    /// What failed when it was restored into a scratch database (empty: verified).
    pub problems: Vec<String>,
}

impl Made {
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The key in `VPNSHOP_BACKUP_KEY`, if set.
pub fn key_from_env() -> Result<Option<Key>, BackupError> {
    match std::env::var(KEY_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_key(&v).map(Some),
        _ => Ok(None),
    }
}

pub fn parse_key(text: &str) -> Result<Key, BackupError> {
    let bytes = hex::decode(text.trim()).map_err(|_| BackupError::BadKey)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| BackupError::BadKey)?;
    Ok(Key::from(bytes))
}

/// Writes a file only its owner may read: backups hold customers' data and panel credentials.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// A fresh random key, as hex.
pub fn new_key() -> String {
    hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng))
}

/// Rows per table and the ledger audit, on `db`.
pub async fn census(db: &impl ConnectionTrait) -> Result<Census, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect();
    let mut rows = BTreeMap::new();
    for t in tables {
        let q = format!("SELECT COUNT(*) AS n FROM \"{}\"", t.replace('"', "\"\""));
        let n: i64 = db
            .query_one_raw(Statement::from_string(backend, q))
            .await?
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        rows.insert(t, u64::try_from(n).unwrap_or(0));
    }
    // An empty database (no tables yet) has nothing to balance.
    let ledger_balanced =
        !rows.contains_key("ledger_accounts") || crate::ledger::audit(db).await?.is_clean();
    Ok(Census {
        rows,
        ledger_balanced,
    })
}

fn sqlite_path(url: &str) -> PathBuf {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A PostgreSQL URL without its password, and the password: the tools get the password in
/// their environment, never on the command line (which every local user can read).
fn split_password(url: &str) -> (String, Option<String>) {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let password = u.password().map(|p| {
                url::form_urlencoded::parse(format!("p={p}").as_bytes())
                    .next()
                    .map_or_else(|| p.to_string(), |(_, v)| v.into_owned())
            });
            let _ = u.set_password(None);
            (u.to_string(), password)
        }
        Err(_) => (url.to_string(), None),
    }
}

/// Runs `program` with `args` against the database at `url` (given last, as `--dbname`),
/// feeding it `input`; its standard output.
async fn run_tool(
    program: &'static str,
    args: &[&str],
    url: &str,
    input: Option<Vec<u8>>,
) -> Result<Vec<u8>, BackupError> {
    use tokio::io::AsyncWriteExt;
    let (url, password) = split_password(url);
    let mut cmd = tokio::process::Command::new(program);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    cmd.args(args)
        .arg("--dbname")
        .arg(&url)
        .stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if program == "pg_dump" => BackupError::PgDumpMissing,
        std::io::ErrorKind::NotFound => BackupError::PsqlMissing,
        _ => BackupError::Io(e),
    })?;
    let feeding = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
            drop(stdin);
        })),
        _ => None,
    };
    let out = child.wait_with_output().await?;
    if let Some(f) = feeding {
        let _ = f.await;
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BackupError::Tool(
            program,
            err.lines().take(5).collect::<Vec<_>>().join(" / "),
        ));
    }
    Ok(out.stdout)
}

/// The snapshot and what it holds, consistent with each other.
async fn snapshot(
    db: &DatabaseConnection,
    url: &str,
    scratch: &Path,
) -> Result<(Kind, Vec<u8>, Census), BackupError> {
    match Kind::of_url(url) {
        Kind::Sqlite => {
            let tmp = scratch.join(format!(
                ".snapshot-{}.sqlite",
                uuid::Uuid::new_v4().simple()
            ));
            let target = tmp.display().to_string().replace('\'', "''");
            db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
                .await?;
            let copy = crate::db::connect(&sqlite_url(&tmp)).await?;
            let census = census(&copy).await;
            copy.close().await.ok();
            let bytes = std::fs::read(&tmp);
            let _ = std::fs::remove_file(&tmp);
            Ok((Kind::Sqlite, bytes?, census?))
        }
        Kind::Postgres => {
            // One snapshot for the counts and the dump: pg_dump joins the transaction's.
            let txn = db.begin().await?;
            txn.execute_unprepared("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            let id: String = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_export_snapshot() AS id",
                ))
                .await?
                .and_then(|r| r.try_get::<String>("", "id").ok())
                .ok_or_else(|| BackupError::Tool("pg_export_snapshot", "no snapshot".into()))?;
            let census = census(&txn).await?;
            let dump = run_tool(
                "pg_dump",
                &[
                    "--snapshot",
                    &id,
                    "--no-owner",
                    "--no-privileges",
                    "--format=plain",
                ],
                url,
                None,
            )
            .await;
            txn.commit().await?;
            Ok((Kind::Postgres, dump?, census))
        }
    }
}

fn pack(header: &Header, body: &[u8], key: Option<&Key>) -> Result<Vec<u8>, BackupError> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let line = serde_json::to_string(header).map_err(|e| BackupError::NotABackup(e.to_string()))?;
    gz.write_all(HEADER.as_bytes())?;
    gz.write_all(line.as_bytes())?;
    gz.write_all(b"\n")?;
    gz.write_all(body)?;
    let packed = gz.finish()?;
    let Some(key) = key else {
        return Ok(packed);
    };
    let cipher = XChaCha20Poly1305::new(key);
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(&nonce, packed.as_slice())
        .map_err(|_| BackupError::WrongKey)?;
    let mut out = Vec::with_capacity(ENCRYPTED.len() + nonce.len() + sealed.len());
    out.extend_from_slice(ENCRYPTED);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn unpack(file: &[u8], key: Option<&Key>) -> Result<(Header, Vec<u8>), BackupError> {
    let packed;
    let gz: &[u8] = match file.strip_prefix(ENCRYPTED) {
        Some(rest) => {
            let key = key.ok_or(BackupError::NeedKey)?;
            if rest.len() < 24 {
                return Err(BackupError::NotABackup("too short".into()));
            }
            let (nonce, sealed) = rest.split_at(24);
            let nonce: [u8; 24] = nonce
                .try_into()
                .map_err(|_| BackupError::NotABackup("too short".into()))?;
            packed = XChaCha20Poly1305::new(key)
                .decrypt(&XNonce::from(nonce), sealed)
                .map_err(|_| BackupError::WrongKey)?;
            &packed
        }
        None => file,
    };
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut plain)
        .map_err(|e| BackupError::NotABackup(e.to_string()))?;
    let end = plain
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| BackupError::NotABackup("no header".into()))?;
    let line =
        std::str::from_utf8(&plain[..end]).map_err(|e| BackupError::NotABackup(e.to_string()))?;
    let json = line
        .strip_prefix(HEADER)
        .ok_or_else(|| BackupError::NotABackup("no header".into()))?;
    let header: Header =
        serde_json::from_str(json).map_err(|e| BackupError::NotABackup(e.to_string()))?;
    let body = plain.split_off(end + 1);
    Ok((header, body))
}

/// Writes `body` (a snapshot of `kind`) into the database at `url`, which must be empty (or
/// `force`d). The connection is the caller's to open afterwards.
async fn load(kind: Kind, body: &[u8], url: &str, force: bool) -> Result<(), BackupError> {
    let target = Kind::of_url(url);
    if target != kind {
        return Err(BackupError::WrongKind {
            backup: kind,
            target,
        });
    }
    match kind {
        Kind::Sqlite => {
            let path = sqlite_path(url);
            if path.exists() && !force {
                let db = crate::db::connect(url).await?;
                let found = census(&db).await;
                db.close().await.ok();
                if let Some(what) = holds_something(&found?) {
                    return Err(BackupError::NotEmpty(what));
                }
            }
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("restoring");
            write_private(&tmp, body)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        }
        Kind::Postgres => {
            // psql must be there before anything is touched.
            run_tool("psql", &["-X", "-q", "-c", "SELECT 1"], url, None).await?;
            let db = crate::db::connect(url).await?;
            let found = census(&db).await;
            db.close().await.ok();
            if !force && let Some(what) = holds_something(&found?) {
                return Err(BackupError::NotEmpty(what));
            }
            // Empty tables (a `vpnshop migrate` ran) or forced: the dump makes them again. All
            // in one transaction: if anything fails, the database is as it was.
            let mut script = b"DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n".to_vec();
            script.extend_from_slice(body);
            run_tool(
                "psql",
                &["-v", "ON_ERROR_STOP=1", "-q", "-X", "--single-transaction"],
                url,
                Some(script),
            )
            .await?;
            Ok(())
        }
    }
}

/// What makes a database not empty: a table other than the migrations' own with rows.
fn holds_something(c: &Census) -> Option<String> {
    let busy: Vec<String> = c
        .rows
        .iter()
        .filter(|(t, n)| **n > 0 && t.as_str() != "seaql_migrations")
        .map(|(t, n)| format!("{t}: {n} rows"))
        .take(3)
        .collect();
    (!busy.is_empty()).then(|| busy.join(", "))
}

/// A database next to the shop's, for proving a backup restores; dropped afterwards.
struct Scratch {
    url: String,
    /// The server connection that made it (PostgreSQL), to drop it with.
    admin: Option<DatabaseConnection>,
    name: String,
    path: Option<PathBuf>,
}

impl Scratch {
    async fn new(db: &DatabaseConnection, url: &str, dir: &Path) -> Result<Scratch, BackupError> {
        let name = format!(
            "vpnshop_verify_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        match Kind::of_url(url) {
            Kind::Sqlite => {
                let path = dir.join(format!(".{name}.sqlite"));
                Ok(Scratch {
                    url: sqlite_url(&path),
                    admin: None,
                    name,
                    path: Some(path),
                })
            }
            Kind::Postgres => {
                db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                let mut u = url::Url::parse(url)
                    .map_err(|e| BackupError::Tool("the database URL", e.to_string()))?;
                u.set_path(&format!("/{name}"));
                Ok(Scratch {
                    url: u.to_string(),
                    admin: Some(db.clone()),
                    name,
                    path: None,
                })
            }
        }
    }

    async fn drop_it(self) {
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some(admin) = &self.admin {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            if let Err(e) = admin.execute_unprepared(&sql).await {
                tracing::warn!(error = %e, "cannot drop the scratch database");
            }
        }
    }
}

/// Restores `file` into the scratch database and compares it with its header.
async fn prove(
    file: &[u8],
    key: Option<&Key>,
    scratch: &Scratch,
) -> Result<Vec<String>, BackupError> {
    let (bytes, owned_key) = (file.to_vec(), key.cloned());
    let (header, body) = tokio::task::spawn_blocking(move || unpack(&bytes, owned_key.as_ref()))
        .await
        .map_err(|e| BackupError::Tool("decompression", e.to_string()))??;
    if let Err(e) = load(header.kind, &body, &scratch.url, true).await {
        return Ok(vec![format!("it could not be restored: {e}")]);
    }
    let db = crate::db::connect(&scratch.url).await?;
    let restored = census(&db).await;
    db.close().await.ok();
    match restored {
        Ok(restored) => Ok(header.census.differences(&restored)),
        Err(e) => Ok(vec![format!("the restored copy cannot be read: {e}")]),
    }
}

/// The file name a backup made at `at` gets.
pub fn file_name(kind: Kind, at: DateTime<Utc>, encrypted: bool) -> String {
    let kind = match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "pgsql",
    };
    let enc = if encrypted { ".enc" } else { "" };
    format!("vpnshop-{}.{kind}.gz{enc}", at.format("%Y%m%d-%H%M%S"))
}

/// Makes a backup of `db` (reached at `url`) in `dir`, then proves it restores.
pub async fn make(
    db: &DatabaseConnection,
    url: &str,
    dir: &Path,
    key: Option<&Key>,
    now: DateTime<Utc>,
) -> Result<Made, BackupError> {
    std::fs::create_dir_all(dir)?;
    // The snapshot and the scratch copy are plain copies of the shop: made in a directory only
    // the owner may read, removed afterwards (and any a killed run left, before).
    clear_work_dirs(dir);
    let work = private_dir(&dir.join(format!(".work-{}", uuid::Uuid::new_v4().simple())))?;
    let made = make_in(db, url, dir, &work, key, now).await;
    let _ = std::fs::remove_dir_all(&work);
    made
}

/// Creates `path` readable by its owner only.
fn private_dir(path: &Path) -> std::io::Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)?;
    Ok(path.to_path_buf())
}

/// Removes the work directories of runs that were killed half-way (a day old: one running
/// now keeps its own).
fn clear_work_dirs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let day = std::time::Duration::from_secs(86_400);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old && e.file_name().to_string_lossy().starts_with(".work-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

async fn make_in(
    db: &DatabaseConnection,
    url: &str,
    dir: &Path,
    work: &Path,
    key: Option<&Key>,
    now: DateTime<Utc>,
) -> Result<Made, BackupError> {
    let (kind, body, census) = snapshot(db, url, work).await?;
    let header = Header {
        kind,
        made_at: now,
        census: census.clone(),
    };
    // Compressing and encrypting is CPU work: off the async workers.
    let owned_key = key.cloned();
    let file = tokio::task::spawn_blocking(move || pack(&header, &body, owned_key.as_ref()))
        .await
        .map_err(|e| BackupError::Tool("compression", e.to_string()))??;
    let name = file_name(kind, now, key.is_some());
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.part"));
    write_private(&tmp, &file)?;
    std::fs::rename(&tmp, &path)?;
    let sha256 = hex::encode(Sha256::digest(&file));
    write_private(
        &dir.join(format!("{name}.sha256")),
        format!("{sha256}  {name}\n").as_bytes(),
    )?;
    let mut problems = match Scratch::new(db, url, work).await {
        Ok(scratch) => {
            let proved = prove(&file, key, &scratch).await;
            scratch.drop_it().await;
            match proved {
                Ok(p) => p,
                Err(e) => vec![format!("it could not be restored: {e}")],
            }
        }
        Err(e) => vec![format!("no scratch database to prove it in: {e}")],
    };
    if !census.ledger_balanced {
        problems.push("the shop's own ledger does not balance".into());
    }
    Ok(Made {
        path,
        bytes: file.len() as u64,
        sha256,
        encrypted: key.is_some(),
        census,
        problems,
    })
}

/// Keeps the newest `keep` backups in `dir` (and their checksums); the names of those removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<String>, BackupError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("vpnshop-") && (n.ends_with(".gz") || n.ends_with(".gz.enc")))
        .collect();
    // The timestamp in the name sorts them.
    names.sort();
    let drop = names.len().saturating_sub(keep.max(1));
    let gone: Vec<String> = names.drain(..drop).collect();
    for n in &gone {
        let _ = std::fs::remove_file(dir.join(n));
        let _ = std::fs::remove_file(dir.join(format!("{n}.sha256")));
    }
    Ok(gone)
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    pub kind: Kind,
    pub made_at: DateTime<Utc>,
    pub census: Census,
    /// Where the restored database differs from the backup's header (empty: verified).
    pub problems: Vec<String>,
}

/// Restores `file` into the database at `url` (empty unless `force`), brings its schema up to
/// this version, and checks it against what the backup says it holds.
pub async fn restore(
    file: &Path,
    url: &str,
    key: Option<&Key>,
    force: bool,
) -> Result<Restored, BackupError> {
    let bytes = std::fs::read(file)?;
    let (header, body) = unpack(&bytes, key)?;
    drop(bytes);
    load(header.kind, &body, url, force).await?;
    drop(body);
    let db = crate::db::connect(url).await?;
    let restored = census(&db).await?;
    let problems = header.census.differences(&restored);
    // A backup from an older version gets this version's migrations.
    crate::db::migrate(&db).await?;
    db.close().await.ok();
    Ok(Restored {
        kind: header.kind,
        made_at: header.made_at,
        census: restored,
        problems,
    })
}
