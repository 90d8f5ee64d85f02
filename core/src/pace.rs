//! A sending rate every process on one database shares, and that survives restarts: "at most
//! `limit` in any `window`" (Telegram: 20 posts a minute in one group). Each send reserves its
//! slot first: the reserved times of the last `limit` sends are kept in the `settings` table, and
//! the next slot is no earlier than one window after the `limit`-th most recent. Bursts up to
//! `limit` go at once; nothing ever exceeds the limit, however many processes post or restart.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};

use crate::entities::settings;

/// A limit of `limit` sends in any `window`, stored under `key`.
#[derive(Clone, Debug)]
pub struct Rate {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

/// The slot for one more send, given the reserved times (ms, oldest first) of the latest sends;
/// records it. Pure, so the stored and the in-memory pacers share it.
pub fn next_slot(log: &mut Vec<i64>, now_ms: i64, limit: u32, window_ms: i64) -> i64 {
    let limit = limit.max(1) as usize;
    let mut at = now_ms;
    if log.len() >= limit {
        at = at.max(log[log.len() - limit] + window_ms);
    }
    if let Some(last) = log.last() {
        // Slots are handed out in order.
        at = at.max(*last);
    }
    log.push(at);
    let drop = log.len().saturating_sub(limit);
    log.drain(..drop);
    at
}

/// Reserves the next slot under `rate`: the time the caller may send at (now, or later).
pub async fn reserve(
    db: &DatabaseConnection,
    rate: &Rate,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, DbErr> {
    let txn = crate::db::begin(db).await?;
    // The row exists before it is locked, so two first senders cannot both see none.
    settings::Entity::insert(settings::ActiveModel {
        key: Set(rate.key.clone()),
        value: Set("[]".into()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let mut q = settings::Entity::find_by_id(rate.key.clone());
    if crate::db::is_postgres(&txn) {
        q = q.lock_exclusive();
    }
    let row = q.one(&txn).await?;
    let mut log: Vec<i64> = row
        .and_then(|r| serde_json::from_str::<Vec<i64>>(&r.value).ok())
        .unwrap_or_default()
        .into_iter()
        .map(micros)
        .collect();
    let at = next_slot(
        &mut log,
        now.timestamp_micros(),
        rate.limit,
        window_micros(rate),
    );
    settings::Entity::update_many()
        .col_expr(
            settings::Column::Value,
            serde_json::to_string(&log)
                .unwrap_or_else(|_| "[]".into())
                .into(),
        )
        .col_expr(settings::Column::UpdatedAt, now.into())
        .filter(settings::Column::Key.eq(rate.key.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(DateTime::from_timestamp_micros(at).unwrap_or(now))
}

/// Times are kept in microseconds, so a pace of 29.3 a second keeps its 34,130 µs; a log an
/// earlier version wrote in milliseconds is read as such.
fn micros(t: i64) -> i64 {
    if t < 100_000_000_000_000 {
        t * 1_000
    } else {
        t
    }
}

fn window_micros(rate: &Rate) -> i64 {
    rate.window.num_microseconds().unwrap_or(i64::MAX / 4)
}

/// The log that makes the next send wait until `until` and the ones after it keep the rate's
/// even pace (one every `window / limit`): what to do after "retry after".
pub fn held_log(until_ms: i64, limit: u32, window_ms: i64) -> Vec<i64> {
    let limit = i64::from(limit.max(1));
    let step = window_ms / limit;
    (0..limit)
        .map(|k| until_ms - window_ms + k * step)
        .collect()
}

/// Nothing goes out under `rate` before `until` (the other side said "retry after"); after it,
/// one send every `window / limit` until the window has passed.
pub async fn hold(
    db: &DatabaseConnection,
    rate: &Rate,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let log = held_log(until.timestamp_micros(), rate.limit, window_micros(rate));
    settings::Entity::insert(settings::ActiveModel {
        key: Set(rate.key.clone()),
        value: Set(serde_json::to_string(&log).unwrap_or_else(|_| "[]".into())),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .update_columns([settings::Column::Value, settings::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_slot;

    #[test]
    fn twenty_go_at_once_and_the_twenty_first_waits_a_window() {
        let mut log = Vec::new();
        for _ in 0..20 {
            assert_eq!(next_slot(&mut log, 1_000, 20, 60_000), 1_000);
        }
        assert_eq!(next_slot(&mut log, 2_000, 20, 60_000), 61_000);
        assert_eq!(next_slot(&mut log, 2_000, 20, 60_000), 61_000);
        // However they are asked for, any 21 consecutive slots span at least a window.
        let mut slots = vec![1_000; 20];
        slots.extend([61_000, 61_000]);
        for i in 0..100 {
            slots.push(next_slot(&mut log, 3_000 + i * 700, 20, 60_000));
        }
        assert_eq!(log.len(), 20);
        for w in slots.windows(21) {
            assert!(w[20] - w[0] >= 60_000, "{w:?}");
        }
    }

    #[test]
    fn after_retry_after_the_next_send_waits_then_the_pace_is_even() {
        let mut log = super::held_log(35_000, 20, 60_000);
        assert_eq!(next_slot(&mut log, 0, 20, 60_000), 35_000);
        assert_eq!(next_slot(&mut log, 0, 20, 60_000), 38_000);
    }

    #[test]
    fn a_quiet_window_allows_a_new_burst() {
        let mut log = Vec::new();
        for _ in 0..20 {
            next_slot(&mut log, 0, 20, 60_000);
        }
        assert_eq!(next_slot(&mut log, 120_000, 20, 60_000), 120_000);
    }
}
