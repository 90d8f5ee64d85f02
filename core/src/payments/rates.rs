//! Exchange rates the seller sets, for gateways that charge another currency than the shop
//! sells in: an IRT shop takes CryptoBot or NOWPayments invoices in USD at "1 USD = 95,000
//! toman". Never fetched from a third-party site: the seller decides, from `/rate` in the bot,
//! and sees how old each rate is. Kept in `settings`; each change audited.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};

use crate::audit::Entry;
use crate::entities::settings;
use crate::money::{Currency, Money};
use crate::staff::{Access, Permission};

/// What one unit (a dollar, not a cent) of a foreign currency is worth in the shop's currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub foreign: Currency,
    /// One unit of `foreign`, in the shop's currency.
    pub per_unit: Money,
    pub set_at: DateTime<Utc>,
}

impl Rate {
    /// What to charge in the foreign currency for `credit` of the shop's: rounded up to the
    /// foreign minor unit, so the shop never receives less than it credits.
    pub fn charge_for(&self, credit: Money) -> Option<Money> {
        if credit.currency() != self.per_unit.currency() || self.per_unit.minor() <= 0 {
            return None;
        }
        let scale = 10i128.pow(self.foreign.exponent());
        let numerator = i128::from(credit.minor()) * scale;
        let per = i128::from(self.per_unit.minor());
        let minor = (numerator + per - 1) / per;
        Money::new(i64::try_from(minor).ok()?, self.foreign).ok()
    }
}

fn key(foreign: Currency) -> String {
    format!("rate.{}", foreign.code())
}

/// The rate set for `foreign` in the shop's `shop` currency, if any.
pub async fn get(
    db: &impl ConnectionTrait,
    foreign: Currency,
    shop: Currency,
) -> Result<Option<Rate>, DbErr> {
    let Some(row) = settings::Entity::find_by_id(key(foreign)).one(db).await? else {
        return Ok(None);
    };
    Ok(row
        .value
        .parse::<i64>()
        .ok()
        .and_then(|minor| Money::new(minor, shop).ok())
        .filter(|m| m.minor() > 0)
        .map(|per_unit| Rate {
            foreign,
            per_unit,
            set_at: row.updated_at,
        }))
}

#[derive(Debug, thiserror::Error)]
pub enum RateError {
    #[error("your role may not set exchange rates")]
    NotAllowed,
    #[error("a rate is a positive amount of the shop's currency")]
    NotPositive,
    #[error("the shop already sells in {0}")]
    SameCurrency(Currency),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// `by` sets what one unit of `foreign` is worth. Returns the rate before, if any.
pub async fn set(
    db: &DatabaseConnection,
    by: &Access,
    foreign: Currency,
    per_unit: Money,
    now: DateTime<Utc>,
) -> Result<Option<Rate>, RateError> {
    if !by.may(Permission::Cards) {
        return Err(RateError::NotAllowed);
    }
    if per_unit.minor() <= 0 {
        return Err(RateError::NotPositive);
    }
    if foreign == per_unit.currency() {
        return Err(RateError::SameCurrency(foreign));
    }
    let txn = crate::db::begin(db).await?;
    let before = get(&txn, foreign, per_unit.currency()).await?;
    settings::Entity::insert(settings::ActiveModel {
        key: Set(key(foreign)),
        value: Set(per_unit.minor().to_string()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(settings::Column::Key)
            .update_columns([settings::Column::Value, settings::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    Entry::new(Some(by.who), "payment.rate")
        .target(key(foreign))
        .change(
            before.map_or("-".to_string(), |r| r.per_unit.to_string()),
            per_unit.to_string(),
        )
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_unit_toman: i64) -> Rate {
        Rate {
            foreign: Currency::Usd,
            per_unit: Money::new(per_unit_toman, Currency::Irt).unwrap(),
            set_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_charge_is_rounded_up_to_the_cent_so_the_shop_never_gets_less() {
        let irt = |m| Money::new(m, Currency::Irt).unwrap();
        // 150,000 / 95,000 = 1.5789… dollars → 1.58.
        assert_eq!(rate(95_000).charge_for(irt(150_000)).unwrap().minor(), 158);
        // Exactly 2 dollars stays 2.00.
        assert_eq!(rate(100_000).charge_for(irt(200_000)).unwrap().minor(), 200);
        // Another shop currency than the rate's: no charge.
        let rub = Money::new(100, Currency::Rub).unwrap();
        assert_eq!(rate(95_000).charge_for(rub), None);
    }
}
