//! The chaos harness: the real `vpnshop run` (the `vpnshop-under-test` binary, whose `main` is
//! the `vpnshop` command's) against the fake Telegram and a fake Marzban that fails and hangs at
//! random, with a clock that runs fast so retries, reminders and renewals happen in seconds.
//!
//! [`kills`]: customers buy from their wallets (as a second process writing to the same
//! database) while the bot is killed with SIGKILL at random moments and started again; at the
//! end every paid order is fulfilled or refunded, no money is lost or counted twice, no
//! account exists twice, the ledger balances, and no reminder was sent twice.
//!
//! [`two_processes`]: two bots on one database run every job for a while of fast time; each
//! recurring job ran once per slot (the fake panel's list calls equal the usage syncs run), and
//! no reminder or automatic renewal happened twice.
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vpnshop_core::clock::{Clock, FastClock};
use vpnshop_core::customers::{self, Contact, Customer};
use vpnshop_core::entities::{orders as order_rows, subscriptions as sub_rows};
use vpnshop_core::ids::TelegramId;
use vpnshop_core::ledger::{self, Memo, SystemAccount, TxKind};
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::orders::{self, OrderKind, OrderStatus, PointsRules, QuoteRequest};
use vpnshop_core::subscriptions::SubscriptionStatus;

use crate::app::{TOKEN, free_port};
use crate::db::{TestDb, fresh_db};
use crate::panels::marzban::FakeMarzban;
use crate::telegram::FakeTelegram;

/// What one run does.
#[derive(Clone, Debug)]
pub struct Plan {
    pub purchases: usize,
    pub customers: usize,
    pub kills: usize,
    /// Of the panel's calls, this many percent fail and this many hang past the timeout.
    pub fail_percent: u8,
    pub hang_percent: u8,
    /// Clock seconds per real second.
    pub speed: u32,
}

impl Plan {
    /// What CI runs on every database.
    pub fn short() -> Plan {
        Plan {
            purchases: 60,
            customers: 20,
            kills: 12,
            fail_percent: 30,
            hang_percent: 5,
            speed: 30,
        }
    }

    /// The issue's numbers: `cargo run -p vpnshop-tests --bin chaos`.
    pub fn long() -> Plan {
        Plan {
            purchases: 1_000,
            customers: 200,
            kills: 100,
            ..Plan::short()
        }
    }
}

/// What a run saw, and what it checked.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub kills: usize,
    pub paid: usize,
    pub fulfilled: usize,
    pub refunded: usize,
    pub accounts_on_panel: usize,
    pub reminders: usize,
    pub seconds: f64,
    /// Every broken promise, in words; empty when the run passed.
    pub broken: Vec<String>,
}

/// The binary to run: next to this program (a bin) or one directory up (a test in `deps/`).
pub fn shop_binary() -> PathBuf {
    if let Ok(p) = std::env::var("VPNSHOP_UNDER_TEST") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().expect("this program's path");
    let name = format!("vpnshop-under-test{}", std::env::consts::EXE_SUFFIX);
    for dir in me.ancestors().skip(1).take(2) {
        let candidate = dir.join(&name);
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "{name} is not built next to {}: run `cargo build -p vpnshop-tests --bins`",
        me.display()
    );
}

/// One shop under test: its fakes, its database, its config file.
pub struct Stage {
    pub tg: FakeTelegram,
    pub db: TestDb,
    pub panel: FakeMarzban,
    pub clock: FastClock,
    dir: PathBuf,
    plan_id: vpnshop_core::ids::PlanId,
    location: vpnshop_core::ids::LocationId,
}

/// A running `vpnshop run`.
pub struct Bot {
    child: Child,
    pub listen: String,
}

impl Bot {
    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Stage {
    /// A shop selling a `days`-day plan in one location on a fake Marzban.
    pub async fn open(speed: u32, days: i32, extra: &str) -> Stage {
        let tg = FakeTelegram::start(TOKEN).await;
        let db = fresh_db().await;
        let origin = Utc::now();
        let clock = FastClock::new(origin, speed);
        let now = clock.now();
        let location = crate::seed::germany(&db.db, now).await;
        let plan = crate::seed::plan(&db.db, Some(&location), days, 1_000, now).await;
        let (panel, _) = crate::seed::marzban(&db.db, "de-1", now).await;
        let dir = std::env::temp_dir().join(format!("vpnshop-chaos-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!(
            r#"[telegram]
token = "{TOKEN}"
api_url = "{tg}"

[database]
url = "{db}"

[shop]
name = "Chaos VPN"
default_language = "en"

[limits]
chat_updates_per_10s = 100000

[panels]
health_check_seconds = 0

[backups]
every_hours = 0

[run]
clock_speed = {speed}
clock_origin = "{origin}"
shutdown_seconds = 1

[log]
level = "warn"

{extra}
"#,
            tg = tg.url(),
            db = db.url,
            origin = origin.to_rfc3339(),
        );
        std::fs::write(dir.join("vpnshop.toml"), config).unwrap();
        Stage {
            tg,
            db,
            panel,
            clock,
            dir,
            plan_id: plan.id,
            location: location.id,
        }
    }

    /// Starts `vpnshop run` on this shop; its log goes to `bot-<n>.log` in the stage's folder.
    pub fn start(&self, n: usize) -> Bot {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("bot-{n}.log")))
            .unwrap();
        let child = Command::new(shop_binary())
            .arg("--config")
            .arg(self.dir.join("vpnshop.toml"))
            .arg("run")
            .env("VPNSHOP__HTTP__LISTEN", &listen)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vpnshop run");
        Bot { child, listen }
    }

    /// The last lines the bots logged (for a failure's message).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for n in 0..3 {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(format!("bot-{n}.log"))) {
                let lines: Vec<&str> = text.lines().collect();
                for l in &lines[lines.len().saturating_sub(15)..] {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// `n` customers, each with `wallet` toman.
    pub async fn customers(&self, n: usize, wallet: i64) -> Vec<Customer> {
        let mut out = Vec::new();
        for i in 0..n {
            let c = customers::register(
                &self.db.db,
                &Contact {
                    telegram_id: TelegramId::new(8_100_000_000 + i as i64),
                    username: None,
                    first_name: format!("c{i}"),
                },
                None,
                self.clock.now(),
            )
            .await
            .unwrap()
            .customer;
            // They talked to the bot (Telegram delivers only to chats that did).
            self.tg
                .user(8_100_000_000 + i as i64, &format!("c{i}"), Some("en"))
                .send("/start");
            let txn = vpnshop_core::db::begin(&self.db.db).await.unwrap();
            ledger::credit_wallet(
                &txn,
                c.customer_id(),
                Money::new(wallet, Currency::Irt).unwrap(),
                &SystemAccount::Adjustments,
                TxKind::Adjustment,
                Memo::default(),
                self.clock.now(),
            )
            .await
            .unwrap();
            txn.commit().await.unwrap();
            out.push(c);
        }
        out
    }

    /// One purchase from the wallet, as the bot's "pay from wallet" does it (quote, place,
    /// pay in one transaction, provisioning queued). Retried while the database is busy.
    pub async fn buy(&self, c: &Customer) -> bool {
        for _ in 0..50 {
            let now = self.clock.now();
            let req = QuoteRequest {
                customer: c.customer_id(),
                plan: self.plan_id,
                currency: Currency::Irt,
                promo_code: None,
                points: 0,
                location: Some(self.location),
            };
            let attempt = async {
                let quote = orders::quote(&self.db.db, &req, &PointsRules::default(), now).await?;
                let order = orders::place(
                    &self.db.db,
                    c.customer_id(),
                    OrderKind::Purchase,
                    &quote,
                    None,
                    chrono::Duration::minutes(30),
                    now,
                )
                .await?;
                orders::pay_with_wallet(&self.db.db, order.id, c.customer_id(), now).await
            };
            match attempt.await {
                Ok(_) => return true,
                Err(e) => {
                    eprintln!("chaos: a purchase failed, trying again: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        false
    }

    /// Every order now, by status.
    async fn orders(&self) -> Vec<order_rows::Model> {
        order_rows::Entity::find().all(&self.db.db).await.unwrap()
    }

    /// Reminders the bot sent: (chat, text) → how many times.
    fn reminders(&self, marker: &str) -> HashMap<(i64, String), usize> {
        let mut seen = HashMap::new();
        for call in self.tg.calls("sendMessage") {
            let text = call["text"].as_str().unwrap_or("").to_string();
            if text.contains(marker) {
                let chat = call["chat_id"].as_i64().unwrap_or(0);
                *seen.entry((chat, text)).or_insert(0) += 1;
            }
        }
        seen
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn random_ms(range: std::ops::Range<u64>) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(range.start + r % (range.end - range.start).max(1))
}

/// Purchases while the bot is killed and restarted, then the promises checked.
pub async fn kills(plan: &Plan) -> Outcome {
    let started = Instant::now();
    let stage = Stage::open(
        plan.speed,
        30,
        r#"[subscriptions]
sync_minutes = 1
check_minutes = 1
remind_days_left = [60]
not_connected_hours = 0
"#,
    )
    .await;
    let per = plan.purchases.div_ceil(plan.customers.max(1));
    let customers = stage
        .customers(plan.customers, (per as i64 + 1) * 1_000)
        .await;
    stage
        .panel
        .faults
        .random(plan.fail_percent, plan.hang_percent);
    let mut bot = stage.start(0);
    let mut outcome = Outcome::default();

    // Purchases spread over the killing, from this process.
    let killing = Duration::from_millis(1_500) * plan.kills as u32;
    let gap = killing / plan.purchases.max(1) as u32;
    let buying = async {
        let mut paid = 0;
        for n in 0..plan.purchases {
            if stage.buy(&customers[n % customers.len()]).await {
                paid += 1;
            }
            tokio::time::sleep(gap).await;
        }
        paid
    };
    let killing = async {
        for _ in 0..plan.kills {
            tokio::time::sleep(random_ms(300..2_700)).await;
            bot.kill();
            tokio::time::sleep(random_ms(0..300)).await;
            bot = stage.start(0);
        }
    };
    let (paid, ()) = tokio::join!(buying, killing);
    outcome.kills = plan.kills;
    outcome.paid = paid;

    // The last bot finishes the work: every paid order fulfilled or refunded.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let all = stage.orders().await;
        let open = all
            .iter()
            .filter(|o| matches!(o.status, OrderStatus::Paid | OrderStatus::Provisioning))
            .count();
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            outcome.broken.push(format!(
                "{open} paid orders were neither fulfilled nor refunded"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Reminders of the last subscriptions go out within a few checks (a fast minute each).
    tokio::time::sleep(Duration::from_secs(8)).await;
    bot.kill();
    check(&stage, &customers, per, &mut outcome).await;
    outcome.seconds = started.elapsed().as_secs_f64();
    if !outcome.broken.is_empty() {
        eprintln!("chaos: the bots' last lines:\n{}", stage.log_tail());
    }
    outcome
}

async fn check(stage: &Stage, customers: &[Customer], per: usize, outcome: &mut Outcome) {
    let db = &stage.db.db;
    let all = stage.orders().await;
    outcome.fulfilled = all
        .iter()
        .filter(|o| o.status == OrderStatus::Fulfilled)
        .count();
    outcome.refunded = all
        .iter()
        .filter(|o| o.status == OrderStatus::Refunded)
        .count();
    if outcome.fulfilled + outcome.refunded != outcome.paid {
        outcome.broken.push(format!(
            "{} purchases were paid but {} fulfilled + {} refunded",
            outcome.paid, outcome.fulfilled, outcome.refunded
        ));
    }
    // Money: each wallet holds what was put in, less what its fulfilled orders cost.
    for c in customers {
        let spent: i64 = all
            .iter()
            .filter(|o| o.customer_id == c.customer_id() && o.status == OrderStatus::Fulfilled)
            .map(|o| o.total_minor)
            .sum();
        let wallet = ledger::wallet_balance(db, c.customer_id(), Currency::Irt)
            .await
            .unwrap()
            .minor();
        let put_in = (per as i64 + 1) * 1_000;
        if wallet != put_in - spent {
            outcome.broken.push(format!(
                "customer {}: wallet {wallet}, expected {} (put in {put_in}, spent {spent})",
                c.id,
                put_in - spent
            ));
        }
    }
    if !ledger::audit(db).await.unwrap().is_clean() {
        outcome.broken.push("the ledger audit is not clean".into());
    }
    // Accounts: one subscription per fulfilled purchase, each with its account, none twice.
    let subs = sub_rows::Entity::find()
        .filter(sub_rows::Column::Status.eq(SubscriptionStatus::Active))
        .all(db)
        .await
        .unwrap();
    if subs.len() != outcome.fulfilled {
        outcome.broken.push(format!(
            "{} subscriptions are active for {} fulfilled orders",
            subs.len(),
            outcome.fulfilled
        ));
    }
    let mut names: Vec<&str> = subs.iter().map(|s| s.panel_account.as_str()).collect();
    names.sort();
    names.dedup();
    if names.len() != subs.len() {
        outcome
            .broken
            .push("two subscriptions share an account".into());
    }
    for s in &subs {
        if stage.panel.status_of(&s.panel_account).as_deref() != Some("active") {
            outcome.broken.push(format!(
                "subscription {}'s account is {:?} on the panel",
                s.id,
                stage.panel.status_of(&s.panel_account)
            ));
        }
    }
    outcome.accounts_on_panel = stage.panel.user_count();
    if outcome.accounts_on_panel < subs.len() {
        outcome.broken.push(format!(
            "{} accounts on the panel for {} subscriptions",
            outcome.accounts_on_panel,
            subs.len()
        ));
    }
    // Reminders: each subscription's "ends in" message at most once.
    let sent = stage.reminders("ends in");
    outcome.reminders = sent.values().sum();
    for ((chat, text), n) in &sent {
        if *n > 1 {
            outcome
                .broken
                .push(format!("chat {chat} got this {n} times: {text}"));
        }
    }
}

/// What [`two_processes`] saw.
#[derive(Clone, Debug, Default)]
pub struct TwinOutcome {
    pub syncs: u64,
    pub list_calls: u64,
    pub renewals: usize,
    pub reminders: usize,
    pub clock_hours: i64,
    pub broken: Vec<String>,
}

/// Two bots on one database for `seconds` of real time at `speed`: subscriptions of one-day
/// plans, half with auto-renew on, run through reminders, renewals, expiry and syncs.
pub async fn two_processes(speed: u32, seconds: u64, customers: usize) -> TwinOutcome {
    let stage = Stage::open(
        speed,
        1,
        r#"[subscriptions]
sync_minutes = 30
check_minutes = 15
remind_days_left = [1]
auto_renew_hours = 2
disable_after_hours = 6
delete_after_days = 0
not_connected_hours = 0
"#,
    )
    .await;
    // Leases long enough in clock time for heartbeats paced in real time.
    let config = stage.dir.join("vpnshop.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "shutdown_seconds = 1",
            "shutdown_seconds = 1\njob_lease_seconds = 3600",
        ),
    )
    .unwrap();
    let people = stage.customers(customers, 3_000).await;
    for c in &people {
        assert!(stage.buy(c).await, "a purchase");
    }
    let mut a = stage.start(0);
    let mut b = stage.start(1);
    // Half turn auto-renew on once their subscription exists.
    let db = &stage.db.db;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let made = sub_rows::Entity::find()
            .filter(sub_rows::Column::Status.eq(SubscriptionStatus::Active))
            .all(db)
            .await
            .unwrap();
        if made.len() == customers || Instant::now() > deadline {
            for s in made.iter().filter(|s| s.customer_id.get() % 2 == 0) {
                vpnshop_core::subscriptions::auto_renew::set(
                    db,
                    s.id,
                    s.customer_id,
                    true,
                    stage.clock.now(),
                )
                .await
                .unwrap();
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let start: DateTime<Utc> = stage.clock.now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    a.kill();
    b.kill();
    let mut out = TwinOutcome {
        clock_hours: (stage.clock.now() - start).num_hours(),
        ..TwinOutcome::default()
    };
    // Every usage sync that ran listed the panel once (fewer than a page of accounts): as many
    // list calls as runs, whichever process ran each.
    let board = vpnshop_core::job_board::recurring(db).await.unwrap();
    let runs = |kind: &str| {
        vpnshop_core::entities::jobs::Entity::find()
            .filter(vpnshop_core::entities::jobs::Column::Kind.eq(kind))
            .filter(vpnshop_core::entities::jobs::Column::Status.is_in([
                vpnshop_core::jobs::JobStatus::Done,
                vpnshop_core::jobs::JobStatus::Failed,
            ]))
            .all(db)
    };
    out.syncs = runs("usage_sync").await.unwrap().len() as u64;
    let reconciles = runs("reconcile").await.unwrap().len() as u64;
    out.list_calls = stage.panel.faults.count("GET", "/api/users");
    if out.list_calls != out.syncs + reconciles {
        out.broken.push(format!(
            "{} usage syncs and {reconciles} reconciliations ran but the panel was listed {} times",
            out.syncs, out.list_calls
        ));
    }
    if out.syncs < 2 {
        out.broken
            .push(format!("only {} usage syncs ran", out.syncs));
    }
    if !board
        .iter()
        .any(|r| r.kind == "auto_renew" && r.last_run.is_some())
    {
        out.broken.push("auto-renew never ran".into());
    }
    // Renewals: one per subscription and period, paid once each.
    let renewals = order_rows::Entity::find()
        .filter(order_rows::Column::AutoRenewKey.is_not_null())
        .all(db)
        .await
        .unwrap();
    out.renewals = renewals.len();
    let mut keys: Vec<&str> = renewals
        .iter()
        .filter_map(|o| o.auto_renew_key.as_deref())
        .collect();
    keys.sort();
    keys.dedup();
    if keys.len() != renewals.len() {
        out.broken.push("a period was renewed twice".into());
    }
    if !ledger::audit(db).await.unwrap().is_clean() {
        out.broken.push("the ledger audit is not clean".into());
    }
    let sent = stage.reminders("#");
    out.reminders = sent.values().sum();
    for ((chat, text), n) in &sent {
        if *n > 1 {
            out.broken
                .push(format!("chat {chat} got this {n} times: {text}"));
        }
    }
    if !out.broken.is_empty() {
        eprintln!("chaos: the bots' last lines:\n{}", stage.log_tail());
    }
    out
}
