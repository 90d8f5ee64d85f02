//! Exact money: integer minor units with an explicit currency. Never a float.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The currencies the shop prices in. `XTR` is Telegram Stars. Currency columns are this type
/// (stored as the ISO code); an unknown code in the database is a read error.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    sea_orm::DeriveValueType,
)]
#[serde(try_from = "String", into = "String")]
#[sea_orm(value_type = "String")]
pub enum Currency {
    /// Iranian rial.
    Irr,
    /// Iranian toman (10 rial), what Iranian shops quote in.
    Irt,
    Rub,
    Usd,
    Eur,
    /// Telegram Stars.
    Xtr,
}

impl Currency {
    pub const ALL: [Currency; 6] = [
        Currency::Irr,
        Currency::Irt,
        Currency::Rub,
        Currency::Usd,
        Currency::Eur,
        Currency::Xtr,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::Irr => "IRR",
            Currency::Irt => "IRT",
            Currency::Rub => "RUB",
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Xtr => "XTR",
        }
    }

    /// How many decimal digits the minor unit has (kopeks and cents: 2; rial, toman, stars: 0).
    pub fn exponent(self) -> u32 {
        match self {
            Currency::Rub | Currency::Usd | Currency::Eur => 2,
            Currency::Irr | Currency::Irt | Currency::Xtr => 0,
        }
    }

    /// The largest amount one payment, top-up or price may be: far above any VPN sale, far
    /// below where sums of them could overflow an `i64` of minor units.
    pub fn max_amount(self) -> Money {
        let minor = match self {
            // 100 billion rial, 10 billion toman.
            Currency::Irr => 100_000_000_000,
            Currency::Irt => 10_000_000_000,
            // 10 million roubles; a million dollars or euros (in cents).
            Currency::Rub => 1_000_000_000,
            Currency::Usd | Currency::Eur => 100_000_000,
            // Telegram's own cap on one Stars payment is far lower.
            Currency::Xtr => 1_000_000,
        };
        Money {
            minor,
            currency: self,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown currency `{0}` (known: IRR, IRT, RUB, USD, EUR, XTR)")]
pub struct UnknownCurrency(pub String);

impl FromStr for Currency {
    type Err = UnknownCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCurrency(s.to_string()))
    }
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

/// A non-negative amount in minor units of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("an amount cannot be negative")]
    Negative,
    #[error("`{0}` is not an amount (use digits, with at most {1} decimals)")]
    Unparsable(String, u32),
    #[error("the amount is too large")]
    Overflow,
    /// Above [`Currency::max_amount`].
    #[error("the amount is above the largest one allowed, {max}")]
    TooLarge { max: Money },
    /// Separators that could mean two different amounts (`1.000,50`, `9,9999`): refused, never
    /// guessed.
    #[error(
        "`{0}` could be read two ways: write it without thousands separators, with a point for decimals"
    )]
    Ambiguous(String),
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    pub fn minor(self) -> i64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// Parses what a person types: `150000`, `150,000`, `9.99`, `۱۵۰۰۰۰` (Persian digits), and
    /// for currencies with cents `99,90` (a single comma followed by at most the currency's
    /// minor digits is the decimal separator, as Russian customers write it). Anything that
    /// could be read two ways is refused with [`MoneyError::Ambiguous`], and anything above
    /// the currency's [`Currency::max_amount`] with [`MoneyError::TooLarge`].
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let bad = || MoneyError::Unparsable(text.to_string(), currency.exponent());
        let ambiguous = || MoneyError::Ambiguous(text.trim().to_string());
        let exp = currency.exponent();
        let normalized: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, '_' | ' ' | '\u{00A0}' | '\u{202F}'))
            .map(|c| match c {
                '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
                '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
                '٫' => '.',
                // The Arabic thousands separator.
                '\u{066C}' => ',',
                c => c,
            })
            .collect();
        let commas = normalized.matches(',').count();
        let plain = if commas == 0 {
            normalized
        } else {
            let (before_point, after_point) = match normalized.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (normalized.as_str(), None),
            };
            let groups: Vec<&str> = before_point.split(',').collect();
            let thousands = !groups[0].is_empty()
                && groups[0].len() <= 3
                && groups[1..].iter().all(|g| g.len() == 3);
            let decimal_comma = exp > 0
                && commas == 1
                && after_point.is_none()
                && (1..=exp as usize).contains(&groups[1].len());
            if after_point.is_some_and(|f| f.contains(',')) {
                return Err(ambiguous());
            }
            match (thousands, decimal_comma) {
                (true, false) => normalized.replace(',', ""),
                (false, true) => normalized.replace(',', "."),
                // `1,000` or `12,345` in a currency without cents is thousands only;
                // `1,5` in one without cents, or `1,0000`, means nothing certain.
                _ => return Err(ambiguous()),
            }
        };
        let (whole, frac) = match plain.split_once('.') {
            Some((w, f)) => (w, f),
            None => (plain.as_str(), ""),
        };
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > exp as usize
        {
            return Err(bad());
        }
        let too_large = || MoneyError::TooLarge {
            max: currency.max_amount(),
        };
        let scale = 10i64.pow(exp);
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let mut frac_minor: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        for _ in frac.len()..exp as usize {
            frac_minor *= 10;
        }
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(frac_minor))
            .filter(|&m| m <= currency.max_amount().minor)
            .ok_or_else(too_large)?;
        Money::new(minor, currency)
    }

    /// `self + other`, `None` on another currency or past [`Currency::max_amount`]: every sum of
    /// money the shop makes goes through here, so none can overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        self.minor
            .checked_add(other.minor)
            .filter(|&m| m <= self.currency.max_amount().minor)
            .map(|minor| Money {
                minor,
                currency: self.currency,
            })
    }

    /// The amount as a provider writes it: `100.50`, `150000` (no separators).
    pub fn decimal(self) -> String {
        let exp = self.currency.exponent();
        if exp == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exp);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = exp as usize
        )
    }

    /// Reads an amount a provider reported (`"1.50000000"`, `1.5`, `150000`): exact, extra
    /// trailing zeros allowed, anything finer than the currency's minor unit refused.
    pub fn from_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let text = text.trim();
        let trimmed = match text.split_once('.') {
            Some((w, f)) => {
                let f = f.trim_end_matches('0');
                if f.is_empty() {
                    w.to_string()
                } else {
                    format!("{w}.{f}")
                }
            }
            None => text.to_string(),
        };
        if trimmed.contains([',', ' ']) || trimmed.starts_with('-') {
            return Err(MoneyError::Unparsable(
                text.to_string(),
                currency.exponent(),
            ));
        }
        Money::parse(&trimmed, currency)
    }

    /// The amount as a plain decimal with thousands separators: `150,000` or `9.99`.
    pub fn amount_text(self) -> String {
        let exp = self.currency.exponent();
        let scale = 10i64.pow(exp);
        let whole = self.minor / scale;
        let frac = self.minor % scale;
        let digits = whole.to_string();
        let mut grouped = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        if exp == 0 {
            grouped
        } else {
            format!("{grouped}.{frac:0width$}", width = exp as usize)
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_text(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_amounts_round_trip_exactly() {
        let rub = Money::new(10_050, Currency::Rub).unwrap();
        assert_eq!(rub.decimal(), "100.50");
        assert_eq!(Money::from_decimal("100.50", Currency::Rub).unwrap(), rub);
        assert_eq!(
            Money::from_decimal("100.5000000", Currency::Rub).unwrap(),
            rub
        );
        assert_eq!(
            Money::from_decimal("1.", Currency::Usd).unwrap().minor(),
            100
        );
        assert_eq!(
            Money::new(150_000, Currency::Irr).unwrap().decimal(),
            "150000"
        );
        assert!(Money::from_decimal("100.505", Currency::Rub).is_err());
        assert!(Money::from_decimal("1,000", Currency::Usd).is_err());
        assert!(Money::from_decimal("-1", Currency::Usd).is_err());
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(
            Money::parse("150,000", Currency::Irt).unwrap().minor(),
            150_000
        );
        assert_eq!(
            Money::parse("۱۵۰۰۰۰", Currency::Irt).unwrap().minor(),
            150_000
        );
        assert_eq!(Money::parse("9.9", Currency::Usd).unwrap().minor(), 990);
        assert_eq!(Money::parse("9.99", Currency::Rub).unwrap().minor(), 999);
        assert!(Money::parse("9.999", Currency::Usd).is_err());
        assert!(Money::parse("1.5", Currency::Irt).is_err());
        assert!(Money::parse("-5", Currency::Irt).is_err());
        assert!(Money::parse("abc", Currency::Irt).is_err());
        assert_eq!(
            Money::parse("99999999999999999999", Currency::Irt),
            Err(MoneyError::TooLarge {
                max: Currency::Irt.max_amount()
            })
        );
    }

    #[test]
    fn a_comma_is_a_decimal_separator_only_where_it_cannot_be_anything_else() {
        let rub = |t: &str| Money::parse(t, Currency::Rub).map(Money::minor);
        assert_eq!(rub("99,90"), Ok(9_990));
        assert_eq!(rub("99,9"), Ok(9_990));
        assert_eq!(rub("1,000"), Ok(100_000));
        assert_eq!(rub("1,000.50"), Ok(100_050));
        assert_eq!(rub("1,234,567"), Ok(123_456_700));
        assert_eq!(rub("1 500,50"), Ok(150_050));
        for unsure in ["1.000,50", "9,9999", "1,00,0", "1,000,5"] {
            assert!(
                matches!(rub(unsure), Err(MoneyError::Ambiguous(_))),
                "{unsure}: {:?}",
                rub(unsure)
            );
        }
        let irt = |t: &str| Money::parse(t, Currency::Irt).map(Money::minor);
        assert_eq!(irt("150,000"), Ok(150_000));
        assert_eq!(irt("۱۵۰٬۰۰۰"), Ok(150_000));
        assert!(matches!(irt("1,5"), Err(MoneyError::Ambiguous(_))));
    }

    #[test]
    fn amounts_are_capped_per_currency_and_sums_never_overflow() {
        let max = Currency::Usd.max_amount();
        assert_eq!(Money::parse("1000000", Currency::Usd), Ok(max));
        assert_eq!(
            Money::parse("1000000.01", Currency::Usd),
            Err(MoneyError::TooLarge { max })
        );
        assert_eq!(
            Money::parse("9223372036854775807", Currency::Irr),
            Err(MoneyError::TooLarge {
                max: Currency::Irr.max_amount()
            })
        );
        let one = Money::new(1, Currency::Usd).unwrap();
        assert_eq!(max.checked_add(one), None);
        assert_eq!(
            one.checked_add(one),
            Some(Money::new(2, Currency::Usd).unwrap())
        );
        assert_eq!(one.checked_add(Money::new(1, Currency::Rub).unwrap()), None);
    }

    #[test]
    fn prints_with_separators() {
        assert_eq!(
            Money::new(1_500_000, Currency::Irt).unwrap().amount_text(),
            "1,500,000"
        );
        assert_eq!(
            Money::new(123_456, Currency::Usd).unwrap().amount_text(),
            "1,234.56"
        );
        assert_eq!(
            Money::new(5, Currency::Usd).unwrap().to_string(),
            "0.05 USD"
        );
    }

    #[test]
    fn currency_codes_round_trip() {
        for c in Currency::ALL {
            assert_eq!(c.code().parse::<Currency>().unwrap(), c);
        }
        assert!("BTC".parse::<Currency>().is_err());
    }
}
