//! Starting the bot: validate config, open and migrate the database, reach the Bot API, then
//! serve updates until told to stop.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use teloxide::dispatching::dialogue::ErasedStorage;
use teloxide::dispatching::dialogue::Storage;
use teloxide::prelude::*;
use teloxide::types::BotCommand;
use teloxide::update_listeners::{Polling, webhooks};
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::customers::Language;
use vpnshop_core::db::DbOpenError;
use vpnshop_core::ids::TelegramId;
use vpnshop_core::sea_orm::DatabaseConnection;
use vpnshop_core::staff;

use crate::config::{Problem, Settings, UpdateMode, redacted_url};
use crate::ctx::{Ctx, TgBot};
use crate::handlers::{self, State};
use crate::storage::DbStorage;
use crate::text::tr;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<Problem>),
    #[error("database {url}: {source}")]
    Database { url: String, source: DbOpenError },
    #[error("cannot reach the Telegram Bot API at {api_url}: {reason}")]
    BotApi { api_url: String, reason: String },
    #[error("telegram.token was rejected by the Bot API: check the token from @BotFather")]
    TokenRejected,
}

/// Opens (creating if needed) and migrates the configured database.
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartError> {
    let url = settings.database.url.expose_secret();
    vpnshop_core::db::open(url)
        .await
        .map_err(|source| StartError::Database {
            url: redacted_url(url),
            source,
        })
}

/// A `Bot` pointed at the configured Bot API server, through the configured proxy, sending
/// HTML unless told otherwise.
pub fn build_bot(settings: &Settings) -> Result<TgBot, StartError> {
    let problems = settings.validate();
    if !problems.is_empty() {
        return Err(StartError::Config(problems));
    }
    let token = settings
        .telegram
        .token
        .as_ref()
        .map(|t| t.expose_secret().to_string())
        .unwrap_or_default();
    let mut http = teloxide::net::default_reqwest_settings();
    if let Some(proxy) = &settings.telegram.proxy {
        let proxy = reqwest::Proxy::all(proxy.expose_secret()).map_err(|_| {
            StartError::Config(vec![Problem {
                key: "telegram.proxy".into(),
                message: "is not a usable proxy URL".into(),
            }])
        })?;
        http = http.proxy(proxy);
    }
    let client = http.build().map_err(|e| StartError::BotApi {
        api_url: settings.telegram.api_url.clone(),
        reason: format!("cannot build the HTTP client: {e}"),
    })?;
    let api_url = reqwest::Url::parse(&settings.telegram.api_url).map_err(|_| {
        StartError::Config(vec![Problem {
            key: "telegram.api_url".into(),
            message: "is not a URL".into(),
        }])
    })?;
    Ok(Bot::with_client(token, client)
        .set_api_url(api_url)
        .parse_mode(teloxide::types::ParseMode::Html))
}

/// Asks the Bot API who we are: proves the URL and the token work, and gives the @username
/// that deep links need.
pub async fn whoami(bot: &TgBot, settings: &Settings) -> Result<String, StartError> {
    match tokio::time::timeout(Duration::from_secs(20), bot.get_me()).await {
        Ok(Ok(me)) => Ok(me.username.clone().unwrap_or_default()),
        Ok(Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken))) => {
            Err(StartError::TokenRejected)
        }
        Ok(Err(e)) => Err(StartError::BotApi {
            api_url: settings.telegram.api_url.clone(),
            reason: e.to_string(),
        }),
        Err(_) => Err(StartError::BotApi {
            api_url: settings.telegram.api_url.clone(),
            reason: "no answer in 20 s".into(),
        }),
    }
}

/// The command menu Telegram shows, in each customer's language.
async fn publish_commands(bot: &TgBot, default: Language) {
    let commands = |lang: Language| {
        [
            "start",
            "buy",
            "subscriptions",
            "wallet",
            "support",
            "language",
            "help",
            "cancel",
        ]
        .map(|c| BotCommand::new(c, tr(lang, &format!("commands.{c}"))))
        .to_vec()
    };
    for lang in Language::ALL {
        if let Err(e) = bot
            .set_my_commands(commands(lang))
            .language_code(lang.code())
            .await
        {
            tracing::warn!(error = %e, lang = lang.code(), "cannot publish the command menu");
        }
    }
    if let Err(e) = bot.set_my_commands(commands(default)).await {
        tracing::warn!(error = %e, "cannot publish the default command menu");
    }
}

/// Everything `vpnshop run` does, until `shutdown` resolves.
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = match settings.runtime().ok().and_then(|r| r.clock) {
        Some(fast) => {
            tracing::warn!(
                speed = settings.run.clock_speed,
                "the clock runs fast (run.clock_speed): for trying the schedule, never for selling"
            );
            Arc::new(fast)
        }
        None => Arc::new(SystemClock),
    };
    serve_with_clock(settings, clock, shutdown).await
}

pub async fn serve_with_clock(
    settings: Settings,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    App::build(settings, clock, None)
        .await?
        .run_until_stopped(shutdown)
        .await
}

/// The bot, started and listening, not yet taking updates: what `build` checked and opened.
pub struct App {
    settings: Settings,
    clock: Arc<dyn Clock>,
    bot: TgBot,
    db: vpnshop_core::sea_orm::DatabaseConnection,
    ctx: Arc<Ctx>,
    tcp: tokio::net::TcpListener,
}

impl App {
    /// Checks the config, opens and migrates the database, grants the configured owners, proves
    /// the token, and listens on `http.listen` — or on `listener`, already bound (a test binds
    /// port 0 and knows its address before the bot starts).
    pub async fn build(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listener: Option<std::net::TcpListener>,
    ) -> Result<App, StartError> {
        let bot = build_bot(&settings)?;
        let runtime = settings.runtime().map_err(StartError::Config)?;
        let db = open_database(&settings).await?;
        let owners: Vec<TelegramId> = settings
            .shop
            .admin_ids
            .iter()
            .map(|id| TelegramId::new(*id))
            .collect();
        let gone = staff::sync_config_owners(&db, &owners, clock.now())
            .await
            .map_err(|e| StartError::Database {
                url: redacted_url(settings.database.url.expose_secret()),
                source: DbOpenError::Connect(e),
            })?;
        for id in gone {
            tracing::warn!(telegram_id = %id, "no longer an owner: the id was removed from shop.admin_ids");
        }
        let username = whoami(&bot, &settings).await?;
        publish_commands(&bot, runtime.default_language).await;
        tracing::info!(bot = %username, database = %redacted_url(settings.database.url.expose_secret()), "vpnshop is serving");

        let ctx = Arc::new(Ctx::new(
            db.clone(),
            clock.clone(),
            (settings.shop.name.clone(), username),
            runtime,
        ));
        // Card-to-card and support are offered only while the staff chat takes the bot's posts.
        if let Err(problem) = ctx.staff.recheck(&bot).await {
            tracing::error!(%problem, "card-to-card payments and support are off until the staff chat works");
        }
        // Listen first: gateways and Telegram may post as soon as they know the address.
        let address = settings.http.listen.clone();
        let cannot_listen = |e: std::io::Error| {
            StartError::Config(vec![Problem {
                key: "http.listen".into(),
                message: format!("cannot listen on {address}: {e}"),
            }])
        };
        let tcp = match listener {
            Some(l) => l
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(l))
                .map_err(cannot_listen)?,
            None => tokio::net::TcpListener::bind(&address)
                .await
                .map_err(cannot_listen)?,
        };
        Ok(App {
            settings,
            clock,
            bot,
            db,
            ctx,
            tcp,
        })
    }

    /// Where the HTTP endpoints (and the webhook) listen.
    pub fn http_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.tcp.local_addr()
    }

    /// Takes updates and runs jobs until `shutdown` resolves, then lets the running job finish
    /// and gives every job back.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let App {
            settings,
            clock,
            bot,
            db,
            ctx,
            tcp,
        } = self;
        // Unique per start: in a container every process is pid 1, and a restarted bot must not
        // pass for the one whose leases it is waiting out.
        let worker = format!(
            "vpnshop-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        );
        let lease = chrono::Duration::seconds(settings.run.job_lease_seconds.clamp(3, 3600) as i64);
        let runner = crate::jobs::runner(bot.clone(), ctx.clone(), worker.clone()).lease_for(lease);
        if let Err(e) = runner.schedule_recurring().await {
            tracing::warn!(error = %e, "cannot schedule the recurring jobs");
        }
        let (stop_jobs, jobs_stopped) = tokio::sync::oneshot::channel::<()>();
        // Aborted with this future too: a serve task that is killed leaves no runner behind.
        let mut jobs = AbortOnDrop(tokio::spawn(async move {
            runner
                .run(Duration::from_millis(500), async {
                    let _ = jobs_stopped.await;
                })
                .await;
        }));
        let http = crate::http::router(ctx.clone());
        let db_for_release = db.clone();
        let storage: Arc<ErasedStorage<State>> = DbStorage::new(db, clock).erase();
        let mut dispatcher = Dispatcher::builder(bot.clone(), handlers::schema())
            .dependencies(dependencies(ctx, storage))
            .default_handler(|_| async {})
            .error_handler(Arc::new(LogErrors))
            .distribution_function(queue_of)
            .build();
        let token = dispatcher.shutdown_token();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_jobs.send(());
            if let Ok(done) = token.shutdown() {
                done.await;
            }
        });
        match settings.telegram.mode {
            UpdateMode::Polling => {
                let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
                let _http = AbortOnDrop(tokio::spawn(async move {
                    let stopped = async {
                        let _ = http_stopped.await;
                    };
                    if let Err(e) = axum::serve(tcp, http).with_graceful_shutdown(stopped).await {
                        tracing::error!(error = %e, "the HTTP server stopped");
                    }
                }));
                let listener = Polling::builder(bot)
                    .timeout(Duration::from_secs(10))
                    .build();
                dispatcher
                    .dispatch_with_listener(listener, Arc::new(LogErrors))
                    .await;
                let _ = stop_http.send(());
            }
            UpdateMode::Webhook => {
                let (listener, stopped, router) = webhook(&bot, &settings).await?;
                let router = router.merge(http);
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(tcp, router)
                        .with_graceful_shutdown(stopped)
                        .await
                    {
                        tracing::error!(error = %e, "the webhook server stopped");
                    }
                });
                dispatcher
                    .dispatch_with_listener(listener, Arc::new(LogErrors))
                    .await;
            }
        }
        // Updates have stopped: the job running now may finish, then every lease is given back so
        // the next process starts at once instead of waiting the lease out.
        let grace = Duration::from_secs(settings.run.shutdown_seconds);
        if tokio::time::timeout(grace, &mut jobs.0).await.is_err() {
            jobs.0.abort();
            tracing::warn!(
                seconds = grace.as_secs(),
                "a job was still running at shutdown; it was stopped and will run again"
            );
        }
        match vpnshop_core::jobs::release_all(&db_for_release, &worker, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "jobs given back for the next process"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot give jobs back; their leases will run out")
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How many queues updates are handled in. One chat's updates always go to the same queue, so
/// they are handled in order; different chats' run side by side. teloxide keeps a queue (a task
/// and a channel of about 16 KB) for every key it has seen and frees them only when more are
/// idle than were ever busy at once, so keyed by chat, a burst of 20,000 new customers left
/// 300 MB behind for good; keyed by chat modulo this, it is bounded at about 16 MB.
const QUEUES: i64 = 1024;

/// The queue an update is handled in: its chat's (updates without a chat, such as Stars
/// pre-checkout queries, are handled at once, beside every queue).
fn queue_of(update: &Update) -> Option<i64> {
    update.chat().map(|c| c.id.0.rem_euclid(QUEUES))
}

/// Stops a spawned task when its owner is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Registers the webhook with Telegram and builds its route. Every process sets the same URL
/// and secret, so starting another one (a rolling deploy, a second replica) changes nothing,
/// and none deletes the webhook when it stops: the others keep receiving updates.
async fn webhook(
    bot: &TgBot,
    settings: &Settings,
) -> Result<
    (
        impl teloxide::update_listeners::UpdateListener<Err = std::convert::Infallible>,
        impl Future<Output = ()> + Send + 'static,
        axum::Router,
    ),
    StartError,
> {
    let bad = |key: &str, message: &str| {
        StartError::Config(vec![Problem {
            key: key.into(),
            message: message.into(),
        }])
    };
    let url = settings
        .telegram
        .webhook_url
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .ok_or_else(|| bad("telegram.webhook_url", "is not set or not a URL"))?;
    let address = settings
        .http
        .listen
        .parse()
        .map_err(|_| bad("http.listen", "is not an address like 0.0.0.0:8443"))?;
    let secret = settings
        .telegram
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_string())
        .ok_or_else(|| bad("telegram.webhook_secret", "is required in webhook mode"))?;
    bot.set_webhook(url.clone())
        .secret_token(secret.clone())
        .drop_pending_updates(false)
        .await
        .map_err(|e| StartError::BotApi {
            api_url: settings.telegram.api_url.clone(),
            reason: format!("cannot set the webhook: {e}"),
        })?;
    let options = webhooks::Options::new(address, url).secret_token(secret);
    let (listener, stopped, router) = webhooks::axum_no_setup(options);
    Ok((listener, stopped, router))
}

/// Logs handler and polling errors through `tracing`. teloxide strips the request URL (which
/// holds the token) from its network errors, so what is logged carries no secret.
struct LogErrors;

impl<E: std::fmt::Display + Send + 'static> teloxide::error_handlers::ErrorHandler<E>
    for LogErrors
{
    fn handle_error(self: Arc<Self>, error: E) -> futures::future::BoxFuture<'static, ()> {
        tracing::error!(error = %error, "update failed");
        Box::pin(async {})
    }
}

/// Builds the dispatcher's dependency map the way `serve` does, so a test can prove that every
/// handler finds what it asks for (teloxide checks this only at run time).
pub fn dependencies(
    ctx: Arc<Ctx>,
    storage: Arc<ErasedStorage<State>>,
) -> dptree::di::DependencyMap {
    dptree::deps![ctx, storage]
}
