//! `spawn_app()`: the real bot (`vpnshop_bot::app::serve`) on a fresh database, talking HTTP to a
//! fresh fake Telegram server, with everything it logs captured.
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use secrecy::SecretString;
use vpnshop_bot::config::Settings;
use vpnshop_core::clock::{Clock, SystemClock};

use crate::db::{TestDb, fresh_db};
use crate::telegram::{FakeTelegram, FakeUser};

/// A token of the right shape; the fake server accepts only this one.
pub const TOKEN: &str = "5000000001:AAH-fake-token-for-tests_0123456789";

pub struct TestApp {
    pub tg: FakeTelegram,
    pub db: TestDb,
    /// The bot's own HTTP server (health, gateway callbacks and return pages).
    pub http: String,
    /// The bot's clock: real time, plus however far the test jumped ahead.
    pub clock: Arc<JumpClock>,
    /// The bot "process": a runtime of its own, so killing it stops every task it spawned
    /// (handlers mid-way included), not just the top one.
    process: Option<Process>,
    adjust: Adjust,
}

/// A running bot: its runtime, the signal that stops it gracefully (SIGTERM's stand-in), and
/// the task that ends when it has stopped.
struct Process {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.runtime.shutdown_background();
        }
        if !std::thread::panicking() {
            let leaked = leaked();
            assert!(leaked.is_empty(), "secrets reached the log: {leaked:#?}");
        }
    }
}

/// Wall-clock time plus an offset a test can only move forward: "an hour later" without
/// waiting an hour, while timeouts and polling still run in real time.
#[derive(Debug, Default)]
pub struct JumpClock(Mutex<chrono::Duration>);

impl JumpClock {
    pub fn jump(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for JumpClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        SystemClock.now() + *self.0.lock().unwrap()
    }
}

/// Everything any test's bot logged, process-wide.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Marks `secret` (a token, key, password or signature a fake or a test handed out) as
/// something no log line may ever contain, for the rest of the suite. Every line logged is
/// checked as it is written; a line with a secret fails the next `TestApp` to end (invariant 7:
/// no secret in any log line during the whole suite). Strings under 8 characters are too
/// common to tell anything and are ignored.
pub fn never_log(secret: &str) {
    if secret.chars().count() >= 8 {
        SECRETS
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .insert(secret.to_string());
    }
}

/// Log lines that contained a secret, so far in this suite.
pub fn leaked() -> Vec<String> {
    LEAKS.get_or_init(Default::default).lock().unwrap().clone()
}

static SECRETS: OnceLock<Mutex<std::collections::BTreeSet<String>>> = OnceLock::new();
static LEAKS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        for secret in SECRETS.get_or_init(Default::default).lock().unwrap().iter() {
            if line.contains(secret.as_str()) {
                LEAKS
                    .get_or_init(Default::default)
                    .lock()
                    .unwrap()
                    .push(line.trim_end().to_string());
            }
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    never_log(TOKEN);
    let buffer = LOGS.get_or_init(Default::default).clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || Capture(buffer.clone()))
        .try_init();
}

/// A port nobody listens on right now, for the bot's HTTP server.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn settings_for(tg: &FakeTelegram, db: &TestDb) -> Settings {
    let mut s = Settings::default();
    s.http.listen = format!("127.0.0.1:{}", free_port());
    s.telegram.token = Some(SecretString::from(TOKEN));
    s.telegram.api_url = tg.url();
    s.database.url = SecretString::from(db.url.clone());
    s.shop.name = "Test <VPN> & Co".into();
    // Off unless a story is about it: a check asking a fake panel on the minute would take a
    // failure another story injected for its own call.
    s.panels.health_check_seconds = 0;
    // Likewise the subscription jobs (usage sync, reminders, automatic renewal, expiry): a
    // story that jumps the clock by days would otherwise see accounts expire under it.
    s.subscriptions.sync_minutes = 0;
    s.subscriptions.check_minutes = 0;
    // And the scheduled backup, which would run at midnight of a jumped clock.
    s.backups.every_hours = 0;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with the settings adjusted first (webhook mode, another currency, …).
pub async fn spawn_app_with(adjust: impl Fn(&mut Settings) + Send + Sync + 'static) -> TestApp {
    spawn_app_after(|_| {}, adjust).await
}

/// `spawn_app_with` on a Telegram that already has a past (`before` adds it): a bot that sold
/// before it was moved to vpnshop.
pub async fn spawn_app_after(
    before: impl FnOnce(&FakeTelegram),
    adjust: impl Fn(&mut Settings) + Send + Sync + 'static,
) -> TestApp {
    capture_logs();
    let tg = FakeTelegram::start(TOKEN).await;
    before(&tg);
    let db = fresh_db().await;
    // Port 0: the system picks a free one, and it is the app's for its whole life (a restart
    // listens there again, so gateways and tests keep its address).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the bot");
    let port = listener.local_addr().expect("its address").port();
    let adjust: Adjust = Arc::new(move |s: &mut Settings| {
        s.http.listen = format!("127.0.0.1:{port}");
        s.payments.public_url = Some(format!("http://127.0.0.1:{port}"));
        adjust(s);
    });
    let clock = Arc::new(JumpClock::default());
    let mut settings = settings_for(&tg, &db);
    adjust(&mut settings);
    // The shop's staff group exists, with the bot in it, before the bot starts (a test may
    // take the bot out of it with `remove_bot_from`).
    if let Some(staff) = settings.shop.staff_chat_id {
        tg.group(staff, "Shop staff");
    }
    // A test that names its own address (a webhook URL) gets that one.
    let listener = if settings.http.listen == format!("127.0.0.1:{port}") {
        listener
    } else {
        std::net::TcpListener::bind(&settings.http.listen).expect("the test's own address")
    };
    let process = start_bot(&tg, &db, &adjust, &clock, listener).await;
    TestApp {
        tg,
        db,
        http: format!("http://{}", settings.http.listen),
        clock,
        process: Some(process),
        adjust,
    }
}

type Adjust = Arc<dyn Fn(&mut Settings) + Send + Sync>;

async fn start_bot(
    tg: &FakeTelegram,
    db: &TestDb,
    adjust: &Adjust,
    clock: &Arc<JumpClock>,
    listener: std::net::TcpListener,
) -> Process {
    let mut settings = settings_for(tg, db);
    adjust(&mut settings);
    let polls_before = tg.calls("getUpdates").len() + tg.calls("setWebhook").len();
    let clock: Arc<dyn Clock> = clock.clone();
    let process = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the bot");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = process.spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let app = vpnshop_bot::app::App::build(settings, clock, Some(listener)).await;
        let app = app.unwrap_or_else(|e| panic!("the bot did not start: {e}"));
        if let Err(e) = app.run_until_stopped(shutdown).await {
            panic!("the bot stopped with an error: {e}");
        }
    });
    // Ready once it polls for updates or has set its webhook.
    for _ in 0..500 {
        if tg.calls("getUpdates").len() + tg.calls("setWebhook").len() > polls_before {
            return Process {
                runtime: process,
                stop,
                served: task,
            };
        }
        assert!(!task.is_finished(), "the bot stopped while starting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the bot never polled for updates");
}

impl TestApp {
    /// Kills the bot process (no graceful shutdown) and starts a new one on the same database
    /// and Telegram server, as a crash and a restart would.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.start().await;
    }

    /// Kills the bot process (no graceful shutdown): whatever it was doing stops mid-way, its
    /// HTTP server stops answering. The database and the fakes stay.
    pub async fn kill(&mut self) {
        if let Some(process) = self.process.take() {
            process.runtime.shutdown_background();
        }
        // Its listening socket closes as its tasks are dropped; wait until it has.
        let addr = self.http.trim_start_matches("http://").to_string();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(&addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the killed bot still listens on {addr}");
    }

    /// Stops the bot as SIGTERM does (`docker stop`): no more updates, the running job may
    /// finish, its jobs are given back. Waits (generously) until it has stopped.
    pub async fn stop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        let _ = process.stop.send(());
        let stopped = tokio::time::timeout(Duration::from_secs(120), process.served).await;
        process.runtime.shutdown_background();
        assert!(
            matches!(stopped, Ok(Ok(()))),
            "the bot did not stop gracefully"
        );
    }

    /// Starts the bot again after `kill` or `stop`.
    pub async fn start(&mut self) {
        assert!(self.process.is_none(), "the bot is already running");
        // Its old address: free again once the previous process stopped listening.
        let addr = self.http.trim_start_matches("http://").to_string();
        let mut listener = std::net::TcpListener::bind(&addr);
        for _ in 0..250 {
            if listener.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            listener = std::net::TcpListener::bind(&addr);
        }
        let listener = listener.unwrap_or_else(|e| panic!("cannot listen on {addr} again: {e}"));
        self.process =
            Some(start_bot(&self.tg, &self.db, &self.adjust, &self.clock, listener).await);
    }

    pub fn user(&self, id: i64, first_name: &str, language_code: Option<&str>) -> FakeUser {
        self.tg.user(id, first_name, language_code)
    }
}
