//! Panel health: on a schedule (the bot's `panels.health_check_seconds`), every enabled panel is
//! asked what it is, with a short timeout. A panel that stops answering is marked unhealthy: new
//! accounts go to another panel of its location, and the location is off sale while none there
//! is healthy. Staff are told once when it goes down and once when it answers again: the mark
//! and its notice are written in one transaction, on the change only.
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::notices::{self, Notice};
use crate::panels::{self, Panel, PanelStoreError};

/// How long a panel may take to say what it is.
const ANSWER_WITHIN: StdDuration = StdDuration::from_secs(15);

/// A panel whose health changed at this check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Down { panel: String, why: String },
    Up { panel: String },
}

/// Checks every enabled panel at once and records what each said; returns the changes.
pub async fn check_all(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<Change>, DbErr> {
    let all = match panels::panels(db).await {
        Ok(all) => all,
        Err(PanelStoreError::Db(e)) => return Err(e),
        Err(e) => return Err(DbErr::Custom(e.to_string())),
    };
    let asked = all.into_iter().filter(|p| p.enabled).map(|p| async move {
        let answer = ask(&p).await;
        (p, answer)
    });
    let mut changes = Vec::new();
    for (p, answer) in futures::future::join_all(asked).await {
        let (error, version) = match answer {
            Ok(version) => (None, Some(version)),
            Err(why) => (Some(why), None),
        };
        let change = match (p.healthy, &error) {
            (true, Some(why)) => Some(Change::Down {
                panel: p.name.clone(),
                why: why.clone(),
            }),
            // A panel never checked before is not "back": it was never reported down.
            (false, None) if p.checked_at.is_some() => Some(Change::Up {
                panel: p.name.clone(),
            }),
            _ => None,
        };
        let txn = crate::db::begin(db).await?;
        panels::record_check(&txn, p.id, error, version, now).await?;
        if let Some(c) = &change {
            let notice = match c {
                Change::Down { .. } => Notice::PanelDown {
                    panel_id: p.id,
                    at: now.timestamp(),
                },
                Change::Up { .. } => Notice::PanelUp {
                    panel_id: p.id,
                    at: now.timestamp(),
                },
            };
            notices::enqueue(&txn, &notice, now).await?;
        }
        txn.commit().await?;
        changes.extend(change);
    }
    Ok(changes)
}

/// The panel's version, or why it did not say.
async fn ask(p: &Panel) -> Result<String, String> {
    let client = marzban_client::connect(p.config.clone()).map_err(|e| e.to_string())?;
    match tokio::time::timeout(ANSWER_WITHIN, client.info()).await {
        Ok(Ok(info)) => Ok(info.version),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", ANSWER_WITHIN.as_secs())),
    }
}
