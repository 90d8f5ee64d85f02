//! NOWPayments: a hosted invoice per payment; IPN notices are signed (`x-nowpayments-sig`, the
//! HMAC-SHA512 of the JSON body with keys sorted at every level, keyed by the IPN secret).
//! Reconciliation lists an invoice's payments, which needs a short-lived JWT from `/auth`.
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha512;

use super::{
    Callback, Claim, CreateRequest, Created, Gateway, GatewayError, Rejected, json_of, mac_matches,
    text_of,
};
use crate::config::{Problems, lenient};
use crate::money::{Currency, Money};
use crate::payments::{Payment, Provider, Report};

pub const DEFAULT_API: &str = "https://api.nowpayments.io/v1";

/// `[payments.nowpayments]`: NOWPayments is offered when this is set.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowPaymentsSettings {
    #[serde(deserialize_with = "lenient::secret")]
    pub api_key: SecretString,
    #[serde(deserialize_with = "lenient::secret")]
    pub ipn_secret: SecretString,
    /// The account login: reconciliation lists an invoice's payments with it.
    pub email: String,
    #[serde(deserialize_with = "lenient::secret")]
    pub password: SecretString,
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The currency invoices are priced in when the shop sells in one it cannot price in
    /// (an IRT shop: `USD`); each is priced at the rate set with `/rate`.
    #[serde(default)]
    pub charge_in: Option<String>,
}

fn default_api() -> String {
    DEFAULT_API.into()
}

impl NowPaymentsSettings {
    /// The client these settings describe; what is wrong goes into `problems` under `key`.
    pub fn client(
        &self,
        key: &str,
        shop: Currency,
        http: &reqwest::Client,
        problems: &mut Problems,
    ) -> NowPayments {
        problems.url(&format!("{key}.api_url"), &self.api_url);
        let client = NowPayments {
            charge_in: None,
            api_key: self.api_key.clone(),
            ipn_secret: self.ipn_secret.clone(),
            email: self.email.clone(),
            password: self.password.clone(),
            api_base: self.api_url.clone(),
            http: http.clone(),
            session: Default::default(),
        };
        // The client says which currencies it charges; the shop must sell in one of them, or
        // name one it charges in, priced at the seller's rate.
        let mut client = client;
        client.charge_in =
            super::charge_in(key, self.charge_in.as_deref(), &client, shop, problems);
        client
    }
}

pub struct NowPayments {
    /// The currency it prices in when not the shop's.
    pub charge_in: Option<Currency>,
    pub api_key: SecretString,
    pub ipn_secret: SecretString,
    /// The account login, needed only to list an invoice's payments when reconciling.
    pub email: String,
    pub password: SecretString,
    pub api_base: String,
    pub http: reqwest::Client,
    /// The login token, reused until shortly before NOWPayments lets it expire (5 minutes):
    /// a sweep over many invoices logs in once, not once per invoice.
    pub session: Session,
}

/// A NOWPayments login token and when it was issued.
#[derive(Default)]
pub struct Session(tokio::sync::Mutex<Option<(String, std::time::Instant)>>);

/// How long a token is reused: NOWPayments' last five minutes, with a margin.
const TOKEN_REUSE: std::time::Duration = std::time::Duration::from_secs(4 * 60);

/// The JSON NOWPayments signs: the body with keys sorted at every level and no spaces, every
/// number, string and literal kept exactly as it arrived. NOWPayments signs what JavaScript's
/// `JSON.stringify` writes, which differs from a re-serialization here for small and large
/// numbers (`0.0000075`, not `7.5e-6`), so values are never parsed and written again.
pub fn canonical_json(body: &str) -> Result<String, serde_json::Error> {
    use serde_json::value::RawValue;
    use std::collections::BTreeMap;
    let text = body.trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            // Keys compare as JavaScript's `sort()` does for the ASCII keys NOWPayments uses.
            let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            let mut out = String::from("{");
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key)?);
                out.push(':');
                out.push_str(&canonical_json(value.get())?);
            }
            out.push('}');
            Ok(out)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            let items = items
                .iter()
                .map(|v| canonical_json(v.get()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("[{}]", items.join(",")))
        }
        // A number, string, `true`, `false` or `null`: as it arrived (checked to be JSON).
        _ => {
            let _: &RawValue = serde_json::from_str(text)?;
            Ok(text.to_string())
        }
    }
}

/// An exact decimal as JSON writes it (`10`, `0.0000075`, `7.5e-6`): `mantissa / 10^scale`.
fn exact(text: &str) -> Option<(i128, u32)> {
    let (base, exp) = match text.trim().split_once(['e', 'E']) {
        Some((b, e)) => (b, e.parse::<i32>().ok()?),
        None => (text.trim(), 0),
    };
    let (whole, frac) = base.split_once('.').unwrap_or((base, ""));
    if whole.starts_with('-') || !(whole.chars().chain(frac.chars())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
    let scale = i32::try_from(frac.len()).ok()? - exp;
    if scale >= 0 {
        Some((mantissa, u32::try_from(scale).ok().filter(|s| *s <= 30)?))
    } else {
        Some((
            mantissa.checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?,
            0,
        ))
    }
}

/// What a partial payment is worth in the invoice's currency, rounded down to its minor unit:
/// NOWPayments' own `actually_paid_at_fiat` when it gives one, else the invoice's price scaled
/// by the share of the coin amount that arrived. `None` when neither can be worked out exactly.
fn arrived_in_fiat(p: &Value) -> Option<(i64, String)> {
    let code = p["price_currency"].as_str()?.to_ascii_uppercase();
    let currency: crate::money::Currency = code.parse().ok()?;
    let minor_digits = currency.exponent();
    let ten = |n: u32| 10i128.checked_pow(n);
    let minor = match text_of(&p["actually_paid_at_fiat"]).and_then(|t| exact(&t)) {
        Some((m, s)) if m > 0 => m.checked_mul(ten(minor_digits)?)? / ten(s)?,
        _ => {
            let (price, ps) = exact(&text_of(&p["price_amount"])?)?;
            let (paid, ys) = exact(&text_of(&p["actually_paid"])?)?;
            let (asked, as_) = exact(&text_of(&p["pay_amount"])?)?;
            if asked <= 0 {
                return None;
            }
            // price × paid / asked, in minor units.
            let top = price
                .checked_mul(paid)?
                .checked_mul(ten(as_.checked_add(minor_digits)?)?)?;
            let bottom = asked.checked_mul(ten(ps.checked_add(ys)?)?)?;
            top / bottom
        }
    };
    Some((i64::try_from(minor).ok()?, code))
}

/// What a payment status means for the shop.
fn report_of(p: &Value) -> Option<Report> {
    let amount = || {
        let currency = p["price_currency"].as_str()?.to_ascii_uppercase();
        let money =
            Money::from_decimal(&text_of(&p["price_amount"])?, currency.parse().ok()?).ok()?;
        Some((money.minor(), currency))
    };
    Some(match p["payment_status"].as_str()? {
        "finished" => {
            let (amount_minor, currency) = amount()?;
            Report::Paid {
                amount_minor,
                currency,
            }
        }
        // What arrived, not what was asked: in the invoice's currency when it can be worked out
        // exactly, otherwise said in the coin that arrived.
        "partially_paid" => match arrived_in_fiat(p) {
            Some((amount_minor, currency)) => Report::Underpaid {
                amount_minor,
                currency,
            },
            None => Report::UnderpaidUnscaled {
                arrived: format!(
                    "{} {} of {} {}",
                    text_of(&p["actually_paid"]).unwrap_or_else(|| "?".into()),
                    p["pay_currency"]
                        .as_str()
                        .unwrap_or("?")
                        .to_ascii_uppercase(),
                    text_of(&p["pay_amount"]).unwrap_or_else(|| "?".into()),
                    p["pay_currency"]
                        .as_str()
                        .unwrap_or("?")
                        .to_ascii_uppercase(),
                ),
            },
        },
        "failed" | "expired" | "refunded" => Report::Failed,
        _ => Report::Pending,
    })
}

impl NowPayments {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base.trim_end_matches('/'))
    }

    /// The login token: the one in hand while it is fresh, else a new one.
    async fn token(&self) -> Result<String, GatewayError> {
        let mut session = self.session.0.lock().await;
        if let Some((token, issued)) = session.as_ref()
            && issued.elapsed() < TOKEN_REUSE
        {
            return Ok(token.clone());
        }
        let token = self.login().await?;
        *session = Some((token.clone(), std::time::Instant::now()));
        Ok(token)
    }

    /// Forgets the token (NOWPayments refused it before its time).
    async fn forget_token(&self) {
        *self.session.0.lock().await = None;
    }

    async fn login(&self) -> Result<String, GatewayError> {
        let resp = self
            .http
            .post(self.url("auth"))
            .json(&json!({ "email": self.email, "password": self.password.expose_secret() }))
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
        match v["token"].as_str() {
            Some(t) if status == 200 => Ok(t.to_string()),
            _ => Err(GatewayError::Refused(format!(
                "auth HTTP {status}: {}",
                v["message"].as_str().unwrap_or("")
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Gateway for NowPayments {
    /// Logs in (email and password), then lists one payment (API key and token).
    async fn verify(&self) -> Result<(), String> {
        let token = match self.token().await {
            Ok(t) => t,
            Err(GatewayError::Refused(why)) => {
                return Err(format!(
                    "payments.nowpayments.email or password was refused ({why}): use the NOWPayments account login"
                ));
            }
            Err(e) => return Err(format!("NOWPayments cannot be reached: {e}")),
        };
        let resp = self
            .http
            .get(self.url("payment/"))
            .query(&[("limit", "1"), ("page", "0")])
            .header("x-api-key", self.api_key.expose_secret())
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "NOWPayments cannot be reached: {}",
                    GatewayError::from_reqwest(e)
                )
            })?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(
                "payments.nowpayments.api_key was refused: copy it from Store Settings → API keys"
                    .into(),
            ),
            status => Err(format!("NOWPayments answered HTTP {status}")),
        }
    }

    fn provider(&self) -> Provider {
        Provider::NowPayments
    }

    fn accepts(&self, currency: Currency) -> bool {
        matches!(currency, Currency::Usd | Currency::Eur | Currency::Rub)
    }

    fn charge_currency(&self) -> Option<Currency> {
        self.charge_in
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, GatewayError> {
        let price: Value = serde_json::from_str(&req.charge.decimal())
            .map_err(|_| GatewayError::Unexpected("unwritable amount".into()))?;
        let resp = self
            .http
            .post(self.url("invoice"))
            .header("x-api-key", self.api_key.expose_secret())
            .json(&json!({
                "price_amount": price,
                "price_currency": req.charge.currency().code().to_ascii_lowercase(),
                "order_id": format!("vpnshop-{}", req.payment),
                "order_description": req.description,
                "ipn_callback_url": req.notify_url,
                "success_url": req.return_url,
                "cancel_url": req.return_url,
            }))
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
        if !(200..300).contains(&status) {
            return Err(GatewayError::Refused(format!(
                "HTTP {status} {}: {}",
                v["code"].as_str().unwrap_or(""),
                v["message"].as_str().unwrap_or("")
            )));
        }
        let id = text_of(&v["id"]).ok_or_else(|| GatewayError::Unexpected("no id".into()))?;
        let url = v["invoice_url"]
            .as_str()
            .ok_or_else(|| GatewayError::Unexpected("no invoice_url".into()))?;
        Ok(Created {
            reference: id,
            pay_url: url.to_string(),
        })
    }

    async fn check(&self, payment: &Payment) -> Result<Report, GatewayError> {
        let invoice = payment.provider_payment_id.clone().unwrap_or_default();
        let list = |token: String| {
            self.http
                .get(self.url("payment/"))
                .query(&[
                    ("invoiceId", invoice.as_str()),
                    ("limit", "100"),
                    ("page", "0"),
                ])
                .header("x-api-key", self.api_key.expose_secret())
                .bearer_auth(token)
                .send()
        };
        let resp = list(self.token().await?)
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (mut status, mut v) = json_of(resp).await?;
        if status == 401 || status == 403 {
            // The token ended early: log in again once.
            self.forget_token().await;
            let resp = list(self.token().await?)
                .await
                .map_err(GatewayError::from_reqwest)?;
            (status, v) = json_of(resp).await?;
        }
        if status != 200 {
            return Err(GatewayError::Refused(format!("list HTTP {status}")));
        }
        let reports: Vec<Report> = v["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|p| text_of(&p["invoice_id"]).as_deref() == Some(invoice.as_str()))
                    .filter_map(report_of)
                    .collect()
            })
            .unwrap_or_default();
        let paid = reports.iter().find(|r| matches!(r, Report::Paid { .. }));
        let partial = reports.iter().find(|r| {
            matches!(
                r,
                Report::Underpaid { .. } | Report::UnderpaidUnscaled { .. }
            )
        });
        Ok(match (paid, partial) {
            (Some(r), _) | (None, Some(r)) => r.clone(),
            _ if !reports.is_empty() && reports.iter().all(|r| *r == Report::Failed) => {
                Report::Failed
            }
            _ => Report::Pending,
        })
    }

    fn authenticate(&self, callback: &Callback, _now: DateTime<Utc>) -> Result<Claim, Rejected> {
        let sig = callback
            .header("x-nowpayments-sig")
            .ok_or(Rejected::MissingSignature)?;
        let text = std::str::from_utf8(&callback.body)
            .map_err(|_| Rejected::Malformed("not UTF-8".into()))?;
        let signed = canonical_json(text).map_err(|_| Rejected::Malformed("not JSON".into()))?;
        let body: Value =
            serde_json::from_str(text).map_err(|_| Rejected::Malformed("not JSON".into()))?;
        let mut mac =
            Hmac::<Sha512>::new_from_slice(self.ipn_secret.expose_secret().trim().as_bytes())
                .map_err(|_| Rejected::BadSignature)?;
        mac.update(signed.as_bytes());
        if !mac_matches(mac, sig) {
            return Err(Rejected::BadSignature);
        }
        let reference = text_of(&body["invoice_id"])
            .ok_or_else(|| Rejected::Malformed("no invoice_id".into()))?;
        let report = report_of(&body).ok_or_else(|| Rejected::Malformed("no status".into()))?;
        Ok(Claim::Signed { reference, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// $4 of a $10 invoice arrived: staff are told $4.00, not the price.
    #[test]
    fn a_partial_payment_reports_what_arrived() {
        let partial = |extra: Value| {
            let mut p = json!({
                "payment_status": "partially_paid", "price_amount": 10, "price_currency": "usd",
                "pay_amount": 0.0002, "actually_paid": 0.00008, "pay_currency": "btc",
            });
            p.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            report_of(&p)
        };
        assert_eq!(
            partial(json!({})),
            Some(Report::Underpaid {
                amount_minor: 400,
                currency: "USD".into()
            })
        );
        // NOWPayments' own fiat figure wins when it gives one.
        assert_eq!(
            partial(json!({ "actually_paid_at_fiat": 3.999 })),
            Some(Report::Underpaid {
                amount_minor: 399,
                currency: "USD".into()
            })
        );
        // Exponent notation, as a re-serialized number may be written.
        assert_eq!(exact("7.5e-6"), Some((75, 7)));
        assert_eq!(exact("1.5e3"), Some((1500, 0)));
        // An invoice in a currency the shop does not count in cannot be scaled: say what came.
        assert_eq!(
            partial(json!({ "price_currency": "gbp" })),
            Some(Report::UnderpaidUnscaled {
                arrived: "0.00008 BTC of 0.0002 BTC".into()
            })
        );
    }

    /// The vector computed with NOWPayments' own Node sample (recursive key sort).
    #[test]
    fn signs_like_nowpayments() {
        let body = r#"{"payment_status":"finished","payment_id":123456789,"price_amount":1,"price_currency":"usd","pay_amount":15,"actually_paid":15,"pay_currency":"trx","order_id":"ord-1","invoice_id":null,"fee":{"withdrawalFee":0,"serviceFee":0,"depositFee":0.09853637216235617,"currency":"btc"}}"#;
        assert_eq!(
            canonical_json(body).unwrap(),
            r#"{"actually_paid":15,"fee":{"currency":"btc","depositFee":0.09853637216235617,"serviceFee":0,"withdrawalFee":0},"invoice_id":null,"order_id":"ord-1","pay_amount":15,"pay_currency":"trx","payment_id":123456789,"payment_status":"finished","price_amount":1,"price_currency":"usd"}"#
        );
        let mut mac = Hmac::<Sha512>::new_from_slice(b"ipn_test_secret").unwrap();
        mac.update(canonical_json(body).unwrap().as_bytes());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "0a83644b95de0ae443d90a16845a60876dd9099e0a641242de20b87bbcd830b2dda7fbd123fe48f3cef6c6a3d9fbd17f0493e5e057019db025768acd304a225a"
        );
    }

    /// A real IPN for a small deposit: a fee of 0.00000075 BTC and an amount past 2^53. Body
    /// and signature made by Node (`JSON.stringify` of NOWPayments' recursive key sort, then
    /// `crypto.createHmac('sha512', secret)`), as NOWPayments makes them.
    #[test]
    fn small_and_huge_numbers_are_signed_as_they_arrived() {
        let body = r#"{"payment_id":5077125051,"payment_status":"finished","pay_address":"0xd1cDE08A07cD25adEbEd35c3867a59228C09B606","price_amount":10,"price_currency":"usd","pay_amount":0.0000075,"actually_paid":0.0000075,"pay_currency":"btc","order_id":"vpnshop-7","order_description":"Wallet top-up","purchase_id":"5837122679","created_at":"2026-11-30T06:00:00.000Z","updated_at":"2026-11-30T06:10:00.000Z","outcome_amount":12345678901234567000,"outcome_currency":"usdttrc20","invoice_id":4522625843,"fee":{"currency":"btc","depositFee":7.5e-7,"withdrawalFee":0,"serviceFee":0}}"#;
        let node_sig = "f4fe36a6dfa84b5297ec148ec1fc3e27bbf92bddeb03029793fcf6b889953bd189e7d3082a461e8a1843e4a32a955c018dbda43227e437796322b7512e85f727";
        let gateway = NowPayments {
            charge_in: None,
            api_key: SecretString::from("k".to_string()),
            ipn_secret: SecretString::from("ipn_test_secret".to_string()),
            email: String::new(),
            password: SecretString::from(String::new()),
            api_base: "http://127.0.0.1:9".into(),
            http: reqwest::Client::new(),
            session: Session::default(),
        };
        let callback = Callback {
            headers: vec![("x-nowpayments-sig".into(), node_sig.into())],
            body: body.as_bytes().to_vec(),
            ..Callback::default()
        };
        let claim = gateway.authenticate(&callback, Utc::now());
        assert!(matches!(claim, Ok(Claim::Signed { .. })), "{claim:?}");
        // The same body with one digit changed is refused.
        let forged = Callback {
            body: body.replace("0.0000075", "0.0000076").into_bytes(),
            ..callback
        };
        assert!(matches!(
            gateway.authenticate(&forged, Utc::now()),
            Err(Rejected::BadSignature)
        ));
    }
}
