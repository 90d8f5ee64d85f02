//! `vpnshop jobs`: each recurring job's last run, next run and last error, and the one-off jobs
//! waiting — what the admin jobs screen shows, for a shell.
use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use vpnshop_core::clock::{Clock, SystemClock};
use vpnshop_core::job_board;
use vpnshop_core::sea_orm::{DatabaseConnection, DbErr};

use super::fail;
use crate::app;
use crate::config::Settings;

pub async fn jobs(settings: Settings) -> ExitCode {
    let db = match app::open_database(&settings).await {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    match write(&db, SystemClock.now(), &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `10m`, `1h`, `45s`.
pub fn cadence(d: Duration) -> String {
    let s = d.num_seconds();
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The board as a table.
pub async fn write(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    out: &mut impl Write,
) -> Result<(), DbErr> {
    let io = |e: std::io::Error| DbErr::Custom(e.to_string());
    let recurring = job_board::recurring(db).await?;
    if recurring.is_empty() {
        writeln!(out, "No job has run yet: start the bot with `vpnshop run`.").map_err(io)?;
    } else {
        writeln!(
            out,
            "{:<16} {:>6}  {:<24} {:<22} LAST ERROR",
            "JOB", "EVERY", "LAST RUN", "NEXT RUN"
        )
        .map_err(io)?;
    }
    for r in &recurring {
        let last = match r.last_run {
            Some((at, true)) => format!("{} ok", when(at)),
            Some((at, false)) => format!("{} FAILED", when(at)),
            None => "never".into(),
        };
        let next = match (r.running, r.next_run) {
            (true, _) => "running now".to_string(),
            (false, Some(at)) if r.overdue(now) => format!("{} OVERDUE", when(at)),
            (false, Some(at)) => when(at),
            (false, None) => "not queued".into(),
        };
        let error = r
            .last_error
            .as_ref()
            .map(|(at, why)| format!("{}: {}", when(*at), why.lines().next().unwrap_or("")))
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<16} {:>6}  {:<24} {:<22} {}",
            r.kind,
            r.every.map(cadence).unwrap_or_else(|| "?".into()),
            last,
            next,
            error
        )
        .map_err(io)?;
    }
    let backlog = job_board::backlog(db, &recurring, now).await?;
    if !backlog.is_empty() {
        writeln!(out).map_err(io)?;
        writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>14}",
            "ONE-OFF JOBS", "WAITING", "DUE", "FAILED (24H)"
        )
        .map_err(io)?;
        for b in backlog {
            writeln!(
                out,
                "{:<28} {:>8} {:>8} {:>14}",
                b.kind, b.waiting, b.due, b.failed_today
            )
            .map_err(io)?;
        }
    }
    Ok(())
}
