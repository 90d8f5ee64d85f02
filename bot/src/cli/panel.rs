//! `vpnshop panel add|list|check`: the operator's terminal commands for panels. Output is
//! plain lines for a terminal; secrets are read from the environment or stdin, never from
//! the command line (where `ps` and shell history would keep them), and never printed.
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use marzban_client::config::redacted;
use marzban_client::doctor::{self, Verdict};
use marzban_client::{PanelKind, PanelOptions};
use secrecy::SecretString;
use vpnshop_core::catalog;
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::panels::{self, Added, NewPanel, PanelStoreError};
use vpnshop_core::sea_orm::DatabaseConnection;

use super::fail;
use crate::app;
use crate::config::Settings;

/// What `panel add` was given, the secret aside.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct AddPanel {
    /// A short name of your choosing, e.g. `de-1`.
    pub name: String,
    /// marzban, hiddify or 3x-ui.
    #[arg(long)]
    pub kind: String,
    /// Marzban: https://host:port/ — 3x-UI: https://host:port/<web base path>/ — Hiddify's
    /// address holds its secret admin path: give it in VPNSHOP_PANEL_URL instead (a command
    /// line is visible to everyone on the machine).
    #[arg(long, default_value = "")]
    pub url: String,
    /// The panel admin's username (not needed for Hiddify).
    #[arg(long, default_value = "")]
    pub username: String,
    /// The location code customers pick (e.g. `de`); created if new.
    #[arg(long)]
    pub location: String,
    /// http://, https:// or socks5:// proxy to reach this panel through; one with a username
    /// and password goes in VPNSHOP_PANEL_PROXY instead.
    #[arg(long)]
    pub proxy: Option<String>,
    /// 3x-UI: the inbound id new clients are added to.
    #[arg(long)]
    pub inbound_id: Option<i64>,
    /// Where customers' apps fetch subscriptions, when the panel does not give an absolute
    /// link (3x-UI's sub server, Hiddify's client path, Marzban's sub domain).
    #[arg(long)]
    pub sub_url: Option<String>,
    /// Accept a self-signed TLS certificate.
    #[arg(long)]
    pub tls_insecure: bool,
    /// At most this many active accounts on this panel.
    #[arg(long)]
    pub capacity: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum PanelAdminError {
    #[error("no panel address: give --url, or VPNSHOP_PANEL_URL")]
    NoUrl,
    #[error(
        "Hiddify's address holds its secret admin path, and a command line is visible to everyone on this machine: put it in VPNSHOP_PANEL_URL instead of --url"
    )]
    SecretUrlOnCommandLine,
    #[error(
        "proxy credentials on the command line are visible to everyone on this machine: put the proxy in VPNSHOP_PANEL_PROXY instead of --proxy"
    )]
    SecretProxyOnCommandLine,
    #[error("--kind must be marzban, hiddify or 3x-ui; `{0}` is not")]
    BadKind(String),
    #[error("--sub-url must be an http:// or https:// URL")]
    BadSubUrl,
    #[error("{0}")]
    Store(#[from] PanelStoreError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Fills in the address and proxy from the environment (`VPNSHOP_PANEL_URL`,
/// `VPNSHOP_PANEL_PROXY`), and refuses secrets given on the command line, where every user of
/// the machine can read them: Hiddify's admin path, a proxy's password.
pub fn secrets_from_environment(
    mut args: AddPanel,
    env: impl Fn(&str) -> Option<String>,
) -> Result<AddPanel, PanelAdminError> {
    let on_command_line = !args.url.trim().is_empty();
    if !on_command_line {
        args.url = env("VPNSHOP_PANEL_URL").ok_or(PanelAdminError::NoUrl)?;
    } else if PanelKind::parse(&args.kind) == Some(PanelKind::Hiddify) {
        return Err(PanelAdminError::SecretUrlOnCommandLine);
    }
    match &args.proxy {
        Some(p) if p.contains('@') => return Err(PanelAdminError::SecretProxyOnCommandLine),
        Some(_) => {}
        None => args.proxy = env("VPNSHOP_PANEL_PROXY"),
    }
    Ok(args)
}

/// Saves the panel (or changes it), then checks it unless told not to. `Ok(false)` when
/// the check found something to fix.
pub async fn add(
    db: &DatabaseConnection,
    args: AddPanel,
    secret: SecretString,
    run_check: bool,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<bool, PanelAdminError> {
    let kind =
        PanelKind::parse(&args.kind).ok_or_else(|| PanelAdminError::BadKind(args.kind.clone()))?;
    let sub_url = match args
        .sub_url
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) if s.starts_with("http://") || s.starts_with("https://") => Some(s.to_string()),
        Some(_) => return Err(PanelAdminError::BadSubUrl),
    };
    let new = NewPanel {
        name: args.name,
        kind,
        base_url: args.url,
        username: args.username,
        secret,
        proxy: args.proxy,
        options: PanelOptions {
            inbound_id: args.inbound_id,
            sub_base_url: sub_url,
            tls_insecure: args.tls_insecure,
        },
        location: args.location,
        capacity: args.capacity,
    };
    let (panel, added) = panels::add_panel(db, new, now).await?;
    let verb = match added {
        Added::New => "added",
        Added::Updated => "updated",
    };
    writeln!(out, "panel {} {verb}", panel.name)?;
    if run_check {
        check(db, &panel.name, now, out).await
    } else {
        Ok(true)
    }
}

pub async fn list(
    db: &DatabaseConnection,
    out: &mut (dyn Write + Send),
) -> Result<(), PanelAdminError> {
    let all = panels::panels(db).await?;
    if all.is_empty() {
        writeln!(out, "no panels yet: add one with `vpnshop panel add`")?;
        return Ok(());
    }
    let locations = catalog::locations(db, false)
        .await
        .map_err(PanelStoreError::from)?;
    writeln!(out, "NAME\tKIND\tADDRESS\tLOCATION\tSTATE\tLAST CHECK")?;
    for p in all {
        let location = locations
            .iter()
            .find(|l| l.id == p.location_id)
            .map_or("?", |l| l.code.as_str());
        let state = match (p.enabled, p.checked_at, p.healthy) {
            (false, _, _) => "disabled",
            (true, None, _) => "enabled, never checked",
            (true, Some(_), true) => "enabled, healthy",
            (true, Some(_), false) => "enabled, failing",
        };
        let checked = p.checked_at.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        });
        writeln!(
            out,
            "{}\t{}\t{}\t{location}\t{state}\t{checked}",
            p.name,
            p.config.kind.as_str(),
            redacted(&p.config.base_url),
        )?;
        if let Some(error) = p.last_error.filter(|_| !p.healthy) {
            writeln!(out, "\tlast problem: {error}")?;
        }
    }
    Ok(())
}

/// Runs the doctor on one stored panel, prints its lines and remembers the outcome.
pub async fn check(
    db: &DatabaseConnection,
    name: &str,
    now: DateTime<Utc>,
    out: &mut (dyn Write + Send),
) -> Result<bool, PanelAdminError> {
    let panel = panels::panel_by_name(db, name).await?;
    writeln!(
        out,
        "checking {} ({} at {})",
        panel.name,
        panel.config.kind.as_str(),
        redacted(&panel.config.base_url)
    )?;
    let lines = doctor::check(&panel.config).await;
    for line in &lines {
        writeln!(out, "{line}")?;
    }
    let first_failure = lines
        .iter()
        .find(|l| l.verdict == Verdict::Fail)
        .map(|l| l.what.clone());
    // The doctor has just spoken to it: one more question for the version, kept for the
    // panels screen.
    let version = match (
        &first_failure,
        marzban_client::connect(panel.config.clone()),
    ) {
        (None, Ok(client)) => client.info().await.ok().map(|i| i.version),
        _ => None,
    };
    panels::record_check(db, panel.id, first_failure, version, now)
        .await
        .map_err(PanelStoreError::from)?;
    Ok(doctor::healthy(&lines))
}

#[derive(Subcommand)]
pub enum PanelCommand {
    /// Add a panel, or change the one with this name, then check it. The password (Hiddify:
    /// the API key) is read from VPNSHOP_PANEL_SECRET or the first line of stdin, never from
    /// the command line.
    Add {
        #[command(flatten)]
        panel: AddPanel,
        /// Save without checking the panel.
        #[arg(long)]
        no_check: bool,
    },
    /// List panels with their health (never their credentials).
    List,
    /// Check a panel step by step: reachable, TLS, credentials, version, inbounds, and a
    /// test account created, read back and deleted.
    Check { name: String },
}

/// The panel secret, from VPNSHOP_PANEL_SECRET or one line of stdin.
fn read_secret(name: &str) -> Option<SecretString> {
    if let Ok(secret) = std::env::var("VPNSHOP_PANEL_SECRET") {
        return Some(SecretString::from(secret));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password or API key for panel {name} (it will show as you type): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).ok()?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    (!line.is_empty()).then(|| SecretString::from(line))
}

/// Runs a `panel` command on the configured database.
pub async fn panel(settings: Settings, command: PanelCommand) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let now = SystemClock.now();
    let mut out = std::io::stdout();
    let result = match command {
        PanelCommand::Add { panel, no_check } => {
            let panel = match secrets_from_environment(panel, |k| {
                std::env::var(k).ok().filter(|v| !v.is_empty())
            }) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let Some(secret) = read_secret(&panel.name) else {
                eprintln!(
                    "error: no password or API key: set VPNSHOP_PANEL_SECRET or pipe it on stdin"
                );
                return ExitCode::from(2);
            };
            add(&db, panel, secret, !no_check, now, &mut out).await
        }
        PanelCommand::List => list(&db, &mut out).await.map(|()| true),
        PanelCommand::Check { name } => check(&db, &name, now, &mut out).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
