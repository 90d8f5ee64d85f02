//! YooKassa (API v3): payments are created with an `Idempotence-Key` made of the shop's identity and our payment id,
//! so a create retried after a crash returns the same payment. Notifications are not signed:
//! they only name a payment, which is re-fetched with `GET /payments/{id}` and acted on as the
//! API says.
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{
    Callback, Claim, CreateRequest, Created, Gateway, GatewayError, Rejected, json_of, text_of,
};
use crate::config::{Problems, lenient};
use crate::money::{Currency, Money};
use crate::payments::{Payment, Provider, Report};

pub const DEFAULT_API: &str = "https://api.yookassa.ru/v3";

/// `[payments.yookassa]`: YooKassa is offered when this is set.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YooKassaSettings {
    #[serde(deserialize_with = "lenient::text")]
    pub shop_id: String,
    #[serde(deserialize_with = "lenient::secret")]
    pub secret_key: SecretString,
    #[serde(default = "default_api")]
    pub api_url: String,
}

fn default_api() -> String {
    DEFAULT_API.into()
}

impl YooKassaSettings {
    /// The client these settings describe; what is wrong goes into `problems` under `key`.
    pub fn client(
        &self,
        key: &str,
        shop: Currency,
        http: &reqwest::Client,
        problems: &mut Problems,
    ) -> YooKassa {
        problems.url(&format!("{key}.api_url"), &self.api_url);
        let client = YooKassa {
            shop_id: self.shop_id.clone(),
            secret_key: self.secret_key.clone(),
            api_base: self.api_url.clone(),
            http: http.clone(),
        };
        // The client says which currencies it charges; the shop must sell in one of them.
        problems.require(
            client.accepts(shop),
            key,
            format!("YooKassa is set up for RUB here; the shop sells in {shop}"),
        );
        client
    }
}

pub struct YooKassa {
    pub shop_id: String,
    pub secret_key: SecretString,
    pub api_base: String,
    pub http: reqwest::Client,
}

impl YooKassa {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base.trim_end_matches('/'))
    }

    fn refused(status: u16, v: &Value) -> GatewayError {
        GatewayError::Refused(format!(
            "HTTP {status} {}: {}",
            v["code"].as_str().unwrap_or(""),
            v["description"].as_str().unwrap_or("")
        ))
    }
}

#[async_trait::async_trait]
impl Gateway for YooKassa {
    /// `GET /me`: which shop the credentials belong to.
    async fn verify(&self) -> Result<(), String> {
        let resp = self
            .http
            .get(self.url("me"))
            .basic_auth(&self.shop_id, Some(self.secret_key.expose_secret()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "YooKassa cannot be reached: {}",
                    GatewayError::from_reqwest(e)
                )
            })?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(
                "payments.yookassa.shop_id or secret_key was refused: copy both from the YooKassa merchant profile (Integration → API keys)"
                    .into(),
            ),
            status => Err(format!("YooKassa answered HTTP {status}")),
        }
    }

    fn provider(&self) -> Provider {
        Provider::YooKassa
    }

    fn accepts(&self, currency: Currency) -> bool {
        currency == Currency::Rub
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, GatewayError> {
        let resp = self
            .http
            .post(self.url("payments"))
            .basic_auth(&self.shop_id, Some(self.secret_key.expose_secret()))
            .header("Idempotence-Key", &req.idempotence_key)
            .json(&json!({
                "amount": { "value": req.charge.decimal(), "currency": req.charge.currency().code() },
                "capture": true,
                "confirmation": { "type": "redirect", "return_url": req.return_url },
                "description": req.description.chars().take(128).collect::<String>(),
                "metadata": { "payment_id": req.payment.to_string() },
            }))
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
        if status != 200 {
            return Err(Self::refused(status, &v));
        }
        let id = v["id"]
            .as_str()
            .ok_or_else(|| GatewayError::Unexpected("no payment id".into()))?;
        let url = v["confirmation"]["confirmation_url"]
            .as_str()
            .ok_or_else(|| GatewayError::Unexpected("no confirmation_url".into()))?;
        Ok(Created {
            reference: id.to_string(),
            pay_url: url.to_string(),
        })
    }

    async fn check(&self, payment: &Payment) -> Result<Report, GatewayError> {
        let id = payment.provider_payment_id.clone().unwrap_or_default();
        let resp = self
            .http
            .get(self.url(&format!("payments/{id}")))
            .basic_auth(&self.shop_id, Some(self.secret_key.expose_secret()))
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
        if status != 200 {
            return Err(Self::refused(status, &v));
        }
        if v["id"].as_str() != Some(id.as_str()) {
            return Err(GatewayError::Unexpected("another payment came back".into()));
        }
        Ok(match v["status"].as_str().unwrap_or("") {
            "succeeded" => {
                let currency = v["amount"]["currency"].as_str().unwrap_or("").to_string();
                let amount = text_of(&v["amount"]["value"])
                    .zip(currency.parse::<Currency>().ok())
                    .and_then(|(value, c)| Money::from_decimal(&value, c).ok())
                    .ok_or_else(|| GatewayError::Unexpected("unreadable amount".into()))?;
                Report::Paid {
                    amount_minor: amount.minor(),
                    currency,
                }
            }
            "canceled" => Report::Failed,
            "pending" | "waiting_for_capture" => Report::Pending,
            other => return Err(GatewayError::Unexpected(format!("status {other}"))),
        })
    }

    fn authenticate(&self, callback: &Callback, _now: DateTime<Utc>) -> Result<Claim, Rejected> {
        let v: Value = serde_json::from_slice(&callback.body)
            .map_err(|_| Rejected::Malformed("not JSON".into()))?;
        if v["type"] != "notification" {
            return Err(Rejected::Malformed("not a notification".into()));
        }
        let id = v["object"]["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 64)
            .ok_or_else(|| Rejected::Malformed("no object.id".into()))?;
        Ok(Claim::Unsigned {
            reference: id.to_string(),
        })
    }
}
