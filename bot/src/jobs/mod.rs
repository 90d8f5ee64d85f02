//! The job registry: every kind of background work, declared once with its lane. The core
//! registers what needs no Telegram (provisioning, refunded accounts, usage reads); the bot adds
//! notices, the payments sweep, the staff chat's daily summary, support reminders and panel health. Adding a
//! recurring job is one `.every(…)` line here and the function it runs.
mod backup;
mod broadcast;
mod health;
mod notices;
mod stars;
mod summary;
mod support;
mod sweep;

use std::sync::Arc;

use vpnshop_core::background;
use vpnshop_core::broadcasts::{ReviseBroadcast, SendBroadcast};
use vpnshop_core::jobs::Runner;
use vpnshop_core::notices::Notice;

use crate::ctx::{Ctx, TgBot};

/// The runner with every kind of job registered, each in a lane of its own.
pub fn runner(bot: TgBot, ctx: Arc<Ctx>, worker: String) -> Runner {
    let runner = Runner::new(ctx.db.clone(), ctx.clock.clone(), worker);
    let (b, c) = (bot.clone(), ctx.clone());
    let schedule = background::Schedule {
        sales: ctx.sales.clone(),
        life: ctx.life.clone(),
        currency: ctx.currency,
    };
    background::register(runner, ctx.clock.clone(), schedule)
        .on(8, move |notice: Notice, job| {
            notices::deliver(b.clone(), c.clone(), notice, job)
        })
        .on(4, {
            let (bot, ctx) = (bot.clone(), ctx.clone());
            move |p: SendBroadcast, job| broadcast::send(bot.clone(), ctx.clone(), p, job)
        })
        .on(2, {
            let (bot, ctx) = (bot.clone(), ctx.clone());
            move |p: ReviseBroadcast, job| broadcast::revise(bot.clone(), ctx.clone(), p, job)
        })
        .every(backup::every(&ctx), {
            let (bot, ctx) = (bot.clone(), ctx.clone());
            move |job| backup::run(bot.clone(), ctx.clone(), job)
        })
        .every(summary::every(), {
            let ctx = ctx.clone();
            move |job| summary::run(ctx.clone(), job)
        })
        .every(health::every(&ctx), {
            let ctx = ctx.clone();
            move |job| health::run(ctx.clone(), job)
        })
        .every(support::every(), {
            let ctx = ctx.clone();
            move |job| support::run(ctx.clone(), job)
        })
        .every(sweep::every(&ctx), move |job| {
            sweep::sweep(bot.clone(), ctx.clone(), job)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnshop_core::jobs::Payload;

    /// Every kind of job the shop queues has a handler, each exactly one (registering a kind
    /// twice panics), and every recurring job is one of them.
    #[tokio::test]
    async fn every_kind_of_job_has_one_handler() {
        let db = vpnshop_core::db::open("sqlite::memory:").await.unwrap();
        let mut settings = crate::config::Settings::default();
        settings.telegram.token = Some("5000000001:AAH-fake-token-for-tests_0123456789".into());
        let runtime = settings.runtime().unwrap();
        let ctx = Arc::new(Ctx::new(
            db,
            Arc::new(vpnshop_core::clock::SystemClock),
            ("t".into(), "t".into()),
            runtime,
        ));
        use teloxide::requests::RequesterExt;
        let bot = teloxide::Bot::new("1:x").parse_mode(teloxide::types::ParseMode::Html);
        let runner = runner(bot, ctx, "t".into());
        let mut kinds = runner.kinds();
        kinds.sort();
        let mut queued = vec![
            vpnshop_core::orders::Provision::KIND,
            vpnshop_core::provisioning::DisableRefunded::KIND,
            vpnshop_core::subscriptions::RefreshUsage::KIND,
            vpnshop_core::subscriptions::switch::RetireMoved::KIND,
            Notice::KIND,
            SendBroadcast::KIND,
            ReviseBroadcast::KIND,
        ];
        queued.extend(runner.recurring().iter().map(|r| r.kind));
        queued.sort();
        assert_eq!(kinds, queued);
    }
}
