//! Telegram's HTML: the tags and entities it accepts, and what a message looks like once
//! parsed. A bot message with bad HTML gets the same 400 Telegram would answer.
use axum::response::Response;
use serde_json::Value;

use super::err;

/// Checks HTML the way Telegram's parser does: known tags only, properly nested, and `&` only
/// as an entity. Returns the visible text, or Telegram's error description.
pub fn parse_html(text: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    ];
    let mut visible = String::new();
    let mut stack: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        match bytes[i] {
            b'<' => {
                let end = text[i..].find('>').ok_or_else(|| {
                    format!(
                        "Bad Request: can't parse entities: Unclosed start tag at byte offset {i}"
                    )
                })? + i;
                let inner = &text[i + 1..end];
                if let Some(name) = inner.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        _ => {
                            return Err(format!(
                                "Bad Request: can't parse entities: Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                                stack.last().cloned().unwrap_or_default()
                            ));
                        }
                    }
                } else {
                    let name = inner
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_lowercase();
                    if !TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Bad Request: can't parse entities: Unsupported start tag \"{name}\" at byte offset {i}"
                        ));
                    }
                    stack.push(name);
                }
                i = end + 1;
            }
            b'&' => {
                let end = text[i..].find(';').map(|e| e + i);
                let entity = end.map(|e| &text[i + 1..e]);
                let decoded = match entity {
                    Some("lt") => '<',
                    Some("gt") => '>',
                    Some("amp") => '&',
                    Some("quot") => '"',
                    Some(e) if e.starts_with('#') => e[1..]
                        .parse::<u32>()
                        .ok()
                        .and_then(char::from_u32)
                        .unwrap_or('?'),
                    _ => {
                        return Err(format!(
                            "Bad Request: can't parse entities: Character '&' is reserved and must be escaped at byte offset {i}"
                        ));
                    }
                };
                visible.push(decoded);
                i = end.unwrap() + 1;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap();
                visible.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(visible)
}

/// The visible text of `raw` (a message text or a caption) under the call's `parse_mode`,
/// HTML checked as Telegram does.
#[allow(clippy::result_large_err)] // the error is the reply itself
pub(super) fn visible_text(p: &Value, raw: &str) -> Result<String, Response> {
    let html = p["parse_mode"]
        .as_str()
        .is_some_and(|m| m.eq_ignore_ascii_case("html"));
    if html {
        parse_html(raw).map_err(|description| err(400, &description))
    } else {
        Ok(raw.to_string())
    }
}
