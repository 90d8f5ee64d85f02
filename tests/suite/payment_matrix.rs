//! "Done when", as a new user would try it: in a ruble shop and a toman shop, a Persian and a
//! Russian customer each top up and then buy a plan with every method the shop's currency
//! allows — card to card (approved from the staff chat), YooKassa, NOWPayments and CryptoBot in
//! rubles; card to card and Zarinpal in toman — and end with a working subscription link.
use secrecy::SecretString;
use vpnshop_core::customers::Language;
use vpnshop_core::ledger;
use vpnshop_core::money::{Currency, Money};
use vpnshop_core::payments::card::{self, CardNumber};
use vpnshop_tests::app::{TestApp, spawn_app_with};
use vpnshop_tests::gateways::cryptobot::FakeCryptoBot;
use vpnshop_tests::gateways::nowpayments::FakeNowPayments;
use vpnshop_tests::gateways::yookassa::FakeYooKassa;
use vpnshop_tests::gateways::zarinpal::FakeZarinpal;
use vpnshop_tests::telegram::{BotMessage, FakeGroup, FakeUser};

use crate::support::{
    at_menu, label, marzban_for_germany, plan_30d, plan_30d_priced, press, t0, wallet_reaches,
};

const STAFF_CHAT: i64 = -1_005_550;
const ADMIN: i64 = 9_200_000_001;
const YK_SHOP: &str = "506751";
const YK_SECRET: &str = "test_matrix_yk_secret_0001";
const NP_KEY: &str = "NP-MATRIX-KEY-0001";
const NP_IPN: &str = "np-matrix-ipn-0001";
const NP_EMAIL: &str = "s@example.com";
const NP_PASSWORD: &str = "np-matrix-pass";
const CB_TOKEN: &str = "777:AAmatrixCryptoBotToken0001";
const ZP_MERCHANT: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

/// The gateway fakes behind one shop (those its currency allows).
struct Gateways {
    yk: Option<FakeYooKassa>,
    np: Option<FakeNowPayments>,
    cb: Option<FakeCryptoBot>,
    zp: Option<FakeZarinpal>,
}

struct Shop {
    app: TestApp,
    gw: Gateways,
    staff: FakeGroup,
    admin: FakeUser,
    _marzban: vpnshop_tests::panels::marzban::FakeMarzban,
}

impl Shop {
    /// Completes the payment the customer was just sent to, as the provider and the customer's
    /// browser would; card transfers are approved by the admin in the staff chat.
    async fn pay(&self, method: &str, u: &FakeUser) {
        let status = match method {
            "card" => {
                let (_, receipt) = u.send_receipt(&self.staff).await;
                self.admin.press_in_group(&receipt, "تأیید");
                return;
            }
            "yookassa" => {
                let yk = self.gw.yk.as_ref().unwrap();
                let id = yk.payment_ids().pop().unwrap();
                yk.pay(&id);
                yk.last_callback().unwrap().deliver().await
            }
            "nowpayments" => {
                let np = self.gw.np.as_ref().unwrap();
                let invoice = np.invoice_ids().pop().unwrap();
                np.pay(&invoice, "finished");
                np.last_callback().unwrap().deliver().await
            }
            "cryptobot" => {
                let cb = self.gw.cb.as_ref().unwrap();
                let invoice = cb.invoice_ids().pop().unwrap();
                cb.pay(invoice);
                cb.last_callback().unwrap().deliver().await
            }
            "zarinpal" => {
                let zp = self.gw.zp.as_ref().unwrap();
                let authority = zp.authorities().pop().unwrap();
                zp.pay(&authority);
                zp.last_callback().unwrap().deliver().await
            }
            other => panic!("no method {other}"),
        };
        assert_eq!(status, 200, "{method}");
    }
}

async fn open_shop(currency: &'static str) -> Shop {
    let rubles = currency == "RUB";
    let (yk, np, cb, zp) = if rubles {
        (
            Some(FakeYooKassa::start(YK_SHOP, YK_SECRET).await),
            Some(FakeNowPayments::start(NP_KEY, NP_IPN, NP_EMAIL, NP_PASSWORD).await),
            Some(FakeCryptoBot::start(CB_TOKEN).await),
            None,
        )
    } else {
        (
            None,
            None,
            None,
            Some(FakeZarinpal::start(ZP_MERCHANT).await),
        )
    };
    let urls = (
        yk.as_ref().map(|f| f.url.clone()),
        np.as_ref().map(|f| f.url.clone()),
        cb.as_ref().map(|f| f.url.clone()),
        zp.as_ref().map(|f| f.url.clone()),
    );
    let app = spawn_app_with(move |s| {
        s.shop.currency = currency.into();
        s.shop.staff_chat_id = Some(STAFF_CHAT);
        s.shop.admin_ids = vec![ADMIN];
        if let Some(url) = &urls.0 {
            s.payments.yookassa = Some(vpnshop_bot::config::YooKassaSettings {
                shop_id: YK_SHOP.into(),
                secret_key: SecretString::from(YK_SECRET),
                api_url: url.clone(),
            });
        }
        if let Some(url) = &urls.1 {
            s.payments.nowpayments = Some(vpnshop_bot::config::NowPaymentsSettings {
                api_key: SecretString::from(NP_KEY),
                ipn_secret: SecretString::from(NP_IPN),
                email: NP_EMAIL.into(),
                password: SecretString::from(NP_PASSWORD),
                api_url: url.clone(),
            });
        }
        if let Some(url) = &urls.2 {
            s.payments.cryptobot = Some(vpnshop_bot::config::CryptoBotSettings {
                token: SecretString::from(CB_TOKEN),
                api_url: url.clone(),
            });
        }
        if let Some(url) = &urls.3 {
            s.payments.zarinpal = Some(vpnshop_bot::config::ZarinpalSettings {
                merchant_id: SecretString::from(ZP_MERCHANT),
                currency: "IRT".into(),
                api_url: url.clone(),
            });
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
    if rubles {
        plan_30d_priced(db, vec![Money::new(30_000, Currency::Rub).unwrap()]).await;
    } else {
        plan_30d(db).await;
    }
    let marzban = marzban_for_germany(db).await;
    card::add_card(
        db,
        &CardNumber::parse("6037-9911-2233-4455").unwrap(),
        "Ali Rezaei",
        "Melli",
        t0(),
    )
    .await
    .unwrap();
    let staff = app.tg.group(STAFF_CHAT, "Staff");
    let admin = app.user(ADMIN, "Admin", Some("fa"));
    Shop {
        app,
        gw: Gateways { yk, np, cb, zp },
        staff,
        admin,
        _marzban: marzban,
    }
}

/// Wallet → Top up → `method` → `amount`, then paid.
async fn top_up(
    shop: &Shop,
    u: &FakeUser,
    menu: &BotMessage,
    lang: Language,
    method: &str,
    amount: &str,
) {
    let w = press(u, menu, &label(lang, "menu.wallet")).await;
    let options = press(u, &w, &label(lang, "wallet.top_up")).await;
    press(u, &options, &label(lang, &format!("pay.method.{method}"))).await;
    u.send(amount);
    u.next().await;
    shop.pay(method, u).await;
}

/// Buy → Germany → 1 month → `method`, paid; returns once the subscription link arrived.
async fn buy(shop: &Shop, u: &FakeUser, menu: &BotMessage, lang: Language, method: &str) {
    let locations = press(u, menu, &label(lang, "menu.buy")).await;
    let plans = press(u, &locations, "Germany").await;
    let preview = press(u, &plans, "1 month").await;
    press(u, &preview, &label(lang, &format!("pay.method.{method}"))).await;
    shop.pay(method, u).await;
    let mut seen = String::new();
    for _ in 0..6 {
        seen.push_str(&u.next().await.text);
        if seen.contains("/sub/") {
            return;
        }
    }
    panic!("{method} in {lang:?}: no subscription link; got {seen}");
}

/// For each language and method: one customer tops up, another buys.
async fn every_method(currency: &'static str, methods: &[&str], amount: &str, amount_minor: i64) {
    let shop = open_shop(currency).await;
    let cur: Currency = currency.parse().unwrap();
    let mut id = if currency == "RUB" {
        7_800_000_000
    } else {
        7_800_000_500
    };
    for lang in [Language::Fa, Language::Ru] {
        for method in methods {
            id += 2;
            let (topper, menu) = at_menu(&shop.app, id, "Customer", lang).await;
            top_up(&shop, &topper, &menu, lang, method, amount).await;
            // A card transfer's amount is made unique by one minor unit, credited too.
            let offset = if *method == "card" { 1 } else { 0 };
            wallet_reaches(&shop.app, id, cur, amount_minor + offset).await;
            let (buyer, menu) = at_menu(&shop.app, id + 1, "Customer", lang).await;
            buy(&shop, &buyer, &menu, lang, method).await;
            wallet_reaches(&shop.app, id + 1, cur, offset).await;
        }
    }
    assert!(ledger::audit(&shop.app.db.db).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_ruble_shop_persian_and_russian_customers_top_up_and_buy_with_every_method() {
    every_method(
        "RUB",
        &["card", "yookassa", "nowpayments", "cryptobot"],
        "500",
        50_000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_toman_shop_persian_and_russian_customers_top_up_and_buy_with_every_method() {
    every_method("IRT", &["card", "zarinpal"], "200000", 200_000).await;
}
