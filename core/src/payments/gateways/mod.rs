//! Online payment gateways behind one trait: Zarinpal, YooKassa, NOWPayments, CryptoBot.
//!
//! A gateway opens a payment at the provider, tells whether a callback is authentic, and asks
//! the provider server-side what became of a payment. What a callback or a check reports goes
//! through [`payments::apply`], the one place money is credited, so a duplicate callback, the
//! return URL and the reconciliation job together still credit once. Nothing is trusted before
//! its signature (NOWPayments, CryptoBot) or a server-side re-fetch (Zarinpal, YooKassa) says so.
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::audit;
use crate::config::Problems;
use crate::ids::{CustomerId, OrderId, PaymentId};
use crate::ledger::LedgerError;
use crate::money::{Currency, Money};
use crate::payments::{self, Checkout, CheckoutError, Outcome, Payment, Provider, Report, rates};

pub mod cryptobot;
pub mod nowpayments;
pub mod yookassa;
pub mod zarinpal;

/// What a gateway needs to open a payment.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    pub payment: PaymentId,
    /// A key the provider remembers to make creating idempotent: the shop's identity and the
    /// payment, so a reset database or a second shop on the same provider account never reuses
    /// one (YooKassa keeps them for 24 hours).
    pub idempotence_key: String,
    pub charge: Money,
    pub description: String,
    /// Where the customer's browser comes back to.
    pub return_url: String,
    /// Where the provider posts its notices.
    pub notify_url: String,
}

/// A payment opened at the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The provider's id for it (Zarinpal authority, YooKassa id, invoice id).
    pub reference: String,
    /// Where the customer pays.
    pub pay_url: String,
}

/// An incoming callback as the HTTP server received it.
#[derive(Clone, Debug, Default)]
pub struct Callback {
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Callback {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an authentic callback says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Signed by the provider: the report can be acted on as it is.
    Signed { reference: String, report: Report },
    /// Not signed: it only names a payment, which must be checked with the provider.
    Unsigned { reference: String },
}

/// Why a callback was refused. Nothing changes; an audit row says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no signature")]
    MissingSignature,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the notice is too old ({0})")]
    Stale(String),
    #[error("not a notice this gateway sends: {0}")]
    Malformed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Timeout, connection refused, 5xx: try again later.
    #[error("the gateway is unavailable: {0}")]
    Unavailable(String),
    /// The gateway refused the request (its code and message).
    #[error("the gateway refused: {0}")]
    Refused(String),
    #[error("unexpected answer from the gateway: {0}")]
    Unexpected(String),
}

impl GatewayError {
    fn from_reqwest(e: reqwest::Error) -> Self {
        // Without the URL: it can hold a merchant id or token in its query.
        GatewayError::Unavailable(e.without_url().to_string())
    }
}

#[async_trait::async_trait]
pub trait Gateway: Send + Sync {
    fn provider(&self) -> Provider;
    /// Whether the shop's currency can be charged through this gateway.
    fn accepts(&self, currency: Currency) -> bool;
    /// What to ask at the provider for `credit` of the shop's currency.
    fn charge_for(&self, credit: Money) -> Option<Money> {
        self.accepts(credit.currency()).then_some(credit)
    }
    /// The currency it charges when the seller chose one other than the shop's
    /// (`charge_in`): each charge is then priced at the rate the seller set (`/rate`).
    fn charge_currency(&self) -> Option<Currency> {
        None
    }
    /// Whether it can be offered in a shop selling in `shop`: in its own currency, or in
    /// the one the seller chose for it.
    fn offered_in(&self, shop: Currency) -> bool {
        match self.charge_currency() {
            Some(c) if c != shop => self.accepts(c),
            _ => self.accepts(shop),
        }
    }
    async fn create(&self, req: &CreateRequest) -> Result<Created, GatewayError>;
    /// Asks the provider what became of `payment` (never trusting a callback body).
    async fn check(&self, payment: &Payment) -> Result<Report, GatewayError>;
    /// Authenticates a callback.
    fn authenticate(&self, callback: &Callback, now: DateTime<Utc>) -> Result<Claim, Rejected>;

    /// A harmless authenticated call, for `vpnshop check`: `Err` names the setting that is
    /// wrong (or says the provider cannot be reached).
    async fn verify(&self) -> Result<(), String>;
}

/// The currency a crypto gateway prices in when the shop sells in one it cannot price in:
/// `charge_in`, which it must charge (each invoice then priced at the seller's rate); `None` when
/// it prices in the shop's own, which it then must charge. What is wrong goes into `problems`.
pub(crate) fn charge_in(
    key: &str,
    charge_in: Option<&str>,
    gateway: &dyn Gateway,
    shop: Currency,
    problems: &mut Problems,
) -> Option<Currency> {
    let chosen = match charge_in {
        Some(code) => match code.parse::<Currency>() {
            Ok(c) if gateway.accepts(c) => Some(c),
            _ => {
                problems.bad(
                    &format!("{key}.charge_in"),
                    format!("`{code}` is not USD, EUR or RUB"),
                );
                None
            }
        },
        None => None,
    };
    problems.require(
        chosen.is_some() || gateway.accepts(shop),
        key,
        format!(
            "prices crypto invoices in USD, EUR or RUB; the shop sells in {shop}: set {key}.charge_in = \"USD\" and the rate with /rate USD <price in {shop}>"
        ),
    );
    chosen
}

/// A shared HTTP client with a timeout on every call.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    #[error("{0}")]
    Gateway(#[from] GatewayError),
    #[error("this gateway cannot charge {0}")]
    Currency(Currency),
    /// It charges in this currency and the seller has set no rate for it.
    #[error("no exchange rate is set for {0}")]
    NoRate(Currency),
    /// The customer has this many gateway payments open from the last day already.
    #[error("at most {0} open payments at once")]
    TooManyPending(usize),
    /// The database failed; nothing was changed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// Where the shop's HTTP server is reachable from outside.
#[derive(Clone, Debug)]
pub struct Urls {
    pub public_base: String,
}

impl Urls {
    pub fn notify(&self, provider: Provider) -> String {
        format!(
            "{}/pay/{provider}/notify",
            self.public_base.trim_end_matches('/')
        )
    }

    /// The page the browser returns to: the payment and its unguessable return token, so
    /// nobody can make the shop ask a gateway about (or show the state of) someone else's
    /// payment by trying ids.
    pub fn return_to(&self, provider: Provider, payment: PaymentId, token: &str) -> String {
        format!(
            "{}/pay/{provider}/return?payment={payment}&t={token}",
            self.public_base.trim_end_matches('/')
        )
    }
}

/// Opens a payment of `credit` (an order's due rest or a top-up) at `gateway` and returns it with
/// the URL to pay at. When the provider cannot be reached the payment is marked failed: the
/// customer picks another way, and nothing was taken.
/// What a customer wants to pay through a gateway.
#[derive(Clone, Debug)]
pub struct Purchase {
    pub customer: CustomerId,
    /// The order whose rest this pays; `None`: a wallet top-up.
    pub order: Option<OrderId>,
    /// What the wallet is credited, in the shop's currency.
    pub credit: Money,
    pub description: String,
}

pub async fn checkout(
    db: &DatabaseConnection,
    gateway: &dyn Gateway,
    urls: &Urls,
    purchase: Purchase,
    max_pending: usize,
    now: DateTime<Utc>,
) -> Result<(Checkout, String), PayError> {
    let Purchase {
        customer,
        order,
        credit,
        description,
    } = purchase;
    // Every open checkout is one more payment reconciliation asks about: a customer (or a
    // script) cannot open them without end.
    if payments::open_at_gateways(db, customer, now - chrono::Duration::days(1)).await?
        >= max_pending as u64
    {
        return Err(PayError::TooManyPending(max_pending));
    }
    let charge = match gateway
        .charge_currency()
        .filter(|c| *c != credit.currency())
    {
        Some(foreign) => rates::get(db, foreign, credit.currency())
            .await?
            .and_then(|r| r.charge_for(credit))
            .ok_or(PayError::NoRate(foreign))?,
        None => gateway
            .charge_for(credit)
            .ok_or(PayError::Currency(credit.currency()))?,
    };
    let provider = gateway.provider();
    let return_token = uuid::Uuid::new_v4().simple().to_string();
    let checkout = payments::open(
        db,
        provider,
        customer,
        order,
        charge,
        credit,
        serde_json::json!({ RETURN_TOKEN: return_token }),
        now,
    )
    .await?;
    let shop = crate::shop::identity(db).await?;
    let req = CreateRequest {
        idempotence_key: format!("vpnshop-{shop}-payment-{}", checkout.payment),
        payment: checkout.payment,
        charge,
        description,
        return_url: urls.return_to(provider, checkout.payment, &return_token),
        notify_url: urls.notify(provider),
    };
    match gateway.create(&req).await {
        Ok(created) => {
            payments::attach_reference(
                db,
                checkout.payment,
                &created.reference,
                Some(&created.pay_url),
                now,
            )
            .await?;
            Ok((checkout, created.pay_url))
        }
        Err(e) => {
            tracing::warn!(provider = %provider, payment = %checkout.payment, error = %e, "cannot open a payment");
            payments::fail_unopened(db, checkout.payment, now).await?;
            Err(e.into())
        }
    }
}

/// Handles one callback: authenticate, check with the provider when it is not signed, apply.
/// A refused callback writes an audit row and changes nothing else. The caller answers 2xx only
/// when this returns `Ok` (the effect is committed).
pub async fn on_callback(
    db: &DatabaseConnection,
    gateway: &dyn Gateway,
    callback: &Callback,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejected>, CallbackError> {
    let provider = gateway.provider();
    let claim = match gateway.authenticate(callback, now) {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(provider = %provider, reason = %why, "callback refused");
            // A flood of forged notices must not fill the audit log: the first refusal of a
            // minute is written, the rest of that minute as one count.
            let shop = crate::shop::identity(db).await?;
            for (minute, count) in refusals::count(&format!("{shop}:{provider}"), now) {
                let details = match count {
                    None => why.to_string(),
                    Some(n) => format!("{n} more refused in the minute from {minute}"),
                };
                audit::record(
                    db,
                    None,
                    &format!("payment.callback.refused.{provider}"),
                    None,
                    details,
                    now,
                )
                .await?;
            }
            return Ok(Err(why));
        }
    };
    let (reference, report) = match claim {
        Claim::Signed { reference, report } => (reference, report),
        Claim::Unsigned { reference } => {
            let Some(row) = payments::by_reference(db, provider, &reference).await? else {
                audit::record(
                    db,
                    None,
                    &format!("payment.callback.unknown.{provider}"),
                    None,
                    "no payment of ours has this reference".into(),
                    now,
                )
                .await?;
                return Ok(Ok(Outcome::Unknown));
            };
            let report = gateway.check(&row).await?;
            (reference, report)
        }
    };
    let outcome = payments::apply(db, provider, &reference, &report, now).await?;
    if outcome == Outcome::Unknown {
        audit::record(
            db,
            None,
            &format!("payment.callback.unknown.{provider}"),
            None,
            "no payment of ours has this reference".into(),
            now,
        )
        .await?;
    }
    Ok(Ok(outcome))
}

/// Checks one payment with its provider and applies what it says (the return URL, the
/// customer's "I have paid" button, reconciliation).
pub async fn check_one(
    db: &DatabaseConnection,
    gateway: &dyn Gateway,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<Outcome, CallbackError> {
    let Some(reference) = payment.provider_payment_id.as_deref() else {
        return Ok(Outcome::Unknown);
    };
    let report = gateway.check(payment).await?;
    Ok(payments::apply(db, payment.provider, reference, &report, now).await?)
}

/// The customer's browser came back from the gateway (its query names our payment, which proves
/// nothing): the payment is checked with the provider. `None`: no such payment of this gateway.
pub async fn on_return(
    db: &DatabaseConnection,
    gateway: &dyn Gateway,
    payment: PaymentId,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(Payment, Outcome)>, CallbackError> {
    let Some(row) = payments::get(db, payment)
        .await?
        .filter(|p| p.provider == gateway.provider())
        .filter(|p| return_token_matches(p, token))
    else {
        return Ok(None);
    };
    let outcome = check_one(db, gateway, &row, now).await?;
    Ok(Some((row, outcome)))
}

/// Refused callbacks per provider and minute, kept in memory between audit rows.
mod refusals {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};

    use chrono::{DateTime, Timelike, Utc};

    /// The minute being counted and how many came after its first.
    type Counting = (DateTime<Utc>, u64);

    /// Per shop and provider.
    static MINUTES: LazyLock<Mutex<HashMap<String, Counting>>> = LazyLock::new(Default::default);

    /// What to write for a refusal now: nothing when it only adds to this minute's count;
    /// the last minute's count (if any came after its first) and this one (`None`: write it
    /// with its reason) when a new minute begins.
    pub fn count(key: &str, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, Option<u64>)> {
        let minute = now
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(now);
        let mut minutes = MINUTES.lock().expect("not poisoned");
        match minutes.get_mut(key) {
            Some((m, more)) if *m == minute => {
                *more += 1;
                Vec::new()
            }
            previous => {
                let mut rows = Vec::new();
                if let Some((m, more)) = previous
                    && *more > 0
                {
                    rows.push((*m, Some(*more)));
                }
                rows.push((minute, None));
                minutes.insert(key.to_string(), (minute, 0));
                rows
            }
        }
    }
}

/// Where a payment keeps the token its return URL carries.
const RETURN_TOKEN: &str = "return_token";

/// Whether `token` is the payment's return token (payments opened before tokens existed have
/// none and take any).
pub fn return_token_matches(payment: &Payment, token: Option<&str>) -> bool {
    match payments::details_of(payment)[RETURN_TOKEN].as_str() {
        Some(expected) => token.is_some_and(|t| {
            use subtle_eq::eq;
            eq(t.as_bytes(), expected.as_bytes())
        }),
        None => true,
    }
}

/// Comparison that takes as long whatever the bytes: a token is not found one byte at a time.
mod subtle_eq {
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// At most this many payments per gateway are asked about in one sweep; the rest wait for the
/// next, longest unasked first.
pub const CHECKS_PER_SWEEP: usize = 50;

/// Asks each gateway about its payments still pending after `grace` (and younger than
/// `horizon`): a lost callback, or a bot that was down for hours, still ends credited once.
/// Returns how many were credited. One gateway being down does not stop the others.
pub async fn reconcile(
    db: &DatabaseConnection,
    gateways: &[&dyn Gateway],
    grace: chrono::Duration,
    horizon: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    let mut credited = 0;
    for gateway in gateways {
        let provider = gateway.provider();
        let pending = payments::due_for_check(
            db,
            provider,
            now - horizon,
            now - grace,
            CHECKS_PER_SWEEP,
            now,
        )
        .await?;
        for payment in pending {
            payments::mark_checked(db, payment.id, now).await?;
            match check_one(db, *gateway, &payment, now).await {
                Ok(Outcome::Credited(_)) => credited += 1,
                Ok(_) => {}
                Err(CallbackError::Db(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(provider = %provider, payment = %payment.id, error = %e, "reconciliation could not check a payment");
                }
            }
        }
    }
    Ok(credited)
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<LedgerError> for CallbackError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Db(e) => CallbackError::Db(e),
            other => CallbackError::Db(DbErr::Custom(other.to_string())),
        }
    }
}

/// Reads a JSON answer, naming the status and a short excerpt when it is not what was expected.
async fn json_of(resp: reqwest::Response) -> Result<(u16, serde_json::Value), GatewayError> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(GatewayError::from_reqwest)?;
    if status >= 500 {
        return Err(GatewayError::Unavailable(format!("HTTP {status}")));
    }
    let value = serde_json::from_slice(&bytes).map_err(|_| {
        let excerpt: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
        GatewayError::Unexpected(format!("HTTP {status}: {excerpt}"))
    })?;
    Ok((status, value))
}

/// A JSON value as text, whether the provider sent a string or a number.
fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `given_hex` is the MAC of what was fed to `mac` (compared in constant time).
fn mac_matches<M: hmac::Mac>(mac: M, given_hex: &str) -> bool {
    hex::decode(given_hex.trim()).is_ok_and(|given| mac.verify_slice(&given).is_ok())
}
