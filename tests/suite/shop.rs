//! One way to open a shop for a journey: `ShopBuilder::new()` gives a toman shop with a staff
//! chat and an owner; each `with_…` adds what a story needs (a gateway's fake wired both ways, a
//! card, the 30-day plan in Germany on a healthy Marzban), and `settings` changes anything else.
use secrecy::SecretString;
use vpnshop_bot::config::{
    CryptoBotSettings, NowPaymentsSettings, Settings, YooKassaSettings, ZarinpalSettings,
};
use vpnshop_core::catalog::Plan;
use vpnshop_core::money::Money;
use vpnshop_core::payments::card::{self, CardNumber};
use vpnshop_tests::app::{TestApp, spawn_app_with};
use vpnshop_tests::gateways::cryptobot::FakeCryptoBot;
use vpnshop_tests::gateways::nowpayments::FakeNowPayments;
use vpnshop_tests::gateways::yookassa::FakeYooKassa;
use vpnshop_tests::gateways::zarinpal::FakeZarinpal;
use vpnshop_tests::panels::marzban::FakeMarzban;
use vpnshop_tests::telegram::{FakeGroup, FakeUser};

use crate::support::{marzban_for_germany, plan_30d, plan_30d_priced, t0};

/// The staff group every built shop posts to.
pub const STAFF_CHAT: i64 = -1_001_234;
/// The owner every built shop has (`shop.admin_ids`).
pub const ADMIN: i64 = 9_000_000_001;

pub const YK_SHOP: &str = "506751";
pub const YK_SECRET: &str = "test_Fh8hUAVVBGUGbjmlzba6TB0iyUbos_lueTHE-axOwM0";
pub const NP_KEY: &str = "NP-KEY-7X2Q9Z1-ABCDEF";
pub const NP_IPN: &str = "np-ipn-secret-0b1f6e";
pub const NP_EMAIL: &str = "shop@example.com";
pub const NP_PASSWORD: &str = "np-password-51c2";
pub const CB_TOKEN: &str = "12345:AAzQcZWQqQAbsfgPnOLr4FHC8Doa4L7KryC";
pub const ZP_MERCHANT: &str = "7c2e1a90-5b3d-11ef-8a41-0242ac120002";

/// Applied again whenever the bot is restarted, so the shop is the same shop after a restart.
type Change = Box<dyn Fn(&mut Settings) + Send + Sync>;

#[derive(Default)]
pub struct ShopBuilder {
    currency: Option<&'static str>,
    yookassa: bool,
    nowpayments: bool,
    cryptobot: bool,
    /// The currency Zarinpal is asked in (`IRR` or `IRT`), when it is set up.
    zarinpal: Option<&'static str>,
    /// The holder and bank of the card `with_card` adds.
    card: Option<(&'static str, &'static str)>,
    plan: Option<Vec<Money>>,
    changes: Vec<Change>,
}

/// A running shop and the fakes behind it.
pub struct Shop {
    pub app: TestApp,
    pub yk: Option<FakeYooKassa>,
    pub np: Option<FakeNowPayments>,
    pub cb: Option<FakeCryptoBot>,
    pub zp: Option<FakeZarinpal>,
    pub marzban: Option<FakeMarzban>,
    /// The plan `with_plan` added.
    pub plan: Option<Plan>,
    /// The staff group, as the fake Telegram knows it.
    pub staff: FakeGroup,
    /// The owner, a member of the staff group.
    pub admin: FakeUser,
}

impl Shop {
    /// The Marzban the plan's accounts are made on.
    pub fn panel(&self) -> &FakeMarzban {
        self.marzban.as_ref().expect("a shop opened with_plan")
    }
}

impl ShopBuilder {
    pub fn new() -> Self {
        ShopBuilder::default()
    }

    /// Prices and wallets in `currency` (`"RUB"`, `"USD"`); toman unless said.
    pub fn selling_in(mut self, currency: &'static str) -> Self {
        self.currency = Some(currency);
        self
    }

    pub fn with_yookassa(mut self) -> Self {
        self.yookassa = true;
        self
    }

    pub fn with_nowpayments(mut self) -> Self {
        self.nowpayments = true;
        self
    }

    pub fn with_cryptobot(mut self) -> Self {
        self.cryptobot = true;
        self
    }

    /// Zarinpal, asked in `currency` (`"IRR"` or `"IRT"`).
    pub fn with_zarinpal(mut self, currency: &'static str) -> Self {
        self.zarinpal = Some(currency);
        self
    }

    /// An enabled card for card-to-card transfers: 6037-9911-2233-4455, Ali Rezaei's at Melli.
    pub fn with_card(self) -> Self {
        self.with_card_of("Ali Rezaei", "Melli")
    }

    /// The same card, held by `holder` at `bank`.
    pub fn with_card_of(mut self, holder: &'static str, bank: &'static str) -> Self {
        self.card = Some((holder, bank));
        self
    }

    /// The 30-day, 50 GB plan in Germany for 150,000 toman (or `prices`), on a healthy Marzban.
    pub fn with_plan(mut self) -> Self {
        self.plan = Some(Vec::new());
        self
    }

    pub fn with_plan_priced(mut self, prices: Vec<Money>) -> Self {
        self.plan = Some(prices);
        self
    }

    /// Any other change to the settings the bot starts with.
    pub fn settings(mut self, change: impl Fn(&mut Settings) + Send + Sync + 'static) -> Self {
        self.changes.push(Box::new(change));
        self
    }

    pub async fn open(self) -> Shop {
        let yk = match self.yookassa {
            true => Some(FakeYooKassa::start(YK_SHOP, YK_SECRET).await),
            false => None,
        };
        let np = match self.nowpayments {
            true => Some(FakeNowPayments::start(NP_KEY, NP_IPN, NP_EMAIL, NP_PASSWORD).await),
            false => None,
        };
        let cb = match self.cryptobot {
            true => Some(FakeCryptoBot::start(CB_TOKEN).await),
            false => None,
        };
        let zp = match self.zarinpal {
            Some(_) => Some(FakeZarinpal::start(ZP_MERCHANT).await),
            None => None,
        };
        let urls = (
            yk.as_ref().map(|f| f.url.clone()),
            np.as_ref().map(|f| f.url.clone()),
            cb.as_ref().map(|f| f.url.clone()),
            zp.as_ref().map(|f| f.url.clone()),
        );
        let (currency, zp_currency, changes) = (self.currency, self.zarinpal, self.changes);
        let app = spawn_app_with(move |s| {
            if let Some(c) = currency {
                s.shop.currency = c.into();
            }
            s.shop.staff_chat_id = Some(STAFF_CHAT);
            s.shop.admin_ids = vec![ADMIN];
            if let Some(url) = urls.0.clone() {
                s.payments.yookassa = Some(YooKassaSettings {
                    shop_id: YK_SHOP.into(),
                    secret_key: SecretString::from(YK_SECRET),
                    api_url: url,
                });
            }
            if let Some(url) = urls.1.clone() {
                s.payments.nowpayments = Some(NowPaymentsSettings {
                    api_key: SecretString::from(NP_KEY),
                    ipn_secret: SecretString::from(NP_IPN),
                    email: NP_EMAIL.into(),
                    password: SecretString::from(NP_PASSWORD),
                    api_url: url,
                    charge_in: None,
                });
            }
            if let Some(url) = urls.2.clone() {
                s.payments.cryptobot = Some(CryptoBotSettings {
                    token: SecretString::from(CB_TOKEN),
                    api_url: url,
                    charge_in: None,
                });
            }
            if let (Some(url), Some(asked_in)) = (urls.3.clone(), zp_currency) {
                s.payments.zarinpal = Some(ZarinpalSettings {
                    merchant_id: SecretString::from(ZP_MERCHANT),
                    currency: asked_in.into(),
                    api_url: url,
                });
            }
            for change in &changes {
                change(s);
            }
        })
        .await;
        if let Some(yk) = &yk {
            yk.set_notify_url(&format!("{}/pay/yookassa/notify", app.http));
        }
        if let Some(cb) = &cb {
            cb.set_webhook_url(&format!("{}/pay/cryptobot/notify", app.http));
        }
        let db = &app.db.db;
        let (plan, marzban) = match self.plan {
            Some(prices) => {
                let plan = match prices.is_empty() {
                    true => plan_30d(db).await,
                    false => plan_30d_priced(db, prices).await,
                };
                (Some(plan), Some(marzban_for_germany(db).await))
            }
            None => (None, None),
        };
        if let Some((holder, bank)) = self.card {
            card::add_card(
                db,
                &CardNumber::parse("6037-9911-2233-4455").unwrap(),
                holder,
                bank,
                t0(),
            )
            .await
            .unwrap();
        }
        let staff = app.tg.group(STAFF_CHAT, "Staff");
        let admin = app.user(ADMIN, "Admin", Some("fa"));
        Shop {
            app,
            yk,
            np,
            cb,
            zp,
            marzban,
            plan,
            staff,
            admin,
        }
    }
}
