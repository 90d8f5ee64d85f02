//! The ways to pay the seller has set up: card-to-card rules and the online gateways whose keys
//! are configured, built once from `[payments]`. Each gateway reads and checks its own settings
//! in its own file; this one only lists them, so adding a gateway is its file, a [`Provider`]
//! and one line in each list below.
use std::sync::Arc;

use crate::config::Problems;
use crate::money::Currency;
use crate::payments::Provider;
use crate::payments::card::{CardRules, CardSettings};
use crate::payments::gateways::cryptobot::CryptoBotSettings;
use crate::payments::gateways::nowpayments::NowPaymentsSettings;
use crate::payments::gateways::yookassa::YooKassaSettings;
use crate::payments::gateways::zarinpal::ZarinpalSettings;
use crate::payments::gateways::{self, Gateway, Urls};

/// `[payments]`: Telegram Stars are set under `[sales]`; a gateway is offered when its section
/// is filled in, and only in currencies it can charge.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsSettings {
    /// The shop's HTTP server as gateways reach it (`https://shop.example.com`); needed by any
    /// online gateway for its callbacks and return page.
    pub public_url: Option<String>,
    /// How often pending payments are checked with their gateway, in seconds.
    pub reconcile_seconds: i64,
    /// An exchange rate older than this many hours is flagged on the payments screen.
    pub rate_warn_hours: i64,
    pub card: CardSettings,
    pub zarinpal: Option<ZarinpalSettings>,
    pub yookassa: Option<YooKassaSettings>,
    pub nowpayments: Option<NowPaymentsSettings>,
    pub cryptobot: Option<CryptoBotSettings>,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            public_url: None,
            reconcile_seconds: 300,
            rate_warn_hours: 24,
            card: CardSettings::default(),
            zarinpal: None,
            yookassa: None,
            nowpayments: None,
            cryptobot: None,
        }
    }
}

pub struct PaymentMethods {
    gateways: Vec<Arc<dyn Gateway>>,
    pub urls: Option<Urls>,
    pub card: CardRules,
    pub reconcile_every: chrono::Duration,
    /// An exchange rate older than this is flagged to staff.
    pub rate_warn_after: chrono::Duration,
}

impl PaymentsSettings {
    /// The ways to pay these settings describe, for a shop selling in `shop`; what is wrong goes
    /// into `problems` under `payments.…`.
    pub fn methods(
        &self,
        shop: Currency,
        max_pending_transfers: usize,
        problems: &mut Problems,
    ) -> PaymentMethods {
        let http = gateways::http_client();
        let mut list: Vec<Arc<dyn Gateway>> = Vec::new();
        if let Some(s) = &self.zarinpal {
            list.push(Arc::new(s.client(
                "payments.zarinpal",
                shop,
                &http,
                problems,
            )));
        }
        if let Some(s) = &self.yookassa {
            list.push(Arc::new(s.client(
                "payments.yookassa",
                shop,
                &http,
                problems,
            )));
        }
        if let Some(s) = &self.nowpayments {
            list.push(Arc::new(s.client(
                "payments.nowpayments",
                shop,
                &http,
                problems,
            )));
        }
        if let Some(s) = &self.cryptobot {
            list.push(Arc::new(s.client(
                "payments.cryptobot",
                shop,
                &http,
                problems,
            )));
        }
        let urls = match &self.public_url {
            Some(u) => problems.url("payments.public_url", u).map(|_| Urls {
                public_base: u.trim_end_matches('/').to_string(),
            }),
            None => {
                problems.require(
                    list.is_empty(),
                    "payments.public_url",
                    "not set: gateways need the address of this server for callbacks",
                );
                None
            }
        };
        let reconcile_every = {
            let key = "payments.reconcile_seconds";
            problems.require(self.reconcile_seconds >= 1, key, "must be at least 1");
            chrono::Duration::seconds(self.reconcile_seconds.max(1))
        };
        problems.require(
            self.rate_warn_hours >= 1,
            "payments.rate_warn_hours",
            "must be at least 1",
        );
        PaymentMethods {
            rate_warn_after: chrono::Duration::hours(self.rate_warn_hours.max(1)),
            gateways: list,
            urls,
            card: self
                .card
                .rules("payments.card", shop, max_pending_transfers, problems),
            reconcile_every,
        }
    }
}

impl PaymentMethods {
    /// The gateways that can be offered in a shop selling in `currency` (some only once a rate
    /// is set: see [`Gateway::charge_currency`]), in the order they were configured.
    pub fn online(&self, currency: Currency) -> Vec<&dyn Gateway> {
        self.gateways
            .iter()
            .map(|g| g.as_ref())
            .filter(|g| g.offered_in(currency))
            .collect()
    }

    pub fn gateway(&self, provider: Provider) -> Option<&dyn Gateway> {
        self.gateways
            .iter()
            .map(|g| g.as_ref())
            .find(|g| g.provider() == provider)
    }

    pub fn all(&self) -> Vec<&dyn Gateway> {
        self.gateways.iter().map(|g| g.as_ref()).collect()
    }
}
