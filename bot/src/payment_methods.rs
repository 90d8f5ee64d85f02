//! The ways to pay the seller has set up: card-to-card rules and the online gateways whose keys
//! are configured, built once from the settings.
use std::sync::Arc;

use vpnshop_core::money::{Currency, Money};
use vpnshop_core::payments::Provider;
use vpnshop_core::payments::card::CardRules;
use vpnshop_core::payments::gateways::cryptobot::CryptoBot;
use vpnshop_core::payments::gateways::nowpayments::NowPayments;
use vpnshop_core::payments::gateways::yookassa::YooKassa;
use vpnshop_core::payments::gateways::zarinpal::Zarinpal;
use vpnshop_core::payments::gateways::{self, Gateway, Urls};

use crate::config::Settings;

pub struct PaymentMethods {
    gateways: Vec<Arc<dyn Gateway>>,
    pub urls: Option<Urls>,
    pub card: CardRules,
    pub reconcile_every: chrono::Duration,
}

impl PaymentMethods {
    /// Call after `Settings::validate`.
    pub(crate) fn from_settings(settings: &Settings, currency: Currency) -> Self {
        let p = &settings.payments;
        let http = gateways::http_client();
        let mut list: Vec<Arc<dyn Gateway>> = Vec::new();
        if let Some(z) = &p.zarinpal {
            list.push(Arc::new(Zarinpal {
                merchant_id: z.merchant_id.clone(),
                currency: z.currency.parse().unwrap_or(Currency::Irr),
                api_base: z.api_url.clone(),
                http: http.clone(),
            }));
        }
        if let Some(y) = &p.yookassa {
            list.push(Arc::new(YooKassa {
                shop_id: y.shop_id.clone(),
                secret_key: y.secret_key.clone(),
                api_base: y.api_url.clone(),
                http: http.clone(),
            }));
        }
        if let Some(n) = &p.nowpayments {
            list.push(Arc::new(NowPayments {
                api_key: n.api_key.clone(),
                ipn_secret: n.ipn_secret.clone(),
                email: n.email.clone(),
                password: n.password.clone(),
                api_base: n.api_url.clone(),
                http: http.clone(),
                session: Default::default(),
            }));
        }
        if let Some(c) = &p.cryptobot {
            list.push(Arc::new(CryptoBot {
                token: c.token.clone(),
                api_base: c.api_url.clone(),
                http: http.clone(),
            }));
        }
        let amount = |t: &str| Money::parse(t, currency).ok();
        PaymentMethods {
            gateways: list,
            urls: p.public_url.as_ref().map(|u| Urls {
                public_base: u.trim_end_matches('/').to_string(),
            }),
            card: CardRules {
                max_offset_minor: amount(&p.card.max_offset).map_or(0, Money::minor),
                second_approval_above: p.card.second_approval_above.as_deref().and_then(amount),
                remind_after: chrono::Duration::minutes(p.card.remind_minutes.max(1)),
                expire_after: chrono::Duration::minutes(p.card.expire_minutes.max(1)),
                takeover_after: chrono::Duration::minutes(p.card.reject_takeover_minutes.max(1)),
                max_pending_per_customer: settings.limits.card_transfers.max(1),
            },
            reconcile_every: chrono::Duration::seconds(p.reconcile_seconds.max(1)),
        }
    }

    /// The gateways that can charge `currency`, in the order they were configured.
    pub fn online(&self, currency: Currency) -> Vec<&dyn Gateway> {
        self.gateways
            .iter()
            .map(|g| g.as_ref())
            .filter(|g| g.accepts(currency))
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
