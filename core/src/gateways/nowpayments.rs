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
use crate::money::{Currency, Money};
use crate::payments::{Payment, Provider, Report};

pub const DEFAULT_API: &str = "https://api.nowpayments.io/v1";

pub struct NowPayments {
    pub api_key: SecretString,
    pub ipn_secret: SecretString,
    /// The account login, needed only to list an invoice's payments when reconciling.
    pub email: String,
    pub password: SecretString,
    pub api_base: String,
    pub http: reqwest::Client,
}

/// The JSON NOWPayments signs: keys sorted at every level, no spaces.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String(k.clone()),
                        canonical_json(&map[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
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
        "partially_paid" => {
            let (amount_minor, currency) = amount()?;
            Report::Underpaid {
                amount_minor,
                currency,
            }
        }
        "failed" | "expired" | "refunded" => Report::Failed,
        _ => Report::Pending,
    })
}

impl NowPayments {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.api_base.trim_end_matches('/'))
    }

    async fn token(&self) -> Result<String, GatewayError> {
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
    fn provider(&self) -> Provider {
        Provider::NowPayments
    }

    fn accepts(&self, currency: Currency) -> bool {
        matches!(currency, Currency::Usd | Currency::Eur | Currency::Rub)
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
        let token = self.token().await?;
        let resp = self
            .http
            .get(self.url("payment/"))
            .query(&[
                ("invoiceId", invoice.as_str()),
                ("limit", "100"),
                ("page", "0"),
            ])
            .header("x-api-key", self.api_key.expose_secret())
            .bearer_auth(token)
            .send()
            .await
            .map_err(GatewayError::from_reqwest)?;
        let (status, v) = json_of(resp).await?;
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
        let partial = reports
            .iter()
            .find(|r| matches!(r, Report::Underpaid { .. }));
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
        let body: Value = serde_json::from_slice(&callback.body)
            .map_err(|_| Rejected::Malformed("not JSON".into()))?;
        let mut mac =
            Hmac::<Sha512>::new_from_slice(self.ipn_secret.expose_secret().trim().as_bytes())
                .map_err(|_| Rejected::BadSignature)?;
        mac.update(canonical_json(&body).as_bytes());
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

    /// The vector computed with NOWPayments' own Node sample (recursive key sort).
    #[test]
    fn signs_like_nowpayments() {
        let body = r#"{"payment_status":"finished","payment_id":123456789,"price_amount":1,"price_currency":"usd","pay_amount":15,"actually_paid":15,"pay_currency":"trx","order_id":"ord-1","invoice_id":null,"fee":{"withdrawalFee":0,"serviceFee":0,"depositFee":0.09853637216235617,"currency":"btc"}}"#;
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"actually_paid":15,"fee":{"currency":"btc","depositFee":0.09853637216235617,"serviceFee":0,"withdrawalFee":0},"invoice_id":null,"order_id":"ord-1","pay_amount":15,"pay_currency":"trx","payment_id":123456789,"payment_status":"finished","price_amount":1,"price_currency":"usd"}"#
        );
        let mut mac = Hmac::<Sha512>::new_from_slice(b"ipn_test_secret").unwrap();
        mac.update(canonical_json(&v).as_bytes());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "0a83644b95de0ae443d90a16845a60876dd9099e0a641242de20b87bbcd830b2dda7fbd123fe48f3cef6c6a3d9fbd17f0493e5e057019db025768acd304a225a"
        );
    }
}
