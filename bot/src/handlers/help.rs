//! Help: the FAQ, the commands, and the connection guides.

use super::{Visit, guide_keyboard};
use crate::errors::HandlerResult;
use crate::text::tr;

pub async fn show_help(v: &Visit) -> HandlerResult {
    let lang = v.lang;

    let mut body = tr(lang, "help.text");
    body.push_str("\n\n");
    body.push_str(&tr(lang, "help.faq"));
    v.show(body, guide_keyboard(lang)).await
}
