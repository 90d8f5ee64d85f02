//! Choosing the language: on first contact and whenever the customer asks.
use vpnshop_core::customers::{self, Language};

use super::{State, Visit};
use crate::errors::HandlerResult;
use crate::keyboards;
use crate::text::tr;

/// The picker, with the prompt in all three languages: the customer may not read ours yet.
pub async fn ask(v: &Visit) -> HandlerResult {
    let prompt = Language::ALL.map(|l| tr(l, "lang.prompt")).join("\n");
    v.show(prompt, keyboards::languages()).await
}

pub async fn choose(v: &Visit, new: Language) -> HandlerResult {
    let (ctx, customer) = (&v.ctx, &v.customer);

    customers::set_language(&ctx.db, customer.telegram(), new).await?;
    v.set_state(State::Idle).await?;
    v.show(tr(new, "lang.set"), Default::default()).await?;
    super::menu::welcome(&v.speaking(new)).await
}
