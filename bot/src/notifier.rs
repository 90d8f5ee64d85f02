//! The bot's side of the durable job queue: provisioning paid orders (never inside a handler)
//! and delivering notices — the link, QR code and guides when an account is ready, refunds,
//! Stars refunds, ticket messages to and from the staff chat, and referral rewards.
use std::sync::Arc;

use teloxide::prelude::*;
use teloxide::types::{
    InputFile, ParseMode, TransactionPartner, TransactionPartnerUserKind, UserId,
};
use teloxide::{ApiError, RequestError};
use vpnshop_core::card_to_card;
use vpnshop_core::customers::{self, Customer, Language};
use vpnshop_core::gateways;
use vpnshop_core::ids::{CustomerId, OrderId, PaymentId, SubscriptionId};
use vpnshop_core::ids::{StaffPost, TelegramId};
use vpnshop_core::jobs::{self, NewJob};
use vpnshop_core::jobs::{Job, JobError, Runner};
use vpnshop_core::ledger;
use vpnshop_core::money::Money;
use vpnshop_core::notices::{self, Notice};
use vpnshop_core::orders::{self, PROVISION_JOB};
use vpnshop_core::payments;
use vpnshop_core::provisioning::{self, Outcome, ProvisionError};
use vpnshop_core::rewards;
use vpnshop_core::stars;
use vpnshop_core::subscriptions;
use vpnshop_core::tickets;

use crate::ctx::{Ctx, TgBot};
use crate::handlers::{guide_keyboard, reviews, send_qr};
use crate::keyboards;
use crate::text::{self, escape, tr, tr_with};

/// The runner with the bot's handlers registered.
pub fn runner(bot: TgBot, ctx: Arc<Ctx>, worker: String) -> Runner {
    let (b, c) = (bot.clone(), ctx.clone());
    let (b2, c2) = (bot.clone(), ctx.clone());
    let (c3, c4) = (ctx.clone(), ctx.clone());
    // Each kind has its own lane: a slow panel or a long sweep never holds up the others.
    Runner::new(ctx.db.clone(), ctx.clock.clone(), worker)
        .handle_parallel(PROVISION_JOB, 8, move |job| provision(c.clone(), job))
        .handle_parallel(notices::JOB, 8, move |job| {
            notice(b.clone(), ctx.clone(), job)
        })
        .handle_parallel(SWEEP_JOB, 1, move |job| sweep(b2.clone(), c2.clone(), job))
        .handle_parallel(provisioning::DISABLE_JOB, 2, move |job| {
            disable_refunded(c3.clone(), job)
        })
        .handle_parallel(subscriptions::REFRESH_JOB, 4, move |job| {
            refresh_usage(c4.clone(), job)
        })
}

/// Reads a subscription's figures from its panel; a panel that does not answer is left for the
/// next time the customer looks (nothing is retried in a loop).
async fn refresh_usage(ctx: Arc<Ctx>, job: Job) -> Result<(), JobError> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(e.to_string()))?;
    let Some(id) = payload["subscription_id"].as_i64() else {
        return Err(JobError::Permanent("no subscription_id".into()));
    };
    let id = SubscriptionId::new(id);
    subscriptions::refresh(&ctx.db, id, ctx.sales.usage_max_age, ctx.clock.now()).await?;
    Ok(())
}

/// Turns off the panel account of a refunded purchase, if one was made.
async fn disable_refunded(ctx: Arc<Ctx>, job: Job) -> Result<(), JobError> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(e.to_string()))?;
    let Some(id) = payload["subscription_id"].as_i64() else {
        return Err(JobError::Permanent("no subscription_id".into()));
    };
    provisioning::disable_refunded(&ctx.db, SubscriptionId::new(id))
        .await
        .map_err(|e| JobError::Retry(e.to_string()))
}

/// The recurring payments sweep: reconciliation with every gateway, Telegram Stars included,
/// and reminders of unreviewed receipts. One job per time slot (a dedupe key), so several bot
/// processes run it once.
pub const SWEEP_JOB: &str = "payments_sweep";

/// Queues the next sweep at the next slot boundary.
pub async fn schedule_sweep(ctx: &Ctx) -> Result<(), vpnshop_core::sea_orm::DbErr> {
    let every = ctx.payments.reconcile_every.num_seconds().max(1);
    let now = ctx.clock.now();
    let next = (now.timestamp() / every + 1) * every;
    let at = chrono::DateTime::from_timestamp(next, 0).unwrap_or(now);
    jobs::enqueue(
        &ctx.db,
        NewJob::new(SWEEP_JOB, serde_json::json!({}), now)
            .at(at)
            .dedupe(format!("{SWEEP_JOB}@{next}"))
            .attempts(1),
        now,
    )
    .await?;
    Ok(())
}

async fn sweep(bot: TgBot, ctx: Arc<Ctx>, _job: Job) -> Result<(), JobError> {
    let now = ctx.clock.now();
    // The next one first: a sweep that fails must not stop the ones after it.
    schedule_sweep(&ctx).await?;
    let gateways = ctx.payments.all();
    let credited = gateways::reconcile(
        &ctx.db,
        &gateways,
        chrono::Duration::zero(),
        chrono::Duration::days(3),
        now,
    )
    .await?;
    if credited > 0 {
        tracing::info!(
            credited,
            "reconciliation credited payments whose callback never came"
        );
    }
    // A staff chat fixed (or broken) since start-up is noticed here.
    let _ = ctx.staff.recheck(&bot).await;
    if let Err(e) = reconcile_stars(&bot, &ctx).await {
        tracing::warn!(error = %e, "cannot reconcile Telegram Stars transactions");
    }
    let expired = card_to_card::expire_unreceipted(&ctx.db, &ctx.payments.card, now).await?;
    if expired > 0 {
        tracing::info!(expired, "card transfers with no receipt expired");
    }
    remind_receipts(&bot, &ctx).await
}

/// Reads the bot's Stars transactions that came since the last sweep (and are at least two
/// minutes old) and records any payment
/// whose `successful_payment` update was lost (recording is idempotent by charge id). Reading
/// stops before a transaction that could not be recorded, so the next sweep tries it again.
async fn reconcile_stars(bot: &TgBot, ctx: &Ctx) -> Result<(), JobError> {
    if ctx.sales.stars.is_none() {
        return Ok(());
    }
    const PAGE: u8 = 100;
    let Some(mut offset) = stars::transactions_scanned(&ctx.db).await? else {
        return start_at_the_end(bot, ctx).await;
    };
    let start = offset;
    loop {
        let page = bot
            .get_star_transactions()
            .offset(offset)
            .limit(PAGE)
            .await
            .map_err(|e| JobError::Retry(format!("getStarTransactions: {e}")))?;
        // Recent ones are left to their `successful_payment` update, which answers in the
        // customer's chat; reconciliation is for the updates that never came.
        let settled_before = ctx.clock.now() - chrono::Duration::minutes(2);
        let mut read = 0;
        for t in &page.transactions {
            if t.date > settled_before || !record_star_transaction(ctx, t).await {
                break;
            }
            read += 1;
        }
        offset += read;
        // Written only when it moved: most sweeps find nothing new.
        if offset != start {
            stars::set_transactions_scanned(&ctx.db, offset, ctx.clock.now()).await?;
        }
        if read < page.transactions.len() as u32 || page.transactions.len() < usize::from(PAGE) {
            return Ok(());
        }
    }
}

/// A database that never read the bot's Star transactions starts after the last one: what came
/// before (a bot moved to vpnshop, a restored backup's past) is not this database's to settle,
/// and is neither recorded nor refunded. Only payments of this database's own invoices are
/// recorded on the way, so one made before this first sweep is not lost.
async fn start_at_the_end(bot: &TgBot, ctx: &Ctx) -> Result<(), JobError> {
    const PAGE: u8 = 100;
    let ours = format!("stars:{}:", vpnshop_core::shop::identity(&ctx.db).await?);
    let mut end = 0u32;
    loop {
        let page = bot
            .get_star_transactions()
            .offset(end)
            .limit(PAGE)
            .await
            .map_err(|e| JobError::Retry(format!("getStarTransactions: {e}")))?;
        let settled_before = ctx.clock.now() - chrono::Duration::minutes(2);
        for t in &page.transactions {
            if !payload_of(t).is_some_and(|p| p.starts_with(&ours)) {
                end += 1;
                continue;
            }
            // A recent one of ours is left to its update; the ordinary sweep reads on from it.
            if t.date > settled_before {
                stars::set_transactions_scanned(&ctx.db, end, ctx.clock.now()).await?;
                return Ok(());
            }
            if !record_star_transaction(ctx, t).await {
                return Err(JobError::Retry(
                    "a Stars payment could not be recorded".into(),
                ));
            }
            end += 1;
        }
        if page.transactions.len() < usize::from(PAGE) {
            break;
        }
    }
    tracing::info!(
        transactions = end,
        "Stars reconciliation starts after the bot's existing transactions"
    );
    stars::set_transactions_scanned(&ctx.db, end, ctx.clock.now()).await?;
    Ok(())
}

/// The invoice payload of a Star transaction, when it is a user's invoice payment.
fn payload_of(t: &teloxide::types::StarTransaction) -> Option<&str> {
    let Some(TransactionPartner::User(user)) = &t.source else {
        return None;
    };
    let TransactionPartnerUserKind::InvoicePayment(invoice) = &user.kind else {
        return None;
    };
    invoice.invoice_payload.as_deref()
}

/// Records one Star transaction if it is an invoice payment from a user; false when it could
/// not be recorded now.
async fn record_star_transaction(ctx: &Ctx, t: &teloxide::types::StarTransaction) -> bool {
    let (Some(TransactionPartner::User(user)), Some(payload)) = (&t.source, payload_of(t)) else {
        return true;
    };
    let recorded = stars::record_payment(
        &ctx.db,
        payload,
        TelegramId::new(user.user.id.0 as i64),
        "XTR",
        i64::from(t.amount),
        &t.id.0,
        stars::Seen::InTransactions,
        ctx.clock.now(),
    )
    .await;
    match recorded {
        Ok(stars::Settled::AlreadyRecorded) => true,
        Ok(other) => {
            tracing::info!(outcome = ?other, "a Stars payment was found by reconciliation");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot record a Stars payment found by reconciliation");
            false
        }
    }
}

async fn remind_receipts(bot: &TgBot, ctx: &Ctx) -> Result<(), JobError> {
    let Some(staff) = ctx.sales.staff_chat else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let due = card_to_card::due_reminders(&ctx.db, &ctx.payments.card, now).await?;
    let lang = ctx.default_language;
    for r in due {
        // No post staff can act on (it never arrived, or is in a chat no longer used): the
        // reminder is the receipt itself again, with its buttons.
        if r.staff_message_id.is_none() || r.staff_chat_id != Some(staff) {
            if let Err(e) = crate::handlers::receipts::repost(bot, ctx, ChatId(staff), &r).await {
                tracing::warn!(receipt = r.id, error = %e, "cannot post a receipt for staff");
            }
            continue;
        }
        let minutes = text::count(lang, (now - r.created_at).num_minutes(), "minutes");
        let mut send = bot
            .send_message(
                ChatId(staff),
                tr_with(
                    lang,
                    "receipt.reminder",
                    &[("id", &r.id.to_string()), ("minutes", &minutes)],
                ),
            )
            .parse_mode(ParseMode::Html);
        if let Some(m) = r.staff_message_id {
            send = send.reply_parameters(
                teloxide::types::ReplyParameters::new(teloxide::types::MessageId(m as i32))
                    .allow_sending_without_reply(),
            );
        }
        if let Err(e) = send.await {
            tracing::warn!(receipt = r.id, error = %e, "cannot remind staff of a receipt");
        }
    }
    Ok(())
}

async fn provision(ctx: Arc<Ctx>, job: Job) -> Result<(), JobError> {
    let payload: serde_json::Value =
        serde_json::from_str(&job.payload).map_err(|e| JobError::Permanent(e.to_string()))?;
    let order = payload["order_id"]
        .as_i64()
        .map(OrderId::new)
        .ok_or_else(|| JobError::Permanent("no order_id".into()))?;
    let last = job.attempts >= job.max_attempts;
    match provisioning::provision(
        &ctx.db,
        order,
        &ctx.sales.account_prefix,
        last,
        ctx.clock.now(),
    )
    .await
    {
        Ok(Outcome::Fulfilled(_) | Outcome::AlreadyDone | Outcome::Refunded { .. }) => Ok(()),
        Err(ProvisionError::NoSuchOrder(_)) => {
            Err(JobError::Permanent(format!("order {order} is gone")))
        }
        Err(e) => Err(JobError::Retry(e.to_string())),
    }
}

/// Why a send failed: the customer blocked the bot (stop trying), or anything else (retry).
fn send_failed(e: RequestError) -> Result<(), JobError> {
    match e {
        RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        ) => Err(JobError::Permanent(format!("undeliverable: {e}"))),
        e => Err(JobError::Retry(e.to_string())),
    }
}

async fn customer_of(ctx: &Ctx, id: i64) -> Result<Customer, JobError> {
    customers::by_id(&ctx.db, CustomerId::new(id))
        .await?
        .ok_or_else(|| JobError::Permanent(format!("customer {id} is gone")))
}

fn lang_of(ctx: &Ctx, c: &Customer) -> Language {
    c.lang().unwrap_or(ctx.default_language)
}

fn chat_of(c: &Customer) -> ChatId {
    ChatId(c.telegram_id)
}

async fn notice(bot: TgBot, ctx: Arc<Ctx>, job: Job) -> Result<(), JobError> {
    let notice = notices::parse(&job.payload)
        .ok_or_else(|| JobError::Permanent(format!("not a notice: {}", job.payload)))?;
    let sent = match notice {
        Notice::Fulfilled { order_id } => fulfilled(&bot, &ctx, order_id).await,
        Notice::Refunded { order_id } => refunded(&bot, &ctx, order_id).await,
        Notice::StarsRefund { payment_id } => stars_refund(&bot, &ctx, payment_id).await,
        Notice::TicketToStaff { message_id } => ticket_to_staff(&bot, &ctx, message_id).await,
        Notice::TicketToCustomer { message_id } => ticket_to_customer(&bot, &ctx, message_id).await,
        Notice::OrderRewards { order_id } => order_rewards(&ctx, order_id).await,
        Notice::ReferralRewarded {
            referrer,
            wallet,
            points,
            ..
        } => referral_rewarded(&bot, &ctx, referrer, wallet, points).await,
        Notice::PaymentReceived { payment_id } => payment_received(&bot, &ctx, payment_id).await,
        Notice::PaymentReview { payment_id } => payment_review(&bot, &ctx, payment_id).await,
        Notice::PaymentDeclined { payment_id } => payment_declined(&bot, &ctx, payment_id).await,
        Notice::ReceiptToStaff { receipt_id } => receipt_to_staff(&bot, &ctx, receipt_id).await,
        Notice::ReceiptRejected { receipt_id } => receipt_rejected(&bot, &ctx, receipt_id).await,
    };
    match sent {
        Ok(()) => Ok(()),
        Err(Failure::Job(e)) => Err(e),
        Err(Failure::Telegram(e)) => send_failed(e),
    }
}

enum Failure {
    Job(JobError),
    Telegram(RequestError),
}

impl From<RequestError> for Failure {
    fn from(e: RequestError) -> Self {
        Failure::Telegram(e)
    }
}

impl From<JobError> for Failure {
    fn from(e: JobError) -> Self {
        Failure::Job(e)
    }
}

impl From<vpnshop_core::sea_orm::DbErr> for Failure {
    fn from(e: vpnshop_core::sea_orm::DbErr) -> Self {
        Failure::Job(e.into())
    }
}

type Sent = Result<(), Failure>;

async fn fulfilled(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> Sent {
    let Some(order) = orders::get(&ctx.db, order_id).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, order.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    let Some(sub_id) = order.subscription_id else {
        return Ok(());
    };
    let sub = subscriptions::owned(
        &ctx.db,
        vpnshop_core::ids::SubscriptionId::new(sub_id),
        customer.customer_id(),
    )
    .await
    .map_err(|e| JobError::Retry(e.to_string()))?;
    let left = sub.traffic_limit_bytes.map(|l| (l - sub.used_bytes).max(0));
    let until = sub
        .expires_at
        .map(text::date)
        .unwrap_or_else(|| tr(lang, "units.forever"));
    let state = tr_with(
        lang,
        "checkout.after",
        &[("traffic", &text::traffic(lang, left)), ("date", &until)],
    );
    let key = match order.kind.as_str() {
        "renewal" => "notice.renewed",
        "add_traffic" => "notice.traffic_added",
        "trial" => "notice.trial_ready",
        _ => "notice.ready",
    };
    let mut body = tr_with(lang, key, &[("id", &sub.id.to_string()), ("state", &state)]);
    let link = sub.subscription_url.clone();
    if let Some(link) = &link {
        body.push_str("\n\n");
        body.push_str(&tr_with(lang, "subs.link", &[("link", &escape(link))]));
    }
    let chat = chat_of(&customer);
    bot.send_message(chat, body)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    // A new account also gets its QR code and the guides; a renewal keeps the same link.
    if let (Some(link), "purchase" | "trial") = (&link, order.kind.as_str()) {
        if let Err(e) = send_qr(bot, chat, lang, link).await {
            tracing::warn!(error = %e, "QR code not sent");
        }
    } else if link.is_none() {
        bot.send_message(chat, tr(lang, "guides.pick"))
            .reply_markup(guide_keyboard(lang))
            .await?;
    }
    Ok(())
}

async fn refunded(bot: &TgBot, ctx: &Ctx, order_id: OrderId) -> Sent {
    let Some(order) = orders::get(&ctx.db, order_id).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, order.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    let currency = order.currency.parse().unwrap_or(ctx.currency);
    let amount = Money::new(order.total_minor, currency).unwrap_or(Money::zero(currency));
    let key = if order.total_minor > 0 {
        "notice.refunded"
    } else {
        "notice.failed_free"
    };
    bot.send_message(
        chat_of(&customer),
        tr_with(lang, key, &[("amount", &text::money(lang, amount))]),
    )
    .parse_mode(ParseMode::Html)
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    if let Some(staff) = ctx.sales.staff_chat {
        let l = ctx.default_language;
        let body = tr_with(
            l,
            "staff.provision_failed",
            &[
                ("order", &order.id.to_string()),
                ("customer", &escape(&customer.first_name)),
                ("telegram", &customer.telegram_id.to_string()),
                ("amount", &text::money(l, amount)),
                ("reason", &escape(order.failure.as_deref().unwrap_or("?"))),
            ],
        );
        bot.send_message(ChatId(staff), body)
            .parse_mode(ParseMode::Html)
            .await?;
    }
    Ok(())
}

/// An amount stored as minor units and a currency code (the shop's currency if unreadable).
async fn payment_received(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> Sent {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, row.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    let credit = payments::credit_of(&row)
        .unwrap_or_else(|| text::money_of(row.amount_minor, &row.currency, ctx.currency));
    let balance =
        ledger::wallet_balance(&ctx.db, customer.customer_id(), credit.currency()).await?;
    let key = match (row.order_id, payments::paid_its_order(&row)) {
        (None, _) => "payment.received_wallet",
        (Some(_), true) => "payment.received_order",
        (Some(_), false) => "payment.received_order_closed",
    };
    let body = tr_with(
        lang,
        key,
        &[
            ("amount", &text::money(lang, credit)),
            ("balance", &text::money(lang, balance)),
            (
                "order",
                &row.order_id.map(|o| o.to_string()).unwrap_or_default(),
            ),
        ],
    );
    bot.send_message(chat_of(&customer), body)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

async fn payment_review(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> Sent {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, row.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    if let Some(staff) = ctx.sales.staff_chat {
        bot.send_message(ChatId(staff), reviews::staff_text(ctx, &row, &customer))
            .parse_mode(ParseMode::Html)
            .reply_markup(reviews::decisions(ctx.default_language, &row))
            .await?;
    }
    bot.send_message(chat_of(&customer), tr(lang, "payment.review_customer"))
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

async fn payment_declined(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> Sent {
    let Some(row) = payments::get(&ctx.db, payment).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, row.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    bot.send_message(
        chat_of(&customer),
        tr_with(
            lang,
            "payment.declined_customer",
            &[("id", &row.id.to_string())],
        ),
    )
    .parse_mode(ParseMode::Html)
    .reply_markup(keyboards::back_to_menu(lang))
    .await?;
    Ok(())
}

async fn receipt_to_staff(bot: &TgBot, ctx: &Ctx, receipt: i64) -> Sent {
    let Some(staff) = ctx.sales.staff_chat else {
        return Err(
            JobError::Permanent("no staff chat configured (shop.staff_chat_id)".into()).into(),
        );
    };
    match crate::handlers::post_receipt(bot, ctx, ChatId(staff), receipt).await {
        Ok(()) => Ok(()),
        Err(crate::errors::BotError::Telegram(e)) => Err(e.into()),
        Err(e) => Err(JobError::Retry(e.to_string()).into()),
    }
}

async fn receipt_rejected(bot: &TgBot, ctx: &Ctx, receipt: i64) -> Sent {
    let Some(r) = card_to_card::receipt(&ctx.db, receipt).await? else {
        return Ok(());
    };
    let Some(row) = payments::get(&ctx.db, PaymentId::new(r.payment_id)).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, r.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    let body = tr_with(
        lang,
        "receipt.rejected_customer",
        &[
            (
                "amount",
                &text::money(
                    lang,
                    text::money_of(row.amount_minor, &row.currency, ctx.currency),
                ),
            ),
            ("reason", &escape(r.reason.as_deref().unwrap_or(""))),
        ],
    );
    bot.send_message(chat_of(&customer), body)
        .parse_mode(ParseMode::Html)
        .reply_markup(keyboards::back_to_menu(lang))
        .await?;
    Ok(())
}

async fn stars_refund(bot: &TgBot, ctx: &Ctx, payment: PaymentId) -> Sent {
    let Some((user, charge, stars)) = stars::refund_target(&ctx.db, payment).await? else {
        return Ok(());
    };
    let refund = bot
        .refund_star_payment(
            UserId(user.get() as u64),
            teloxide::types::TelegramTransactionId(charge),
        )
        .await;
    match refund {
        Ok(_) => {}
        // A repeat after a lost answer: Telegram already gave the Stars back.
        Err(RequestError::Api(ApiError::Unknown(ref d)))
            if d.contains("CHARGE_ALREADY_REFUNDED") => {}
        Err(e) => return Err(e.into()),
    }
    stars::mark_refunded(&ctx.db, payment, ctx.clock.now()).await?;
    if let Some(customer) = customers::by_telegram_id(&ctx.db, user).await? {
        let lang = lang_of(ctx, &customer);
        bot.send_message(
            chat_of(&customer),
            tr_with(lang, "stars.refunded", &[("stars", &stars.to_string())]),
        )
        .await?;
    }
    Ok(())
}

async fn ticket_to_staff(bot: &TgBot, ctx: &Ctx, message_id: i64) -> Sent {
    let Some(staff) = ctx.sales.staff_chat else {
        return Err(
            JobError::Permanent("no staff chat configured (shop.staff_chat_id)".into()).into(),
        );
    };
    let Some((m, t)) = tickets::message(&ctx.db, message_id).await? else {
        return Ok(());
    };
    if m.staff_chat_message_id.is_some() {
        return Ok(());
    }
    let customer = customer_of(ctx, t.customer_id).await?;
    let l = ctx.default_language;
    let now = ctx.clock.now();
    let balance = ledger::wallet_balance(&ctx.db, customer.customer_id(), ctx.currency).await?;
    let mut subs = String::new();
    let all = provisioning::of_customer(&ctx.db, customer.customer_id()).await?;
    // A heavy buyer's every subscription would push the post past Telegram's limits.
    const SHOWN: usize = 3;
    let more = all.len().saturating_sub(SHOWN);
    for sub in all.into_iter().take(SHOWN) {
        let location = subscriptions::location_of(&ctx.db, &sub)
            .await?
            .map(|l| l.name)
            .unwrap_or_default();
        subs.push_str("\n\n");
        subs.push_str(&crate::handlers::subscription_summary(
            l, &sub, &location, now,
        ));
    }
    if subs.is_empty() {
        subs = format!("\n{}", tr(l, "subs.none_short"));
    }
    if more > 0 {
        subs.push_str("\n\n");
        subs.push_str(&tr_with(
            l,
            "staff.subs_more",
            &[("count", &more.to_string())],
        ));
    }
    let username = customer
        .username
        .as_deref()
        .map(|u| format!("@{}", escape(u)))
        .unwrap_or_default();
    let header = tr_with(
        l,
        "staff.ticket",
        &[
            ("id", &t.id.to_string()),
            ("name", &escape(&customer.first_name)),
            ("username", &username),
            ("telegram", &customer.telegram_id.to_string()),
            ("lang", customer.language.as_deref().unwrap_or("?")),
            ("balance", &text::money(l, balance)),
            ("subs", &subs),
        ],
    );
    // Cut as plain text, then escaped: a cut never splits a tag or an `&amp;`. A caption holds
    // 1,024 characters, a message 4,096.
    let room = |limit: usize| limit.saturating_sub(text::visible_len(&header) + 4);
    let body_of = |limit: usize| {
        let plain = m.body.as_deref().unwrap_or_default();
        escape(&text::cut(plain, room(limit))).into_owned()
    };
    let posted = match &m.photo_file_id {
        Some(file) => {
            let caption = format!("{header}\n\n{}", body_of(1_000));
            bot.send_photo(
                ChatId(staff),
                InputFile::file_id(teloxide::types::FileId(file.clone())),
            )
            .caption(caption)
            .parse_mode(ParseMode::Html)
            .await?
        }
        None => {
            bot.send_message(
                ChatId(staff),
                format!(
                    "{header}\n\n{}\n\n{}",
                    body_of(3_900),
                    tr(l, "staff.reply_hint")
                ),
            )
            .parse_mode(ParseMode::Html)
            .await?
        }
    };
    let post = StaffPost {
        chat: posted.chat.id.0,
        message: i64::from(posted.id.0),
    };
    tickets::posted_to_staff(&ctx.db, m.id, post).await?;
    Ok(())
}

async fn ticket_to_customer(bot: &TgBot, ctx: &Ctx, message_id: i64) -> Sent {
    let Some((m, t)) = tickets::message(&ctx.db, message_id).await? else {
        return Ok(());
    };
    let customer = customer_of(ctx, t.customer_id).await?;
    let lang = lang_of(ctx, &customer);
    // Cut as plain text, before escaping: within a caption's 1,024 characters either way.
    let answer = text::cut(m.body.as_deref().unwrap_or("📷"), 900);
    let body = tr_with(
        lang,
        "support.answer",
        &[("id", &t.id.to_string()), ("text", &escape(&answer))],
    );
    let keyboard = teloxide::types::InlineKeyboardMarkup::new(vec![vec![
        keyboards::button(
            tr(lang, "support.write"),
            crate::callback::Action::TicketWrite(t.id),
        ),
        keyboards::button(
            tr(lang, "support.close"),
            crate::callback::Action::TicketClose(t.id),
        ),
    ]]);
    let chat = chat_of(&customer);
    let sent = match &m.photo_file_id {
        Some(file) => bot
            .send_photo(
                chat,
                InputFile::file_id(teloxide::types::FileId(file.clone())),
            )
            .caption(body.clone())
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard)
            .await
            .map(|_| ()),
        None => bot
            .send_message(chat, body)
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard)
            .await
            .map(|_| ()),
    };
    match sent {
        Ok(()) => Ok(()),
        // Staff were told the answer was queued: they hear it will never arrive.
        Err(RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::ChatNotFound,
        )) => {
            if let Some(staff) = ctx.sales.staff_chat {
                bot.send_message(
                    ChatId(staff),
                    tr_with(
                        ctx.default_language,
                        "staff.undelivered",
                        &[("id", &t.id.to_string())],
                    ),
                )
                .parse_mode(ParseMode::Html)
                .await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Grants what the order earned; the referrer hears of theirs through a notice of its own,
/// queued with the grant.
async fn order_rewards(ctx: &Ctx, order_id: OrderId) -> Sent {
    rewards::grant_for_order(&ctx.db, order_id, &ctx.sales.rewards, ctx.clock.now())
        .await
        .map_err(|e| JobError::Retry(e.to_string()))?;
    Ok(())
}

async fn referral_rewarded(
    bot: &TgBot,
    ctx: &Ctx,
    referrer: CustomerId,
    wallet: Option<Money>,
    points: Option<i64>,
) -> Sent {
    let customer = customer_of(ctx, referrer.get()).await?;
    let lang = lang_of(ctx, &customer);
    let what = match (wallet, points) {
        (Some(m), _) => text::money(lang, m),
        (None, Some(n)) => text::count(lang, n, "points"),
        (None, None) => return Ok(()),
    };
    bot.send_message(
        chat_of(&customer),
        tr_with(lang, "notice.referral_reward", &[("reward", &what)]),
    )
    .parse_mode(ParseMode::Html)
    .await?;
    Ok(())
}
