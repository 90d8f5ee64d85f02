//! Broadcasts from the bot: compose (text or photo, formatting kept, buttons), choose who gets
//! it, see how many and a preview exactly as customers will, confirm; then one progress message
//! with pause, resume and cancel, and after it ends, edit or delete it for everyone.
//!
//! The draft lives in the admin's dialogue state on the server; buttons only name a choice.
//! Every step asks for the `broadcasts` permission when it runs.
use teloxide::prelude::*;
use teloxide::types::{FileId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ParseMode};
use teloxide::utils::render::RenderMessageTextHelper;
use vpnshop_core::broadcasts::{
    self, Audience, BroadcastError, BroadcastStatus, Control, Draft, Extra, Progress,
};
use vpnshop_core::catalog;
use vpnshop_core::customers::Language;
use vpnshop_core::entities::broadcasts as table;
use vpnshop_core::ids::BroadcastId;
use vpnshop_core::staff::Permission;

use super::{Admin, AdminStep, back, button};
use crate::callback::{Action, AdminAction, AudiencePick, ExtraPick};
use crate::ctx::TgBot;
use crate::errors::HandlerResult;
use crate::handlers::State;
use crate::text::{escape, tr, tr_with};

const WHAT: &str = "broadcast";

/// The buttons under a broadcast, labelled in the recipient's language.
pub fn keyboard(lang: Language, extras: &[Extra]) -> Option<InlineKeyboardMarkup> {
    let rows: Vec<Vec<InlineKeyboardButton>> = extras
        .iter()
        .filter_map(|e| {
            Some(vec![match e {
                Extra::Url { label, url } => {
                    InlineKeyboardButton::url(label.clone(), url.parse().ok()?)
                }
                Extra::Shop => crate::keyboards::button(tr(lang, "broadcast.shop"), Action::Buy),
                Extra::Renew => {
                    crate::keyboards::button(tr(lang, "broadcast.renew"), Action::Subscriptions)
                }
            }])
        })
        .collect();
    (!rows.is_empty()).then(|| InlineKeyboardMarkup::new(rows))
}

/// The broadcast as one customer gets it: the preview and every delivery go through here.
pub async fn send_copy(
    bot: &TgBot,
    chat: ChatId,
    lang: Language,
    body: &str,
    photo: Option<&str>,
    extras: &[Extra],
) -> Result<Message, teloxide::RequestError> {
    let keyboard = keyboard(lang, extras);
    match photo {
        Some(photo) => {
            let mut q = bot
                .send_photo(chat, InputFile::file_id(FileId(photo.to_string())))
                .caption(body.to_string())
                .parse_mode(ParseMode::Html);
            if let Some(k) = keyboard {
                q = q.reply_markup(k);
            }
            q.await
        }
        None => {
            let mut q = bot
                .send_message(chat, body.to_string())
                .parse_mode(ParseMode::Html);
            if let Some(k) = keyboard {
                q = q.reply_markup(k);
            }
            q.await
        }
    }
}

/// The broadcasts screen: the latest ones and "New broadcast".
pub async fn list(a: &Admin) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let latest = broadcasts::latest(&a.v.ctx.db, 8).await?;
    let mut text = tr(lang, "broadcast.title");
    let mut rows = vec![vec![button(
        tr(lang, "broadcast.new"),
        AdminAction::BroadcastNew,
    )]];
    if latest.is_empty() {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "broadcast.none"));
    }
    for b in &latest {
        let line = tr_with(
            lang,
            "broadcast.line",
            &[
                ("id", &b.id.to_string()),
                ("status", &status(lang, b.status)),
                ("date", &crate::text::date(b.created_at)),
                ("total", &b.total.to_string()),
            ],
        );
        rows.push(vec![button(line, AdminAction::BroadcastShow(b.id))]);
    }
    rows.push(vec![back(lang)]);
    a.v.show(text, InlineKeyboardMarkup::new(rows)).await
}

/// A language by its own name, as the language picker shows it.
fn language_name(l: Language) -> &'static str {
    match l {
        Language::Fa => "🇮🇷 فارسی",
        Language::En => "🇬🇧 English",
        Language::Ru => "🇷🇺 Русский",
    }
}

fn status(lang: Language, s: BroadcastStatus) -> String {
    tr(lang, &format!("broadcast.status.{}", s.as_str()))
}

/// "Send the message."
pub async fn ask_body(a: &Admin) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    a.v.set_state(State::Admin(AdminStep::BroadcastBody))
        .await?;
    a.v.say(tr(a.lang(), "broadcast.ask_body"), cancel(a.lang()))
        .await
}

fn cancel(lang: Language) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(vec![vec![button(
        tr(lang, "broadcast.discard"),
        AdminAction::BroadcastDiscard,
    )]])
}

/// The message to send arrived: text, or a photo with a caption, formatting kept.
pub async fn body(a: &Admin, msg: &Message) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let (body, photo) = match msg.photo().and_then(|p| p.last()) {
        Some(photo) => (
            msg.html_caption()
                .or_else(|| msg.caption().map(|c| escape(c).into_owned()))
                .unwrap_or_default(),
            Some(photo.file.id.0.clone()),
        ),
        None => (
            msg.html_text()
                .or_else(|| msg.text().map(|t| escape(t).into_owned()))
                .unwrap_or_default(),
            None,
        ),
    };
    let limit = if photo.is_some() {
        broadcasts::MAX_CAPTION
    } else {
        broadcasts::MAX_TEXT
    };
    if (body.trim().is_empty() && photo.is_none()) || crate::text::visible_len(&body) > limit {
        let text = tr_with(lang, "broadcast.bad_body", &[("max", &limit.to_string())]);
        return a.v.say(text, cancel(lang)).await;
    }
    let draft = Draft {
        key: vpnshop_core::broadcasts::new_draft_key(),
        body,
        photo,
        buttons: Vec::new(),
        audience: None,
    };
    screen(a, draft, false).await
}

/// The draft as it stands: its buttons, its audience and how many that is, and the choices. A
/// preview exactly as customers will see it goes first once an audience is chosen.
async fn screen(a: &Admin, draft: Draft, preview: bool) -> HandlerResult {
    let lang = a.lang();
    let ctx = &a.v.ctx;
    let count = match &draft.audience {
        Some(audience) => {
            Some(broadcasts::count(&ctx.db, audience, ctx.clock.now(), ctx.default_language).await?)
        }
        None => None,
    };
    if preview {
        let sent = send_copy(
            &a.v.bot,
            a.v.chat,
            lang,
            &draft.body,
            draft.photo.as_deref(),
            &draft.buttons,
        )
        .await;
        if let Err(e) = sent {
            // The HTML did not parse, a link was refused, the photo is gone: what customers
            // would get cannot be sent, so the draft is dropped (an earlier Send button with it).
            a.v.set_state(State::Idle).await?;
            let text = tr_with(
                lang,
                "broadcast.preview_failed",
                &[("error", &escape(&e.to_string()))],
            );
            let again = InlineKeyboardMarkup::new(vec![vec![button(
                tr(lang, "broadcast.new"),
                AdminAction::BroadcastNew,
            )]]);
            return a.v.say(text, again).await;
        }
    }
    a.v.set_state(State::Admin(AdminStep::Broadcast(Box::new(draft.clone()))))
        .await?;
    let extras = if draft.buttons.is_empty() {
        tr(lang, "broadcast.no_buttons")
    } else {
        draft
            .buttons
            .iter()
            .map(|e| match e {
                Extra::Url { label, .. } => format!("🔗 {}", escape(label)),
                Extra::Shop => tr(lang, "broadcast.shop"),
                Extra::Renew => tr(lang, "broadcast.renew"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let audience = match &draft.audience {
        Some(audience) => audience_name(a, audience).await?,
        None => tr(lang, "broadcast.audience.unset"),
    };
    let mut text = tr_with(
        lang,
        "broadcast.draft",
        &[("buttons", &extras), ("audience", &audience)],
    );
    if let Some(n) = count {
        text.push('\n');
        text.push_str(&tr_with(lang, "broadcast.count", &[("n", &n.to_string())]));
    }
    let pick =
        |key: &str, p: AudiencePick| button(tr(lang, key), AdminAction::BroadcastAudience(p));
    let mut rows = vec![
        vec![
            pick("broadcast.audience.all", AudiencePick::All),
            pick("broadcast.audience.active", AudiencePick::Active),
        ],
        vec![
            pick("broadcast.audience.expiring", AudiencePick::Expiring),
            pick("broadcast.audience.expired", AudiencePick::Expired),
        ],
        vec![
            pick("broadcast.audience.trial_only", AudiencePick::TrialOnly),
            pick("broadcast.audience.never_bought", AudiencePick::NeverBought),
        ],
        vec![
            pick("broadcast.audience.language", AudiencePick::Languages),
            pick("broadcast.audience.location", AudiencePick::Locations),
            pick("broadcast.audience.plan", AudiencePick::Plans),
        ],
        vec![pick("broadcast.audience.ids", AudiencePick::Ids)],
    ];
    if draft.buttons.len() < broadcasts::MAX_BUTTONS {
        rows.push(vec![
            button(
                tr(lang, "broadcast.add_shop"),
                AdminAction::BroadcastExtra(ExtraPick::Shop),
            ),
            button(
                tr(lang, "broadcast.add_renew"),
                AdminAction::BroadcastExtra(ExtraPick::Renew),
            ),
            button(
                tr(lang, "broadcast.add_url"),
                AdminAction::BroadcastExtra(ExtraPick::Url),
            ),
        ]);
    }
    if !draft.buttons.is_empty() {
        rows.push(vec![button(
            tr(lang, "broadcast.clear_buttons"),
            AdminAction::BroadcastExtra(ExtraPick::Clear),
        )]);
    }
    if let Some(n) = count.filter(|n| *n > 0) {
        rows.push(vec![button(
            tr_with(lang, "broadcast.send", &[("n", &n.to_string())]),
            AdminAction::BroadcastConfirm,
        )]);
    }
    rows.push(vec![button(
        tr(lang, "broadcast.discard"),
        AdminAction::BroadcastDiscard,
    )]);
    a.v.say(text, InlineKeyboardMarkup::new(rows)).await
}

/// The audience as the admin reads it.
async fn audience_name(a: &Admin, audience: &Audience) -> Result<String, crate::errors::BotError> {
    let lang = a.lang();
    let db = &a.v.ctx.db;
    Ok(match audience {
        Audience::All => tr(lang, "broadcast.audience.all"),
        Audience::Active => tr(lang, "broadcast.audience.active"),
        Audience::Expiring { days } => tr_with(
            lang,
            "broadcast.audience.expiring_n",
            &[("n", &days.to_string())],
        ),
        Audience::Expired { days } => tr_with(
            lang,
            "broadcast.audience.expired_n",
            &[("n", &days.to_string())],
        ),
        Audience::TrialOnly => tr(lang, "broadcast.audience.trial_only"),
        Audience::NeverBought => tr(lang, "broadcast.audience.never_bought"),
        Audience::Language { language } => tr_with(
            lang,
            "broadcast.audience.language_is",
            &[("language", language_name(*language))],
        ),
        Audience::Location { location } => {
            let name = catalog::location(db, *location)
                .await?
                .map_or_else(|| location.to_string(), |l| l.name);
            tr_with(
                lang,
                "broadcast.audience.location_is",
                &[("name", &escape(&name))],
            )
        }
        Audience::Plan { plan } => {
            let name = catalog::plan(db, *plan)
                .await?
                .map_or_else(|| plan.to_string(), |p| p.name);
            tr_with(
                lang,
                "broadcast.audience.plan_is",
                &[("name", &escape(&name))],
            )
        }
        Audience::Ids { ids } => tr_with(
            lang,
            "broadcast.audience.ids_n",
            &[("n", &ids.len().to_string())],
        ),
    })
}

/// The draft in the admin's dialogue, or `None` (a stale button: answered as such).
async fn draft_of(a: &Admin) -> Result<Option<Draft>, crate::errors::BotError> {
    let state = a.v.dialogue.get().await?.unwrap_or_default();
    Ok(match state {
        State::Admin(
            AdminStep::Broadcast(d)
            | AdminStep::BroadcastDays(d, _)
            | AdminStep::BroadcastIds(d)
            | AdminStep::BroadcastUrl(d),
        ) => Some(*d),
        _ => None,
    })
}

/// An audience button.
pub async fn pick(a: &Admin, pick: AudiencePick) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let Some(mut draft) = draft_of(a).await? else {
        return a.v.stale().await;
    };
    let lang = a.lang();
    let chosen = match pick {
        AudiencePick::All => Audience::All,
        AudiencePick::Active => Audience::Active,
        AudiencePick::TrialOnly => Audience::TrialOnly,
        AudiencePick::NeverBought => Audience::NeverBought,
        AudiencePick::Language(language) => Audience::Language { language },
        AudiencePick::Location(location) => Audience::Location { location },
        AudiencePick::Plan(plan) => Audience::Plan { plan },
        AudiencePick::Expiring | AudiencePick::Expired => {
            let expired = pick == AudiencePick::Expired;
            a.v.set_state(State::Admin(AdminStep::BroadcastDays(
                Box::new(draft),
                expired,
            )))
            .await?;
            let key = if expired {
                "broadcast.ask_expired_days"
            } else {
                "broadcast.ask_expiring_days"
            };
            return a.v.say(tr(lang, key), cancel(lang)).await;
        }
        AudiencePick::Ids => {
            a.v.set_state(State::Admin(AdminStep::BroadcastIds(Box::new(draft))))
                .await?;
            return a.v.say(tr(lang, "broadcast.ask_ids"), cancel(lang)).await;
        }
        AudiencePick::Languages => {
            let choices = Language::ALL
                .iter()
                .map(|l| (language_name(*l).to_string(), AudiencePick::Language(*l)))
                .collect();
            return offer(a, "broadcast.pick_language", choices).await;
        }
        AudiencePick::Locations => {
            let choices = catalog::locations(&a.v.ctx.db, false)
                .await?
                .into_iter()
                .map(|l| (l.name, AudiencePick::Location(l.id)))
                .collect();
            return offer(a, "broadcast.pick_location", choices).await;
        }
        AudiencePick::Plans => {
            let choices = catalog::all_plans(&a.v.ctx.db)
                .await?
                .into_iter()
                .map(|p| (p.name, AudiencePick::Plan(p.id)))
                .collect();
            return offer(a, "broadcast.pick_plan", choices).await;
        }
    };
    draft.audience = Some(chosen);
    screen(a, draft, true).await
}

/// A question with one button per choice (a language, a location, a plan).
async fn offer(a: &Admin, question: &str, choices: Vec<(String, AudiencePick)>) -> HandlerResult {
    let rows = choices
        .into_iter()
        .map(|(label, pick)| vec![button(label, AdminAction::BroadcastAudience(pick))])
        .collect::<Vec<_>>();
    a.v.say(tr(a.lang(), question), InlineKeyboardMarkup::new(rows))
        .await
}

/// The number of days typed for "expiring in" / "expired in the last".
pub async fn days(a: &Admin, mut draft: Draft, expired: bool, typed: &str) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let Some(days) = crate::text::parse_number(typed)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=broadcasts::MAX_DAYS).contains(n))
    else {
        let text = tr_with(
            lang,
            "broadcast.bad_days",
            &[("max", &broadcasts::MAX_DAYS.to_string())],
        );
        return a.v.say(text, cancel(lang)).await;
    };
    draft.audience = Some(if expired {
        Audience::Expired { days }
    } else {
        Audience::Expiring { days }
    });
    screen(a, draft, true).await
}

/// The list of Telegram ids typed or pasted.
pub async fn ids(a: &Admin, mut draft: Draft, typed: &str) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let Some(audience) = Audience::parse_ids(&crate::text::latin_digits(typed)) else {
        let text = tr_with(
            lang,
            "broadcast.bad_ids",
            &[("max", &broadcasts::MAX_IDS.to_string())],
        );
        return a.v.say(text, cancel(lang)).await;
    };
    draft.audience = Some(audience);
    screen(a, draft, true).await
}

/// A button to add under the message (or take them all away).
pub async fn extra(a: &Admin, pick: ExtraPick) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let Some(mut draft) = draft_of(a).await? else {
        return a.v.stale().await;
    };
    let lang = a.lang();
    let add = match pick {
        ExtraPick::Shop => Some(Extra::Shop),
        ExtraPick::Renew => Some(Extra::Renew),
        ExtraPick::Clear => {
            draft.buttons.clear();
            None
        }
        ExtraPick::Url => {
            a.v.set_state(State::Admin(AdminStep::BroadcastUrl(Box::new(draft))))
                .await?;
            return a.v.say(tr(lang, "broadcast.ask_url"), cancel(lang)).await;
        }
    };
    if let Some(add) = add
        && !draft.buttons.contains(&add)
        && draft.buttons.len() < broadcasts::MAX_BUTTONS
    {
        draft.buttons.push(add);
    }
    let preview = draft.audience.is_some();
    screen(a, draft, preview).await
}

/// `Label | https://…` typed for a link button.
pub async fn url(a: &Admin, mut draft: Draft, typed: &str) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let Some(extra) = Extra::parse_url(typed) else {
        return a.v.say(tr(lang, "broadcast.bad_url"), cancel(lang)).await;
    };
    if draft.buttons.len() < broadcasts::MAX_BUTTONS {
        draft.buttons.push(extra);
    }
    let preview = draft.audience.is_some();
    screen(a, draft, preview).await
}

/// Something typed while the draft screen waits for a button.
pub async fn typed_on_draft(a: &Admin, draft: Draft) -> HandlerResult {
    let lang = a.lang();
    a.v.say(tr(lang, "broadcast.use_buttons"), cancel(lang))
        .await?;
    let _ = draft;
    Ok(())
}

/// "Discard": the draft is dropped.
pub async fn discard(a: &Admin) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    a.v.set_state(State::Idle).await?;
    let lang = a.lang();
    a.v.say(
        tr(lang, "broadcast.discarded"),
        InlineKeyboardMarkup::new(vec![vec![button(
            tr(lang, "broadcast.title_short"),
            AdminAction::Broadcasts,
        )]]),
    )
    .await
}

/// "Send to N": the broadcast is made from the server's draft (the audience is read again now),
/// and its progress message is posted.
pub async fn confirm(a: &Admin) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let state = a.v.dialogue.get().await?.unwrap_or_default();
    let State::Admin(AdminStep::Broadcast(draft)) = state else {
        return a.v.stale().await;
    };
    let Some(audience) = draft.audience.clone() else {
        return a.v.stale().await;
    };
    let (lang, ctx) = (a.lang(), &a.v.ctx);
    let made = broadcasts::create(
        &ctx.db,
        a.access.who,
        &draft,
        &audience,
        ctx.clock.now(),
        ctx.default_language,
    )
    .await;
    let id = match made {
        Ok(id) => id,
        Err(BroadcastError::NoRecipients) => {
            return a.v.say(tr(lang, "broadcast.nobody"), cancel(lang)).await;
        }
        Err(BroadcastError::BadBody) => {
            let text = tr_with(
                lang,
                "broadcast.bad_body",
                &[("max", &broadcasts::MAX_TEXT.to_string())],
            );
            return a.v.say(text, cancel(lang)).await;
        }
        Err(e) => return Err(e.into()),
    };
    a.v.set_state(State::Idle).await?;
    let b = broadcasts::get(&ctx.db, id).await?;
    let p = broadcasts::progress(&ctx.db, id).await?;
    let (text, keyboard) = progress(lang, &b, &p, None);
    let posted =
        a.v.bot
            .send_message(a.v.chat, text)
            .parse_mode(ParseMode::Html)
            .reply_markup(keyboard)
            .await?;
    broadcasts::attach_progress(&ctx.db, id, a.v.chat.0, i64::from(posted.id.0)).await?;
    Ok(())
}

/// The progress message: counts, rate, time left, and what can be done now.
pub fn progress(
    lang: Language,
    b: &table::Model,
    p: &Progress,
    rate: Option<f64>,
) -> (String, InlineKeyboardMarkup) {
    let n = |x: u64| x.to_string();
    let mut text = tr_with(
        lang,
        "broadcast.progress",
        &[
            ("id", &b.id.to_string()),
            ("status", &status(lang, b.status)),
            ("total", &n(p.total)),
            ("sent", &n(p.sent)),
            ("failed", &n(p.failed)),
            ("blocked", &n(p.blocked)),
            ("left", &n(p.left)),
        ],
    );
    if let Some(rate) = rate.filter(|r| *r > 0.0) {
        let eta = (p.left as f64 / rate).ceil() as i64;
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "broadcast.rate",
            &[
                ("rate", &format!("{rate:.1}")),
                (
                    "eta",
                    &crate::text::elapsed(lang, chrono::Duration::seconds(eta)),
                ),
            ],
        ));
    }
    if p.cancelled > 0 {
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "broadcast.cancelled_n",
            &[("n", &n(p.cancelled))],
        ));
    }
    if b.revision > 0 {
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "broadcast.edited_n",
            &[("n", &n(p.revised)), ("of", &n(p.sent))],
        ));
    }
    if p.deleted > 0 {
        text.push('\n');
        text.push_str(&tr_with(
            lang,
            "broadcast.deleted_n",
            &[("n", &n(p.deleted))],
        ));
    }
    let act = |key: &str, action: AdminAction| button(tr(lang, key), action);
    let mut rows = Vec::new();
    match b.status {
        BroadcastStatus::Sending => rows.push(vec![
            act(
                "broadcast.pause",
                AdminAction::BroadcastControl(b.id, Control::Pause),
            ),
            act(
                "broadcast.cancel",
                AdminAction::BroadcastControl(b.id, Control::Cancel),
            ),
        ]),
        BroadcastStatus::Paused => rows.push(vec![
            act(
                "broadcast.resume",
                AdminAction::BroadcastControl(b.id, Control::Resume),
            ),
            act(
                "broadcast.cancel",
                AdminAction::BroadcastControl(b.id, Control::Cancel),
            ),
        ]),
        BroadcastStatus::Done | BroadcastStatus::Cancelled if p.sent > 0 => rows.push(vec![
            act("broadcast.edit", AdminAction::BroadcastEdit(b.id)),
            act(
                "broadcast.delete",
                AdminAction::BroadcastDelete(b.id, false),
            ),
        ]),
        _ => {}
    }
    rows.push(vec![act("admin.refresh", AdminAction::BroadcastShow(b.id))]);
    (text, InlineKeyboardMarkup::new(rows))
}

/// One broadcast's progress, on a screen of its own (or refreshed in place).
pub async fn show(a: &Admin, id: BroadcastId, note: Option<String>) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let ctx = &a.v.ctx;
    let b = match broadcasts::get(&ctx.db, id).await {
        Ok(b) => b,
        Err(BroadcastError::NotFound(_)) => return a.v.stale().await,
        Err(e) => return Err(e.into()),
    };
    let p = broadcasts::progress(&ctx.db, id).await?;
    let (mut text, keyboard) = progress(a.lang(), &b, &p, None);
    if let Some(note) = note {
        text = format!("{note}\n\n{text}");
    }
    a.v.show(text, keyboard).await
}

/// Pause, resume or cancel.
pub async fn control(a: &Admin, id: BroadcastId, what: Control) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let ctx = &a.v.ctx;
    let note = match broadcasts::control(&ctx.db, a.access.who, id, what, ctx.clock.now()).await {
        Ok(()) => None,
        Err(BroadcastError::WrongState(_)) => Some(tr(a.lang(), "broadcast.not_now")),
        Err(BroadcastError::NotFound(_)) => return a.v.stale().await,
        Err(e) => return Err(e.into()),
    };
    show(a, id, note).await
}

/// "Edit for everyone": asks for the new text.
pub async fn ask_edit(a: &Admin, id: BroadcastId) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    a.v.set_state(State::Admin(AdminStep::BroadcastEdit(id)))
        .await?;
    let lang = a.lang();
    a.v.say(
        tr(lang, "broadcast.ask_edit"),
        InlineKeyboardMarkup::new(vec![vec![button(
            tr(lang, "admin.customers.cancel"),
            AdminAction::BroadcastShow(id),
        )]]),
    )
    .await
}

/// The new text arrived: every sent copy is edited to it.
pub async fn edit(a: &Admin, id: BroadcastId, msg: &Message) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    let body = msg
        .html_text()
        .or_else(|| msg.html_caption())
        .or_else(|| msg.text().map(|t| escape(t).into_owned()))
        .unwrap_or_default();
    let ctx = &a.v.ctx;
    let note =
        match broadcasts::revise(&ctx.db, a.access.who, id, Some(&body), ctx.clock.now()).await {
            Ok(()) => tr(lang, "broadcast.editing"),
            Err(BroadcastError::BadBody) => {
                let text = tr_with(
                    lang,
                    "broadcast.bad_body",
                    &[("max", &broadcasts::MAX_TEXT.to_string())],
                );
                return a.v.say(text, cancel(lang)).await;
            }
            Err(BroadcastError::WrongState(_)) => tr(lang, "broadcast.not_now"),
            Err(BroadcastError::NotFound(_)) => return a.v.stale().await,
            Err(e) => return Err(e.into()),
        };
    a.v.set_state(State::Idle).await?;
    let b = broadcasts::get(&ctx.db, id).await?;
    let p = broadcasts::progress(&ctx.db, id).await?;
    let (text, keyboard) = progress(lang, &b, &p, None);
    a.v.say(format!("{note}\n\n{text}"), keyboard).await
}

/// "Delete for everyone": asks once, then does it.
pub async fn delete(a: &Admin, id: BroadcastId, sure: bool) -> HandlerResult {
    a.require(Permission::Broadcasts, WHAT).await?;
    let lang = a.lang();
    if !sure {
        let keyboard = InlineKeyboardMarkup::new(vec![
            vec![button(
                tr(lang, "broadcast.delete_sure"),
                AdminAction::BroadcastDelete(id, true),
            )],
            vec![button(
                tr(lang, "admin.customers.cancel"),
                AdminAction::BroadcastShow(id),
            )],
        ]);
        return a.v.show(tr(lang, "broadcast.delete_ask"), keyboard).await;
    }
    let ctx = &a.v.ctx;
    let note = match broadcasts::revise(&ctx.db, a.access.who, id, None, ctx.clock.now()).await {
        Ok(()) => tr(lang, "broadcast.deleting"),
        Err(BroadcastError::WrongState(_)) => tr(lang, "broadcast.not_now"),
        Err(BroadcastError::NotFound(_)) => return a.v.stale().await,
        Err(e) => return Err(e.into()),
    };
    show(a, id, Some(note)).await
}
