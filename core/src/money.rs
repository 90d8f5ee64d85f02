//! Exact money: integer minor units with an explicit currency. Never a float.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The currencies the shop prices in. `XTR` is Telegram Stars.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

    /// Parses what a person types: `150000`, `150,000`, `9.99`, `۱۵۰۰۰۰` (Persian digits).
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let bad = || MoneyError::Unparsable(text.to_string(), currency.exponent());
        let normalized: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, ',' | '_' | ' ' | '\u{066C}'))
            .map(|c| match c {
                '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
                '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
                '٫' => '.',
                c => c,
            })
            .collect();
        let (whole, frac) = match normalized.split_once('.') {
            Some((w, f)) => (w, f),
            None => (normalized.as_str(), ""),
        };
        let exp = currency.exponent();
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > exp as usize
        {
            return Err(bad());
        }
        let scale = 10i64.pow(exp);
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
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
            .ok_or(MoneyError::Overflow)?;
        Money::new(minor, currency)
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
            Err(MoneyError::Overflow)
        );
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
