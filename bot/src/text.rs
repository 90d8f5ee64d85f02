//! Rendering for Telegram: localized texts, amounts, dates, and escaping of whatever a user typed
//! (the bot speaks HTML parse mode).
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rust_i18n::t;
use vpnshop_core::customers::Language;
use vpnshop_core::money::{Currency, Money};

/// The text for `key` in `lang`.
pub fn tr(lang: Language, key: &str) -> String {
    t!(key, locale = lang.code()).into_owned()
}

/// The text for `key` in `lang` with `%{name}` placeholders filled. Values are inserted as
/// given: escape user-supplied ones with [`escape`] first.
pub fn tr_with(lang: Language, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = tr(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("%{{{name}}}"), value);
    }
    s
}

/// Escapes user-supplied text for HTML parse mode: `<b>&` shows as typed.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '&', '"']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;"),
    )
}

/// `150,000 تومان`, `9.99 ₽`.
pub fn money(lang: Language, m: Money) -> String {
    let unit = tr(lang, &format!("currency.{}", m.currency().code()));
    match unit.as_str() {
        "$" | "€" => format!("{unit}{}", m.amount_text()),
        _ => format!("{} {unit}", m.amount_text()),
    }
}

/// A signed amount for history lines: `+50,000 toman`, `−150,000 toman`.
pub fn signed_money(lang: Language, minor: i64, currency: vpnshop_core::money::Currency) -> String {
    let abs = Money::new(minor.abs(), currency).unwrap_or_else(|_| Money::zero(currency));
    let sign = if minor < 0 { "−" } else { "+" };
    format!("{sign}{}", money(lang, abs))
}

pub fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// `50 GB`, `1.5 GB`, `700 MB`; `None` is "unlimited" in the reader's language.
pub fn traffic(lang: Language, bytes: Option<i64>) -> String {
    let Some(b) = bytes else {
        return tr(lang, "units.unlimited");
    };
    const GB: i64 = 1 << 30;
    const MB: i64 = 1 << 20;
    if b >= GB {
        // One decimal, from integers: 1.5 GB, never a float.
        let tenths = (b * 10 + GB / 2) / GB;
        if tenths % 10 == 0 {
            format!("{} {}", tenths / 10, tr(lang, "units.gb"))
        } else {
            format!("{}.{} {}", tenths / 10, tenths % 10, tr(lang, "units.gb"))
        }
    } else {
        format!("{} {}", (b + MB / 2) / MB, tr(lang, "units.mb"))
    }
}

/// A ten-cell text bar of used traffic: `▰▰▰▱▱▱▱▱▱▱ 30%`.
pub fn usage_bar(used: i64, limit: Option<i64>) -> String {
    let Some(limit) = limit.filter(|l| *l > 0) else {
        return "▰▰▰▰▰▰▰▰▰▰ ∞".to_string();
    };
    let percent = (used.max(0) as i128 * 100 / limit as i128).min(100) as usize;
    let full = (percent + 5) / 10;
    format!("{}{} {percent}%", "▰".repeat(full), "▱".repeat(10 - full))
}

/// An amount as a row stores it (minor units and a currency code), read back as `Money`; an
/// unknown code falls back to the shop's currency.
pub fn money_of(minor: i64, currency: &str, fallback: Currency) -> Money {
    let currency = currency.parse().unwrap_or(fallback);
    Money::new(minor, currency).unwrap_or(Money::zero(currency))
}

/// `n` of something in the language's plural form: "1 day", "3 days"; "1 день", "3 дня",
/// "5 дней"; "۳ روز" (Persian has one form after numbers). `what` names a `count.<what>`
/// section with `one`, `few`, `many` and `other` forms.
pub fn count(lang: Language, n: i64, what: &str) -> String {
    tr_with(
        lang,
        &format!("count.{what}.{}", plural_form(lang, n)),
        &[("n", &n.to_string())],
    )
}

/// The CLDR plural category of a whole number.
fn plural_form(lang: Language, n: i64) -> &'static str {
    let n = n.unsigned_abs();
    match lang {
        Language::En if n == 1 => "one",
        Language::En | Language::Fa => "other",
        Language::Ru => match (n % 10, n % 100) {
            (1, m) if m != 11 => "one",
            (2..=4, m) if !(12..=14).contains(&m) => "few",
            _ => "many",
        },
    }
}

/// How long something took or has waited, in the unit people would say: minutes under two
/// hours, hours under two days, then days.
pub fn elapsed(lang: Language, d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        m if m < 120 => count(lang, m, "minutes"),
        m if m < 48 * 60 => count(lang, m / 60, "hours"),
        m => count(lang, m / (24 * 60), "days"),
    }
}

/// Whole days left until `at` (0 when past).
pub fn days_left(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    ((at - now).num_hours().max(0) + 23) / 24
}

/// How many characters Telegram counts in an HTML text: tags do not count, an entity
/// (`&amp;`) counts as one.
pub fn visible_len(html: &str) -> usize {
    let (mut n, mut in_tag, mut in_entity) = (0, false, false);
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '&' => {
                in_entity = true;
                n += 1;
            }
            ';' if in_entity => in_entity = false,
            _ if in_entity => {}
            _ => n += 1,
        }
    }
    n
}

/// Text cut to `max` characters (with an ellipsis), for previews of what users wrote.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// At most `max` characters of HTML `text`, dropping whole lines from the end (each line of
/// the bot's texts closes its own tags), so a tag or an entity is never cut in half.
pub fn fit_lines(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 2 > max {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push('…');
    out
}

/// Persian and Arabic-Indic digits as ASCII ones: customers and staff type either.
pub fn latin_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
            '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
            c => c,
        })
        .collect()
}

/// A whole number as typed, in any of those digits.
pub fn parse_number(s: &str) -> Option<i64> {
    latin_digits(s.trim()).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `locales/en.yml`, flattened (`menu.welcome`): the locale files are the one
    /// list of keys. They are plain nested maps of quoted strings, two spaces per level.
    fn locale_keys() -> Vec<String> {
        keys_of("en")
    }

    fn keys_of(locale: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../locales/{locale}.yml"));
        let yaml = std::fs::read_to_string(path).unwrap();
        let mut parents: Vec<String> = Vec::new();
        let mut keys = Vec::new();
        for line in yaml
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            let depth = (line.len() - line.trim_start().len()) / 2;
            let (name, value) = line.trim().split_once(':').unwrap();
            parents.truncate(depth);
            if value.trim().is_empty() {
                parents.push(name.to_string());
            } else {
                keys.push([parents.join("."), name.to_string()].join("."));
            }
        }
        assert!(
            keys.len() > 200,
            "only {} keys read: the reader is broken",
            keys.len()
        );
        keys
    }

    #[test]
    fn user_text_is_escaped() {
        assert_eq!(escape("<b>&"), "&lt;b&gt;&amp;");
        assert_eq!(escape("Sara"), "Sara");
    }

    /// Every literal key the code passes to `tr`/`tr_with` is one the locales have (a missing
    /// key would render as itself, silently).
    #[test]
    fn every_key_the_code_uses_is_known() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let known = locale_keys();
        let mut files = vec![
            src.join("keyboards.rs"),
            src.join("app.rs"),
            src.join("http.rs"),
        ];
        let mut dirs = vec![src.join("handlers"), src.join("jobs")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        let mut checked = 0;
        for file in files {
            let code = std::fs::read_to_string(&file).unwrap();
            for (i, _) in code
                .match_indices("tr(")
                .chain(code.match_indices("tr_with("))
            {
                let before = code[..i].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let rest = &code[i..];
                let Some(open) = rest.find('"') else { continue };
                // Only `tr(lang, "key"` shapes: identifiers, a comma and spaces before the quote.
                if !rest[..open]
                    .chars()
                    .all(|c| c.is_alphanumeric() || "_(, .&".contains(c))
                    || rest[..open].contains('.')
                {
                    continue;
                }
                let key = &rest[open + 1..];
                let key = &key[..key.find('"').unwrap()];
                assert!(
                    known.iter().any(|k| k == key),
                    "{} uses unknown key {key}",
                    file.display()
                );
                checked += 1;
            }
        }
        // The refusal table names its keys as plain literals: every "section.key" there.
        let table = std::fs::read_to_string(src.join("refusals.rs")).unwrap();
        let mut in_table = 0;
        for literal in table.split('"').skip(1).step_by(2) {
            let looks_like_key = literal.contains('.')
                && literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
            if looks_like_key {
                assert!(
                    known.iter().any(|k| k == literal),
                    "refusals.rs uses unknown key {literal}"
                );
                in_table += 1;
            }
        }
        assert!(in_table > 20, "only {in_table} refusal keys found");
        assert!(
            checked > 100,
            "only {checked} keys found: the scan is broken"
        );
    }

    #[test]
    fn visible_length_skips_tags_and_counts_entities_once() {
        assert_eq!(visible_len("<b>Sara &amp; Ali</b>"), 10);
        assert_eq!(visible_len("plain"), 5);
    }

    #[test]
    fn counts_take_the_languages_plural_forms() {
        let c = |lang, n| count(lang, n, "days");
        assert_eq!(c(Language::En, 1), "1 day");
        assert_eq!(c(Language::En, 3), "3 days");
        assert_eq!(c(Language::En, 0), "0 days");
        assert_eq!(c(Language::Ru, 1), "1 день");
        assert_eq!(c(Language::Ru, 21), "21 день");
        assert_eq!(c(Language::Ru, 3), "3 дня");
        assert_eq!(c(Language::Ru, 24), "24 дня");
        assert_eq!(c(Language::Ru, 5), "5 дней");
        assert_eq!(c(Language::Ru, 11), "11 дней");
        assert_eq!(c(Language::Ru, 12), "12 дней");
        assert_eq!(c(Language::Fa, 1), "1 روز");
        assert_eq!(count(Language::Ru, 2, "points"), "2 балла");
        assert_eq!(count(Language::En, 1, "minutes"), "1 minute");
    }

    #[test]
    fn every_key_exists_in_every_locale() {
        let locales: Vec<String> = rust_i18n::available_locales!()
            .iter()
            .map(|l| l.to_string())
            .collect();
        for lang in Language::ALL {
            assert!(
                locales.iter().any(|l| l == lang.code()),
                "no locale file for {}",
                lang.code()
            );
        }
        let mut en = locale_keys();
        en.sort();
        for lang in Language::ALL {
            let mut theirs = keys_of(lang.code());
            theirs.sort();
            assert_eq!(en, theirs, "{}.yml has other keys than en.yml", lang.code());
        }
        for key in locale_keys() {
            let key = key.as_str();
            for lang in Language::ALL {
                let s = tr(lang, key);
                assert_ne!(s, key, "{key} is missing in {}", lang.code());
                assert!(
                    !s.contains(key),
                    "{key} in {} renders a raw key: {s}",
                    lang.code()
                );
            }
        }
    }
}
