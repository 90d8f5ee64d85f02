//! Zarinpal v4: request → authority → the customer pays at StartPay → verify. The return to the
//! shop carries no signature, so only a server-side inquiry + verify with the stored amount
//! counts (verify answers 100, or 101 when it was verified before).
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{Callback, Claim, CreateRequest, Created, Gateway, GatewayError, Rejected, json_of};
use crate::config::{Problems, lenient};
use crate::money::{Currency, Money};
use crate::payments::{Payment, Provider, Report};

pub const DEFAULT_API: &str = "https://payment.zarinpal.com";

/// `[payments.zarinpal]`: Zarinpal is offered when this is set.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZarinpalSettings {
    #[serde(deserialize_with = "lenient::secret")]
    pub merchant_id: SecretString,
    /// What Zarinpal is asked in: `IRR` (its default) or `IRT`.
    #[serde(default = "irr")]
    pub currency: String,
    #[serde(default = "default_api")]
    pub api_url: String,
}

fn irr() -> String {
    "IRR".into()
}

fn default_api() -> String {
    DEFAULT_API.into()
}

impl ZarinpalSettings {
    /// The client these settings describe; what is wrong goes into `problems` under `key`.
    pub fn client(
        &self,
        key: &str,
        shop: Currency,
        http: &reqwest::Client,
        problems: &mut Problems,
    ) -> Zarinpal {
        problems.url(&format!("{key}.api_url"), &self.api_url);
        let currency = match self.currency.as_str() {
            "IRT" => Currency::Irt,
            "IRR" => Currency::Irr,
            _ => {
                problems.bad(&format!("{key}.currency"), "is `IRR` or `IRT`");
                Currency::Irr
            }
        };
        let client = Zarinpal {
            merchant_id: self.merchant_id.clone(),
            currency,
            api_base: self.api_url.clone(),
            http: http.clone(),
        };
        // The client says which currencies it charges; the shop must sell in one of them.
        problems.require(
            client.accepts(shop),
            key,
            format!("Zarinpal charges rial; the shop sells in {shop}"),
        );
        client
    }
}

pub struct Zarinpal {
    pub merchant_id: SecretString,
    /// What Zarinpal is asked in: rial (its default) or toman.
    pub currency: Currency,
    /// `https://payment.zarinpal.com`, `https://sandbox.zarinpal.com`, or a local fake.
    pub api_base: String,
    pub http: reqwest::Client,
}

impl Zarinpal {
    async fn call(&self, method: &str, mut body: Value) -> Result<Value, GatewayError> {
        body["merchant_id"] = self.merchant_id.expose_secret().into();
        let url = format!(
            "{}/pg/v4/payment/{method}.json",
            self.api_base.trim_end_matches('/')
        );
        let resp = self
            .http
            .post(url)
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (_, v) = json_of(resp).await?;
        Ok(v)
    }

    /// `data.code` when the call succeeded, else the error code and message.
    fn code_of(v: &Value) -> Result<i64, (i64, String)> {
        let data_code = v["data"]["code"]
            .as_i64()
            .or_else(|| v["data"]["code"].as_str().and_then(|c| c.parse().ok()));
        match data_code {
            Some(code) => Ok(code),
            None => Err((
                v["errors"]["code"].as_i64().unwrap_or(0),
                v["errors"]["message"].as_str().unwrap_or("").to_string(),
            )),
        }
    }
}

#[async_trait::async_trait]
impl Gateway for Zarinpal {
    /// Lists the unverified payments, which only the merchant may do.
    async fn verify(&self) -> Result<(), String> {
        match self.call("unVerified", serde_json::json!({})).await {
            Ok(v) => match Self::code_of(&v) {
                Ok(_) => Ok(()),
                Err((code, message)) => Err(format!(
                    "payments.zarinpal.merchant_id was refused ({code} {message}): copy the merchant id from your Zarinpal panel"
                )),
            },
            Err(e) => Err(format!("Zarinpal cannot be reached: {e}")),
        }
    }

    fn provider(&self) -> Provider {
        Provider::Zarinpal
    }

    fn accepts(&self, currency: Currency) -> bool {
        matches!(currency, Currency::Irr | Currency::Irt)
    }

    fn charge_for(&self, credit: Money) -> Option<Money> {
        let minor = match (credit.currency(), self.currency) {
            (a, b) if a == b => credit.minor(),
            (Currency::Irt, Currency::Irr) => credit.minor().checked_mul(10)?,
            // Whole toman, rounded up: the customer never pays less than asked.
            (Currency::Irr, Currency::Irt) => (credit.minor() + 9) / 10,
            _ => return None,
        };
        Money::new(minor, self.currency).ok()
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, GatewayError> {
        let v = self
            .call(
                "request",
                json!({
                    "amount": req.charge.minor(),
                    "currency": req.charge.currency().code(),
                    "description": req.description,
                    "callback_url": req.return_url,
                    "metadata": { "order_id": req.payment.to_string() },
                }),
            )
            .await?;
        match Self::code_of(&v) {
            Ok(100) => {
                let authority = v["data"]["authority"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| GatewayError::Unexpected("no authority".into()))?;
                Ok(Created {
                    reference: authority.to_string(),
                    pay_url: format!(
                        "{}/pg/StartPay/{authority}",
                        self.api_base.trim_end_matches('/')
                    ),
                })
            }
            Ok(code) => Err(GatewayError::Refused(format!("code {code}"))),
            Err((code, message)) => Err(GatewayError::Refused(format!("{code}: {message}"))),
        }
    }

    async fn check(&self, payment: &Payment) -> Result<Report, GatewayError> {
        let authority = payment.provider_payment_id.clone().unwrap_or_default();
        let inquiry = self
            .call("inquiry", json!({ "authority": authority }))
            .await?;
        match Self::code_of(&inquiry) {
            Ok(100) => {}
            Ok(code) => return Err(GatewayError::Refused(format!("inquiry code {code}"))),
            Err((code, message)) => {
                return Err(GatewayError::Refused(format!("inquiry {code}: {message}")));
            }
        }
        match inquiry["data"]["status"].as_str().unwrap_or("") {
            "PAID" | "VERIFIED" => {}
            "IN_BANK" => return Ok(Report::Pending),
            "FAILED" | "REVERSED" => return Ok(Report::Failed),
            other => return Err(GatewayError::Unexpected(format!("inquiry status {other}"))),
        }
        let verify = self
            .call(
                "verify",
                json!({ "amount": payment.amount_minor, "authority": authority }),
            )
            .await?;
        match Self::code_of(&verify) {
            Ok(100 | 101) => Ok(Report::Paid {
                amount_minor: payment.amount_minor,
                currency: payment.currency.code().to_string(),
            }),
            // Paid, but not the amount this payment asked: staff review.
            Err((-50, _)) => Ok(Report::Underpaid {
                amount_minor: 0,
                currency: payment.currency.code().to_string(),
            }),
            Err((-51, _)) => Ok(Report::Failed),
            Ok(code) => Err(GatewayError::Refused(format!("verify code {code}"))),
            Err((code, message)) => Err(GatewayError::Refused(format!("verify {code}: {message}"))),
        }
    }

    fn authenticate(&self, callback: &Callback, _now: DateTime<Utc>) -> Result<Claim, Rejected> {
        let authority = callback
            .query("Authority")
            .filter(|a| !a.is_empty() && a.len() <= 64)
            .ok_or_else(|| Rejected::Malformed("no Authority".into()))?;
        Ok(Claim::Unsigned {
            reference: authority.to_string(),
        })
    }
}
