//! `spawn_app()`: the real bot (`vpnshop_bot::app::serve`) on a fresh database, talking HTTP to a
//! fresh fake Telegram server, with everything it logs captured.
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use secrecy::SecretString;
use vpnshop_bot::config::Settings;

use crate::db::{TestDb, fresh_db};
use crate::telegram::{FakeTelegram, FakeUser};

/// A token of the right shape; the fake server accepts only this one.
pub const TOKEN: &str = "5000000001:AAH-fake-token-for-tests_0123456789";

pub struct TestApp {
    pub tg: FakeTelegram,
    pub db: TestDb,
    /// The bot's own HTTP server (health, gateway callbacks and return pages).
    pub http: String,
    task: tokio::task::JoinHandle<()>,
    adjust: Adjust,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Everything any test's bot logged, process-wide.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
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
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with the settings adjusted first (webhook mode, another currency, …).
pub async fn spawn_app_with(adjust: impl Fn(&mut Settings) + Send + Sync + 'static) -> TestApp {
    capture_logs();
    let tg = FakeTelegram::start(TOKEN).await;
    let db = fresh_db().await;
    // One port for the app's whole life, so a restart keeps its address.
    let port = free_port();
    let adjust: Adjust = Arc::new(move |s: &mut Settings| {
        s.http.listen = format!("127.0.0.1:{port}");
        s.payments.public_url = Some(format!("http://127.0.0.1:{port}"));
        adjust(s);
    });
    let task = start_bot(&tg, &db, &adjust).await;
    let mut settings = settings_for(&tg, &db);
    adjust(&mut settings);
    TestApp {
        tg,
        db,
        http: format!("http://{}", settings.http.listen),
        task,
        adjust,
    }
}

type Adjust = Arc<dyn Fn(&mut Settings) + Send + Sync>;

async fn start_bot(tg: &FakeTelegram, db: &TestDb, adjust: &Adjust) -> tokio::task::JoinHandle<()> {
    let mut settings = settings_for(tg, db);
    adjust(&mut settings);
    let polls_before = tg.calls("getUpdates").len() + tg.calls("setWebhook").len();
    let task = tokio::spawn(async move {
        if let Err(e) = vpnshop_bot::app::serve(settings, std::future::pending()).await {
            panic!("the bot did not start: {e}");
        }
    });
    // Ready once it polls for updates or has set its webhook.
    for _ in 0..500 {
        if tg.calls("getUpdates").len() + tg.calls("setWebhook").len() > polls_before {
            return task;
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
        self.task.abort();
        let _ = (&mut self.task).await;
        self.task = start_bot(&self.tg, &self.db, &self.adjust).await;
    }

    pub fn user(&self, id: i64, first_name: &str, language_code: Option<&str>) -> FakeUser {
        self.tg.user(id, first_name, language_code)
    }
}
