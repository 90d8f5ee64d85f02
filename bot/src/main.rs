//! The `vpnshop` command: run the bot, migrate the database, check the config, manage staff.
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use tracing_subscriber::EnvFilter;
use vpnshop_bot::app::{self, StartError};
use vpnshop_bot::catalog_admin::{self, LocationCommand, PlanCommand};
use vpnshop_bot::config::{self, Problem, Settings};
use vpnshop_bot::panel_admin::{self, AddPanel};
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::staff::{self, Role};

#[derive(Parser)]
#[command(
    name = "vpnshop",
    version,
    about = "A Telegram storefront for VPN subscriptions"
)]
struct Cli {
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
        command: AdminCommand,
    },
    /// Manage the locations customers pick from.
    Location {
        #[command(subcommand)]
        command: LocationCommand,
    },
    /// Manage the plans customers buy: duration, traffic, prices, trial.
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// Manage the bank cards customers pay to by card-to-card transfer.
    Card {
        #[command(subcommand)]
        command: catalog_admin::CardCommand,
    },
    /// Manage the VPN panels (Marzban, Hiddify, 3x-UI) accounts are made on.
    Panel {
        #[command(subcommand)]
        command: PanelCommand,
    },
}

#[derive(Subcommand)]
enum PanelCommand {
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

#[derive(Subcommand)]
enum AdminCommand {
    /// Give a Telegram user a staff role.
    Add {
        /// The user's numeric Telegram id (ask @userinfobot).
        telegram_id: i64,
        /// owner, admin, finance or support.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Take a user's staff role away.
    Remove { telegram_id: i64 },
    /// List staff and their roles.
    List,
}

fn main() -> ExitCode {
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
            Command::Run => run(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Check => check(settings).await,
            Command::Admin { command } => admin(settings, command).await,
            Command::Panel { command } => panel(settings, command).await,
            Command::Location { command } => {
                catalog(settings, |db, now, out| {
                    Box::pin(catalog_admin::location(db, command, now, out))
                })
                .await
            }
            Command::Card { command } => {
                catalog(settings, |db, now, out| {
                    Box::pin(catalog_admin::card(db, command, now, out))
                })
                .await
            }
            Command::Plan { command } => {
                catalog(settings, |db, now, out| {
                    Box::pin(catalog_admin::plan(db, command, now, out))
                })
                .await
            }
        }
    })
}

fn report(problems: &[Problem]) -> ExitCode {
    for p in problems {
        eprintln!("error: config key {p}");
    }
    ExitCode::from(2)
}

fn fail(e: StartError) -> ExitCode {
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

async fn run(settings: Settings) -> ExitCode {
    // `docker stop` and systemd send SIGTERM; a terminal sends Ctrl-C. Both stop the same way.
    let shutdown = async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("stopping");
    };
    match app::serve(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn migrate(settings: Settings) -> ExitCode {
    match app::open_database(&settings).await {
        Ok(_) => {
            println!("database is up to date");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn check(settings: Settings) -> ExitCode {
    let problems = settings.validate();
    if !problems.is_empty() {
        return report(&problems);
    }
    println!("✓ config is valid");
    let mut ok = true;
    match app::open_database(&settings).await {
        Ok(db) => {
            println!("✓ database.url: reachable and migrated");
            // Part of every panel account name and every gateway idempotency key.
            match vpnshop_core::shop::identity(&db).await {
                Ok(id) => println!(
                    "✓ shop identity: {id} (panel accounts are named {}_<customer>_<subscription>)",
                    id.account_tag(&settings.sales.account_prefix)
                ),
                Err(e) => {
                    ok = false;
                    eprintln!("✗ shop identity: {e}");
                }
            }
        }
        Err(e) => {
            ok = false;
            eprintln!("✗ database.url: {e}");
        }
    }
    match app::build_bot(&settings) {
        Ok(bot) => match app::whoami(&bot, &settings).await {
            Ok(username) => {
                println!("✓ telegram.token: accepted, the bot is @{username}");
                // Receipts and tickets go there: card-to-card and support need it.
                match settings.shop.staff_chat_id {
                    None => println!(
                        "! shop.staff_chat_id: {}",
                        vpnshop_bot::staff_chat::Problem::NotSet
                    ),
                    Some(id) => match vpnshop_bot::staff_chat::verify(&bot, id).await {
                        Ok(()) => println!("✓ shop.staff_chat_id: the bot can post in chat {id}"),
                        Err(problem) => {
                            ok = false;
                            eprintln!("✗ shop.staff_chat_id: {problem}");
                        }
                    },
                }
            }
            Err(StartError::TokenRejected) => {
                ok = false;
                eprintln!(
                    "✗ telegram.token: rejected by the Bot API; copy it again from @BotFather"
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("✗ telegram.api_url: {e}");
            }
        },
        Err(e) => return fail(e),
    }
    // Every configured gateway, with a call that proves its keys, so a wrong one is found
    // here and not by the first customer who pays.
    let methods = vpnshop_bot::payment_methods::PaymentMethods::from_settings(&settings);
    for gateway in methods.all() {
        let name = gateway.provider();
        match gateway.verify().await {
            Ok(()) => println!("✓ payments.{name}: credentials accepted"),
            Err(why) => {
                ok = false;
                eprintln!("✗ payments.{name}: {why}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn admin(settings: Settings, command: AdminCommand) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let now = SystemClock.now();
    let result = match command {
        AdminCommand::Add { telegram_id, role } => {
            let role: Role = match role.parse() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: --role: {e}");
                    return ExitCode::from(2);
                }
            };
            if telegram_id <= 0 {
                eprintln!("error: a Telegram user id is a positive number");
                return ExitCode::from(2);
            }
            staff::grant(&db, TelegramId::new(telegram_id), role, None, now)
                .await
                .map(|()| {
                    println!("{telegram_id} is now {role}");
                })
        }
        AdminCommand::Remove { telegram_id } => staff::revoke(&db, TelegramId::new(telegram_id))
            .await
            .map(|removed| {
                if removed {
                    println!("{telegram_id} is no longer staff");
                } else {
                    println!("{telegram_id} was not staff");
                }
            }),
        AdminCommand::List => staff::list(&db).await.map(|all| {
            for (id, role) in all {
                println!("{id}\t{role}");
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: database: {e}");
            ExitCode::FAILURE
        }
    }
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

type CatalogRun<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), catalog_admin::CatalogAdminError>> + 'a>,
>;

/// Runs a `location`/`plan` command on the configured database; a wrong option is named.
async fn catalog(
    settings: Settings,
    run: impl for<'a> FnOnce(
        &'a vpnshop_core::sea_orm::DatabaseConnection,
        chrono::DateTime<chrono::Utc>,
        &'a mut std::io::Stdout,
    ) -> CatalogRun<'a>,
) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout();
    match run(&db, SystemClock.now(), &mut out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn panel(settings: Settings, command: PanelCommand) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    let now = SystemClock.now();
    let mut out = std::io::stdout();
    let result = match command {
        PanelCommand::Add { panel, no_check } => {
            let panel = match panel_admin::secrets_from_environment(panel, |k| {
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
            panel_admin::add(&db, panel, secret, !no_check, now, &mut out).await
        }
        PanelCommand::List => panel_admin::list(&db, &mut out).await.map(|()| true),
        PanelCommand::Check { name } => panel_admin::check(&db, &name, now, &mut out).await,
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
