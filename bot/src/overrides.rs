//! This process's reading of the settings admins change from the bot (`core::overrides`): read
//! at most every few seconds, so a change made by another process holds everywhere within
//! seconds, and at once in the process that made it.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vpnshop_core::overrides::{self, Overrides};
use vpnshop_core::sea_orm::DatabaseConnection;

/// How long a process trusts its last reading.
const FRESH: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Cached(Mutex<Option<(Arc<Overrides>, Instant)>>);

impl Cached {
    /// The current overrides; on a database error, the last reading (or none), logged.
    pub async fn get(&self, db: &DatabaseConnection) -> Arc<Overrides> {
        let last = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((o, at)) = &last
            && at.elapsed() < FRESH
        {
            return o.clone();
        }
        match overrides::load(db).await {
            Ok(o) => {
                let o = Arc::new(o);
                *self.0.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((o.clone(), Instant::now()));
                o
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the settings changed from the bot");
                last.map(|(o, _)| o).unwrap_or_default()
            }
        }
    }

    /// After this process changed a setting: read it again on the next use.
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
