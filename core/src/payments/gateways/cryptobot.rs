//! CryptoBot (Crypto Pay API): fiat-priced invoices paid in crypto inside Telegram. Webhook
//! updates are signed: `crypto-pay-api-signature` is the hex HMAC-SHA256 of the raw body keyed
//! by the SHA-256 of the app token. Updates older than an hour are refused (reconciliation, which
//! asks `getInvoices`, still credits them).
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    Callback, Claim, CreateRequest, Created, Gateway, GatewayError, Rejected, json_of, mac_matches,
    text_of,
};
use crate::config::{Problems, lenient};
use crate::money::{Currency, Money};
use crate::payments::{Payment, Provider, Report};

pub const DEFAULT_API: &str = "https://pay.crypt.bot/api";

/// How old a signed update may be.
pub const MAX_AGE_MINUTES: i64 = 60;

/// `[payments.cryptobot]`: Crypto Pay (@CryptoBot) is offered when this is set.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoBotSettings {
    /// The Crypto Pay app token (from @CryptoBot → Crypto Pay → My Apps).
    #[serde(deserialize_with = "lenient::secret")]
    pub token: SecretString,
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

impl CryptoBotSettings {
    /// The client these settings describe; what is wrong goes into `problems` under `key`.
    pub fn client(
        &self,
        key: &str,
        shop: Currency,
        http: &reqwest::Client,
        problems: &mut Problems,
    ) -> CryptoBot {
        problems.url(&format!("{key}.api_url"), &self.api_url);
        let client = CryptoBot {
            charge_in: None,
            token: self.token.clone(),
            api_base: self.api_url.clone(),
            http: http.clone(),
        };
        // The client says which currencies it charges; the shop must sell in one of them, or
        // name one it charges in, priced at the seller's rate.
        let mut client = client;
        client.charge_in =
            super::charge_in(key, self.charge_in.as_deref(), &client, shop, problems);
        client
    }
}

pub struct CryptoBot {
    /// The currency it prices in when not the shop's.
    pub charge_in: Option<Currency>,
    pub token: SecretString,
    pub api_base: String,
    pub http: reqwest::Client,
}

fn report_of(invoice: &Value) -> Option<Report> {
    Some(match invoice["status"].as_str()? {
        "paid" => {
            let currency = invoice["fiat"].as_str()?.to_string();
            let amount =
                Money::from_decimal(&text_of(&invoice["amount"])?, currency.parse().ok()?).ok()?;
            Report::Paid {
                amount_minor: amount.minor(),
                currency,
            }
        }
        "expired" => Report::Failed,
        _ => Report::Pending,
    })
}

impl CryptoBot {
    async fn call(&self, method: &str, body: Value) -> Result<Value, GatewayError> {
        let resp = self
            .http
            .post(format!("{}/{method}", self.api_base.trim_end_matches('/')))
            .header("Crypto-Pay-API-Token", self.token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
        if v["ok"] == true {
            Ok(v["result"].clone())
        } else {
            Err(GatewayError::Refused(format!(
                "HTTP {status} {}",
                v["error"]["name"].as_str().unwrap_or("")
            )))
        }
    }
}

#[async_trait::async_trait]
impl Gateway for CryptoBot {
    async fn verify(&self) -> Result<(), String> {
        match self.call("getMe", serde_json::json!({})).await {
            Ok(_) => Ok(()),
            Err(GatewayError::Refused(why)) => Err(format!(
                "payments.cryptobot.token was refused ({why}): copy the app token again from @CryptoBot → Crypto Pay → My Apps"
            )),
            Err(e) => Err(format!("Crypto Pay cannot be reached: {e}")),
        }
    }

    fn provider(&self) -> Provider {
        Provider::CryptoBot
    }

    fn accepts(&self, currency: Currency) -> bool {
        matches!(currency, Currency::Usd | Currency::Eur | Currency::Rub)
    }

    fn charge_currency(&self) -> Option<Currency> {
        self.charge_in
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, GatewayError> {
        let invoice = self
            .call(
                "createInvoice",
                json!({
                    "currency_type": "fiat",
                    "fiat": req.charge.currency().code(),
                    "amount": req.charge.decimal(),
                    "description": req.description.chars().take(1024).collect::<String>(),
                    "payload": format!("vpnshop:{}", req.payment),
                    "expires_in": 86_400,
                }),
            )
            .await?;
        let id = text_of(&invoice["invoice_id"])
            .ok_or_else(|| GatewayError::Unexpected("no invoice_id".into()))?;
        let url = invoice["bot_invoice_url"]
            .as_str()
            .or(invoice["pay_url"].as_str())
            .ok_or_else(|| GatewayError::Unexpected("no bot_invoice_url".into()))?;
        Ok(Created {
            reference: id,
            pay_url: url.to_string(),
        })
    }

    async fn check(&self, payment: &Payment) -> Result<Report, GatewayError> {
        let id = payment.provider_payment_id.clone().unwrap_or_default();
        let result = self
            .call("getInvoices", json!({ "invoice_ids": id }))
            .await?;
        let items = result["items"].as_array().cloned().unwrap_or_default();
        let invoice = items
            .iter()
            .find(|i| text_of(&i["invoice_id"]).as_deref() == Some(id.as_str()))
            .ok_or_else(|| GatewayError::Refused(format!("invoice {id} is unknown")))?;
        report_of(invoice).ok_or_else(|| GatewayError::Unexpected("unreadable invoice".into()))
    }

    fn authenticate(&self, callback: &Callback, now: DateTime<Utc>) -> Result<Claim, Rejected> {
        let sig = callback
            .header("crypto-pay-api-signature")
            .ok_or(Rejected::MissingSignature)?;
        let key = Sha256::digest(self.token.expose_secret().as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| Rejected::BadSignature)?;
        mac.update(&callback.body);
        if !mac_matches(mac, sig) {
            return Err(Rejected::BadSignature);
        }
        let update: Value = serde_json::from_slice(&callback.body)
            .map_err(|_| Rejected::Malformed("not JSON".into()))?;
        if update["update_type"] != "invoice_paid" {
            return Err(Rejected::Malformed("not invoice_paid".into()));
        }
        let sent = update["request_date"]
            .as_str()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            .ok_or_else(|| Rejected::Malformed("no request_date".into()))?;
        if now - sent.with_timezone(&Utc) > Duration::minutes(MAX_AGE_MINUTES) {
            return Err(Rejected::Stale(sent.to_rfc3339()));
        }
        let invoice = &update["payload"];
        let reference = text_of(&invoice["invoice_id"])
            .ok_or_else(|| Rejected::Malformed("no invoice_id".into()))?;
        let report = report_of(invoice).ok_or_else(|| Rejected::Malformed("no status".into()))?;
        Ok(Claim::Signed { reference, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector computed with Crypto Pay's own Node sample.
    #[test]
    fn signs_like_crypto_pay() {
        let token = "1234:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        let body = r#"{"update_id":1,"update_type":"invoice_paid","request_date":"2024-01-01T00:00:00.000Z","payload":{"invoice_id":42,"hash":"IVabc","currency_type":"crypto","asset":"USDT","amount":"1.5","status":"paid"}}"#;
        let key = Sha256::digest(token.as_bytes());
        assert_eq!(
            hex::encode(key),
            "688010a8020ecac1a78eac4cb7f49e7b45353f53f6a8ee5f6269c859ceb8b7d9"
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(body.as_bytes());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "6b0e62c175a850fd5261c427d922c6a5f4867243676e87226b3789a465b72dc5"
        );
    }
}
