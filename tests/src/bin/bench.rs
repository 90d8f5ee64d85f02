//! What one Telegram update costs the bot. The real bot runs as a child process of this one
//! (so its CPU time and memory are its own), talking HTTP to the fake Telegram server here;
//! customers played from here press menu buttons and wait for the bot's answer.
//!
//! ```sh
//! cargo run --release -p vpnshop-tests --bin bench                       # SQLite
//! VPNSHOP_TEST_DB=postgres cargo run --release -p vpnshop-tests --bin bench
//! ```
//!
//! It prints, for menu navigation (a button press that edits the menu message):
//! - updates/s with 200 customers each pressing as soon as the previous answer came (closed
//!   loop, `BENCH_SECONDS`, default 20);
//! - p50/p99 latency, press to answer, at a fixed offered rate (`BENCH_RATE`, default 100/s);
//! - the bot's CPU time per 1,000 updates (utime + stime from `/proc`: stable when the machine
//!   is noisy, unlike wall-clock rates) and SQL statements per update (from its `/metrics`);
//! - its resident memory idle, and after `BENCH_BURST` (default 20,000) new customers each sent
//!   `/start` at once and got their answer.
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use vpnshop_bot::config::Settings;
use vpnshop_tests::app::{TOKEN, free_port};
use vpnshop_tests::db::{fresh_db, use_postgres};
use vpnshop_tests::telegram::{FakeTelegram, FakeUser};

/// The screens a customer walks through, in a circle: help, invite, wallet, guides, menu
/// (callback data as the bot's own buttons carry it). No two in a row are the same, so every
/// press changes the message and gets an answer.
const WALK: [&str; 5] = ["h", "i", "w", "g", "m"];

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("serve-bot") {
        return serve_bot();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

/// The child: the real bot, configured as the tests configure it, until killed.
fn serve_bot() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(std::io::stderr)
        .try_init();
    let var = |k: &str| std::env::var(k).expect("set by the parent");
    let mut s = Settings::default();
    s.telegram.token = Some(SecretString::from(TOKEN));
    s.telegram.api_url = var("BENCH_TG");
    s.database.url = SecretString::from(var("BENCH_DB"));
    s.http.listen = var("BENCH_LISTEN");
    s.shop.name = "Bench VPN".into();
    // Customers here press as fast as the bot answers, faster than any person: the flood
    // guard would drop them, and the bench would measure the guard.
    s.limits.chat_updates_per_10s = 100_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        if let Err(e) = vpnshop_bot::app::serve(s, std::future::pending()).await {
            eprintln!("the bot did not start: {e}");
            std::process::exit(1);
        }
    });
}

/// The bot process, seen from outside.
struct BotProcess {
    child: Child,
    metrics: String,
    http: reqwest::Client,
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A moment of the bot's life: CPU time used, updates handled, statements run.
#[derive(Clone, Copy)]
struct Reading {
    cpu_ms: u64,
    updates: u64,
    statements: u64,
    writes: u64,
}

impl BotProcess {
    fn cpu_ms(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the bot is running");
        // Fields after the command name (which is in parentheses and may hold spaces):
        // state is the 3rd field overall, utime the 14th, stime the 15th, in clock ticks.
        let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        (fields[11] + fields[12]) * 1000 / clock_ticks()
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the bot is running");
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }

    async fn read(&self) -> Reading {
        let page = self
            .http
            .get(&self.metrics)
            .send()
            .await
            .expect("the bot serves /metrics")
            .text()
            .await
            .expect("a metrics page");
        let counter = |name: &str| {
            page.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Reading {
            cpu_ms: self.cpu_ms(),
            updates: counter("vpnshop_updates_total "),
            statements: counter("vpnshop_db_statements_total "),
            writes: counter("vpnshop_db_writes_total "),
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

async fn bench() {
    let seconds: u64 = env_or("BENCH_SECONDS", 20);
    let customers: i64 = env_or("BENCH_CUSTOMERS", 200);
    let rate: f64 = env_or("BENCH_RATE", 100.0);
    let burst: i64 = env_or("BENCH_BURST", 20_000);
    let tg = FakeTelegram::start(TOKEN).await;
    tg.forget_calls();
    let db = fresh_db().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(std::env::current_exe().expect("this program's path"))
        .arg("serve-bot")
        .env("BENCH_TG", tg.url())
        .env("BENCH_DB", &db.url)
        .env("BENCH_LISTEN", &listen)
        .spawn()
        .expect("start the bot");
    let bot = BotProcess {
        child,
        metrics: format!("http://{listen}/metrics"),
        http: reqwest::Client::new(),
    };
    wait_until_serving(&bot).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = bot.rss_mb();
    println!(
        "database: {}",
        if use_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("RSS idle: {idle_rss:.1} MB");

    // Customers arrive: /start, pick English, see the menu.
    let users: Vec<(FakeUser, i64)> = futures::future::join_all(
        (0..customers).map(|i| arrive(tg.user(1_000_000 + i, &format!("C{i}"), Some("en")))),
    )
    .await;

    // Closed loop: every customer presses again as soon as the answer came.
    let before = bot.read().await;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicU64::new(0));
    let walkers: Vec<_> = users
        .into_iter()
        .map(|(user, menu)| {
            let stop = stop.clone();
            let presses = presses.clone();
            tokio::spawn(async move {
                // Every customer is at the menu: the walk starts elsewhere.
                let mut step = 0;
                while !stop.load(Ordering::Relaxed) {
                    user.press_data(menu, WALK[step % WALK.len()]);
                    user.next_quiet().await;
                    presses.fetch_add(1, Ordering::Relaxed);
                    step += 1;
                }
                (user, menu, step)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let done = presses.load(Ordering::Relaxed);
    let walkers: Vec<(FakeUser, i64, usize)> = futures::future::join_all(walkers)
        .await
        .into_iter()
        .map(|w| w.expect("a customer's walk"))
        .collect();
    let after = bot.read().await;
    let updates = after.updates - before.updates;
    println!(
        "closed loop, {customers} customers, {seconds} s: {done} presses answered, {:.0} updates/s",
        done as f64 / elapsed
    );
    println!(
        "  CPU: {:.0} ms per 1,000 updates; SQL statements per update: {:.2}, of which writes: {:.2}",
        (after.cpu_ms - before.cpu_ms) as f64 * 1000.0 / updates.max(1) as f64,
        (after.statements - before.statements) as f64 / updates.max(1) as f64,
        (after.writes - before.writes) as f64 / updates.max(1) as f64
    );

    // Open loop: presses offered at a fixed rate, spread over the customers.
    let gap = Duration::from_secs_f64(customers as f64 / rate);
    let started = tokio::time::Instant::now();
    let until = started + Duration::from_secs(seconds);
    let timers: Vec<_> = walkers
        .into_iter()
        .enumerate()
        .map(|(n, (user, menu, mut step))| {
            tokio::spawn(async move {
                let mut at = started + gap.mul_f64(n as f64 / customers as f64);
                let mut latencies = Vec::new();
                while at < until {
                    tokio::time::sleep_until(at).await;
                    let pressed = Instant::now();
                    user.press_data(menu, WALK[step % WALK.len()]);
                    user.next_quiet().await;
                    latencies.push(pressed.elapsed());
                    step += 1;
                    at += gap;
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = futures::future::join_all(timers)
        .await
        .into_iter()
        .flat_map(|l| l.expect("a customer's walk"))
        .collect();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "open loop at {rate:.0} presses/s: p50 {:.1} ms, p99 {:.1} ms ({} presses)",
        at(0.50).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        latencies.len()
    );

    // A burst of new customers, all at once.
    let before = bot.read().await;
    let answered_before = tg.chats_answered();
    let started = Instant::now();
    for i in 0..burst {
        tg.user(2_000_000 + i, &format!("N{i}"), Some("en"))
            .send("/start");
    }
    while tg.chats_answered() < answered_before + burst as usize {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the burst was not answered within 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let after = bot.read().await;
    let updates = after.updates - before.updates;
    println!(
        "burst of {burst} new customers: all answered in {took:.1} s ({:.0} /s); CPU {:.0} ms per 1,000; {:.2} statements each",
        burst as f64 / took,
        (after.cpu_ms - before.cpu_ms) as f64 * 1000.0 / updates.max(1) as f64,
        (after.statements - before.statements) as f64 / updates.max(1) as f64
    );
    println!("RSS after the burst: {:.1} MB", bot.rss_mb());
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!("RSS 10 s later: {:.1} MB", bot.rss_mb());
}

/// Waits until the bot polls for updates and serves `/metrics`.
async fn wait_until_serving(bot: &BotProcess) {
    for _ in 0..600 {
        if bot.http.get(&bot.metrics).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the bot did not start within a minute");
}

/// A new customer: `/start`, picks English, and is at the menu. Returns them with the id of
/// the menu message their presses edit.
async fn arrive(user: FakeUser) -> (FakeUser, i64) {
    user.send("/start");
    let ask = user.next_quiet().await;
    user.press_data(ask.message_id, "l:en");
    // The picker says which language was chosen; the menu comes as a new message.
    user.next_quiet().await;
    let menu = user.next_quiet().await;
    (user, menu.message_id)
}
