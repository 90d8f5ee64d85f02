//! The root of the dispatch tree: a panic in any handler is caught here, logged with the update
//! it came from, and apologized for in that chat. Without it, one bad update takes the
//! dispatcher — and every other customer — down with it.
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use teloxide::dispatching::{DpHandlerDescription, UpdateHandler};
use teloxide::dptree::{self, HandlerDescription, HandlerSignature, di::DependencyMap};
use teloxide::prelude::*;

use super::Ctx;
use crate::ctx::TgBot;
use crate::errors::BotError;

/// An entry that runs everything after it with panics caught.
pub fn guard() -> UpdateHandler<BotError> {
    dptree::from_fn_with_description(
        DpHandlerDescription::entry(),
        |deps: DependencyMap, cont| async move {
            crate::metrics::update_seen();
            let update = deps.try_get::<Update>();
            let bot = deps.try_get::<TgBot>();
            let ctx = deps.try_get::<Arc<Ctx>>();
            match AssertUnwindSafe(cont(deps)).catch_unwind().await {
                Ok(flow) => flow,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic without a message".into());
                    let chat = update.as_deref().and_then(|u| u.chat()).map(|c| c.id);
                    tracing::error!(
                        update = update.as_deref().map(|u| u.id.0),
                        chat = chat.map(|c| c.0),
                        panic = %what,
                        "a handler panicked; the update was dropped"
                    );
                    if let (Some(chat), Some(bot), Some(ctx)) = (chat, bot, ctx) {
                        super::visit::say_sorry(&bot, chat, ctx.default_language).await;
                    }
                    ControlFlow::Break(Ok(()))
                }
            }
        },
        HandlerSignature::Entry,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics: the dispatch ends normally instead of unwinding through the
    /// dispatcher.
    #[tokio::test]
    async fn a_panicking_handler_is_caught() {
        let handler = guard().endpoint(|| async {
            if true {
                panic!("boom");
            }
            Ok::<(), BotError>(())
        });
        let update: Update = serde_json::from_value(serde_json::json!({
            "update_id": 7,
            "message": { "message_id": 1, "date": 0, "text": "/start",
                "chat": { "id": 42, "type": "private", "first_name": "Sara" },
                "from": { "id": 42, "is_bot": false, "first_name": "Sara" } }
        }))
        .unwrap();
        let outcome = handler.dispatch(dptree::deps![update]).await;
        assert!(matches!(outcome, ControlFlow::Break(Ok(()))), "{outcome:?}");
    }
}
