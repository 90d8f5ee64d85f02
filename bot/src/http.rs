//! The bot's HTTP endpoints besides the Telegram webhook: `/health`, `/metrics`, and the payment gateways'
//! callbacks (`POST /pay/{provider}/notify`) and return pages (`GET /pay/{provider}/return`).
//! A callback is answered 2xx only once its effect is committed; a refused one gets 4xx and
//! changes nothing but the audit log; a gateway or database failure gets 5xx so it is retried.
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use vpnshop_core::ids::PaymentId;
use vpnshop_core::payments::gateways::{self, Callback, CallbackError, Rejected};
use vpnshop_core::payments::{self, PaymentStatus, Provider};

use crate::ctx::Ctx;
use crate::text::{escape, tr};

/// At most this many requests are served at once; more wait their turn for a few seconds, then
/// get 503 (gateways retry).
const MAX_IN_FLIGHT: usize = 64;
const MAX_WAIT: Duration = Duration::from_secs(10);
/// A request still unanswered after this gets 504 (its work is rolled back; a gateway retries).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(ctx: Arc<Ctx>) -> Router {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(|| async { crate::metrics::render() }))
        .route("/pay/{provider}/notify", post(notify))
        .route("/pay/{provider}/return", get(return_page))
        .with_state(ctx)
        .layer(axum::middleware::from_fn_with_state(in_flight, bounded))
}

/// A flood of requests (forged notices, a crawler on the return page) cannot pile up without
/// end, and none hangs forever on a slow gateway.
async fn bounded(
    State(in_flight): State<Arc<tokio::sync::Semaphore>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(Ok(_permit)) = tokio::time::timeout(MAX_WAIT, in_flight.acquire()).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

fn callback_of(headers: &HeaderMap, query: Vec<(String, String)>, body: Bytes) -> Callback {
    Callback {
        headers: headers
            .iter()
            .filter_map(|(n, v)| {
                Some((
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect(),
        query,
        body: body.to_vec(),
    }
}

async fn notify(
    State(ctx): State<Arc<Ctx>>,
    Path(provider): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(gateway) = Provider::parse(&provider).and_then(|p| ctx.payments.gateway(p)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let callback = callback_of(&headers, query, body);
    match gateways::on_callback(&ctx.db, gateway, &callback, ctx.clock.now()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok").into_response(),
        Ok(Err(Rejected::MissingSignature | Rejected::BadSignature)) => {
            StatusCode::UNAUTHORIZED.into_response()
        }
        Ok(Err(_)) => StatusCode::BAD_REQUEST.into_response(),
        Err(CallbackError::Gateway(e)) => {
            tracing::warn!(provider, error = %e, "cannot confirm a callback with its gateway");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(CallbackError::Db(e)) => {
            tracing::error!(provider, error = %e, "cannot record a callback");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct ReturnQuery {
    payment: Option<i64>,
    /// The payment's return token: without it the page knows nothing of the payment.
    t: Option<String>,
}

/// Where the customer's browser lands after paying: the payment is checked with the gateway
/// right away (so the wallet is credited even if the callback is late), and the page sends
/// them back to the bot.
async fn return_page(
    State(ctx): State<Arc<Ctx>>,
    Path(provider): Path<String>,
    Query(q): Query<ReturnQuery>,
) -> Response {
    let lang = ctx.default_language;
    let (Some(gateway), Some(payment)) = (
        Provider::parse(&provider).and_then(|p| ctx.payments.gateway(p)),
        q.payment,
    ) else {
        return page(&ctx, StatusCode::NOT_FOUND, tr(lang, "web.unknown"));
    };
    let checked = gateways::on_return(
        &ctx.db,
        gateway,
        PaymentId::new(payment),
        q.t.as_deref(),
        ctx.clock.now(),
    )
    .await;
    match checked {
        Ok(None) => return page(&ctx, StatusCode::NOT_FOUND, tr(lang, "web.unknown")),
        Ok(Some(_)) => {}
        // The page still says where things stand; reconciliation finishes the check.
        Err(e) => tracing::warn!(provider, error = %e, "cannot check a returning payment"),
    }
    // What the payment is now (whoever settled it: this check, a callback, reconciliation).
    let now = payments::get(&ctx.db, PaymentId::new(payment))
        .await
        .ok()
        .flatten()
        .filter(|p| gateways::return_token_matches(p, q.t.as_deref()));
    let Some(now) = now else {
        return page(&ctx, StatusCode::NOT_FOUND, tr(lang, "web.unknown"));
    };
    let key = match Some(now.status) {
        Some(PaymentStatus::Paid) => "web.paid",
        Some(PaymentStatus::Review) => "web.review",
        Some(PaymentStatus::Failed) => "web.failed",
        _ => "web.pending",
    };
    page(&ctx, StatusCode::OK, tr(lang, key))
}

fn page(ctx: &Ctx, status: StatusCode, message: String) -> Response {
    let lang = ctx.default_language;
    let back = format!("https://t.me/{}", ctx.bot_username);
    let dir = if lang.code() == "fa" { "rtl" } else { "ltr" };
    let body = format!(
        "<!doctype html><html lang=\"{}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title></head><body style=\"font-family:sans-serif;max-width:30em;margin:3em auto;text-align:center\">\
         <h2>{}</h2><p>{}</p><p><a href=\"{}\">{}</a></p></body></html>",
        lang.code(),
        escape(&ctx.shop_name),
        escape(&ctx.shop_name),
        message,
        escape(&back),
        tr(lang, "web.back"),
    );
    (status, Html(body)).into_response()
}
