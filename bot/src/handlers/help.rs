//! Help: the commands, the FAQ (or the seller's own text), and the connection guides.

use super::{Visit, guide_keyboard};
use crate::errors::HandlerResult;
use crate::text::{escape, tr};

/// The commands, then the seller's own help text in the customer's language (set from
/// `/settings`, shown as written) or the built-in questions and answers.
pub async fn show_help(v: &Visit) -> HandlerResult {
    let lang = v.lang;
    let overrides = v.ctx.overrides.get(&v.ctx.db).await;
    let mut body = tr(lang, "help.text");
    body.push_str("\n\n");
    match overrides.help(lang) {
        Some(own) => body.push_str(&escape(own)),
        None => body.push_str(&tr(lang, "help.faq")),
    }
    v.show(body, guide_keyboard(lang)).await
}
