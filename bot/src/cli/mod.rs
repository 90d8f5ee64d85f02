//! The `vpnshop` command line: run the bot (the default), migrate the database, check the
//! config, and manage staff, panels, locations, plans and cards from a shell. One file per
//! subcommand; each opens the configured database and calls the same core services the bot
//! does.
mod backup;
pub mod catalog;
mod catalog_cmd;
mod check;
pub mod jobs;
pub mod panel;
mod reconcile;
mod run;
mod staff;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app::StartError;
use crate::config::{self, Problem, Settings};

#[derive(Parser)]
#[command(
    name = "vpnshop",
    version,
    about = "A Telegram storefront for VPN subscriptions"
)]
pub struct Cli {
    /// The config file. Every key can also be set as VPNSHOP__SECTION__KEY.
    #[arg(long, global = true, default_value = "vpnshop.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve the bot (the default).
    Run,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the config, the database and the bot token, naming whatever is wrong.
    Check,
    /// Manage staff.
    Admin {
        #[command(subcommand)]
        command: staff::StaffCommand,
    },
    /// Manage the locations customers pick from.
    Location {
        #[command(subcommand)]
        command: catalog::LocationCommand,
    },
    /// Manage the plans customers buy: duration, traffic, prices, trial.
    Plan {
        #[command(subcommand)]
        command: catalog::PlanCommand,
    },
    /// Manage the bank cards customers pay to by card-to-card transfer.
    Card {
        #[command(subcommand)]
        command: catalog::CardCommand,
    },
    /// Manage promo codes: percent or amount off, limits, expiry.
    Promo {
        #[command(subcommand)]
        command: catalog::PromoCommand,
    },
    /// Show each background job's last run, next run and last error, and the jobs waiting.
    Jobs,
    /// Compare the shop's subscriptions with the panels' accounts (a dry run), and repair what
    /// you approve.
    Reconcile {
        /// Repair this item (its key, as the dry run prints it); repeatable.
        #[arg(long)]
        apply: Vec<String>,
        /// Repair every item found.
        #[arg(long)]
        apply_all: bool,
    },
    /// Back the database up into `backups.dir`, then prove the backup restores (encrypted when
    /// VPNSHOP_BACKUP_KEY is set).
    Backup {
        /// Print a new random encryption key instead.
        #[arg(long)]
        new_key: bool,
    },
    /// Restore a backup into the configured database, which must be empty.
    Restore {
        file: PathBuf,
        /// Replace whatever the database holds.
        #[arg(long)]
        force: bool,
    },
    /// Manage the VPN panels (Marzban, Hiddify, 3x-UI) accounts are made on.
    Panel {
        #[command(subcommand)]
        command: panel::PanelCommand,
    },
}

/// What `vpnshop` does: parse the command line, load and check the config, then run the
/// subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match config::load(&cli.config) {
        Ok(s) => s,
        Err(problems) => return report(&problems),
    };
    let command = cli.command.unwrap_or(Command::Run);
    // Every command checks the whole configuration first; only those that talk to Telegram
    // need its token.
    let needs_telegram = matches!(command, Command::Run | Command::Check);
    let problems: Vec<Problem> = settings
        .validate()
        .into_iter()
        .filter(|p| needs_telegram || p.key != "telegram.token")
        .collect();
    if !problems.is_empty() {
        return report(&problems);
    }
    init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Run => run::run(settings).await,
            Command::Migrate => run::migrate(settings).await,
            Command::Check => check::check(settings).await,
            Command::Admin { command } => staff::staff(settings, command).await,
            Command::Panel { command } => panel::panel(settings, command).await,
            Command::Jobs => jobs::jobs(settings).await,
            Command::Backup { new_key } => backup::backup(settings, new_key).await,
            Command::Restore { file, force } => backup::restore(settings, file, force).await,
            Command::Reconcile { apply, apply_all } => {
                reconcile::reconcile(settings, apply, apply_all).await
            }
            Command::Location { command } => {
                catalog_cmd::catalog(settings, |db, now, out| {
                    Box::pin(catalog::location(db, command, now, out))
                })
                .await
            }
            Command::Card { command } => {
                catalog_cmd::catalog(settings, |db, now, out| {
                    Box::pin(catalog::card(db, command, now, out))
                })
                .await
            }
            Command::Plan { command } => {
                catalog_cmd::catalog(settings, |db, now, out| {
                    Box::pin(catalog::plan(db, command, now, out))
                })
                .await
            }
            Command::Promo { command } => {
                catalog_cmd::catalog(settings, |db, now, out| {
                    Box::pin(catalog::promo(db, command, now, out))
                })
                .await
            }
        }
    })
}

pub(crate) fn report(problems: &[Problem]) -> ExitCode {
    for p in problems {
        eprintln!("error: config key {p}");
    }
    ExitCode::from(2)
}

pub(crate) fn fail(e: StartError) -> ExitCode {
    match e {
        StartError::Config(problems) => report(&problems),
        other => {
            eprintln!("error: {other}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    // Migration chatter is noise on every start; keep it to warnings unless asked for by name.
    let level = if settings.log.level.contains("sea_orm_migration") {
        settings.log.level.clone()
    } else {
        format!("{},sea_orm_migration=warn", settings.log.level)
    };
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // `init()` also bridges the `log` crate, which teloxide, sqlx and reqwest write to: without
    // it their errors vanish. Colour codes only on a terminal, never in a file or journald.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
