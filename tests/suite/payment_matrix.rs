//! "Done when", as a new user would try it: in a ruble shop and a toman shop, a Persian and a
//! Russian customer each top up and then buy a plan with every method the shop's currency
//! allows — card to card (approved from the staff chat), YooKassa, NOWPayments and CryptoBot in
//! rubles; card to card and Zarinpal in toman — and end with a working subscription link.
use vpnshop_core::customers::Language;
use vpnshop_core::ledger;
use vpnshop_core::money::{Currency, Money};
use vpnshop_tests::telegram::{BotMessage, FakeUser};

use crate::shop::{Shop, ShopBuilder};
use crate::support::{at_menu, label, press, wallet_reaches};

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
                let yk = self.yk.as_ref().unwrap();
                let id = yk.payment_ids().pop().unwrap();
                yk.pay(&id);
                yk.last_callback().unwrap().deliver().await
            }
            "nowpayments" => {
                let np = self.np.as_ref().unwrap();
                let invoice = np.invoice_ids().pop().unwrap();
                np.pay(&invoice, "finished");
                np.last_callback().unwrap().deliver().await
            }
            "cryptobot" => {
                let cb = self.cb.as_ref().unwrap();
                let invoice = cb.invoice_ids().pop().unwrap();
                cb.pay(invoice);
                cb.last_callback().unwrap().deliver().await
            }
            "zarinpal" => {
                let zp = self.zp.as_ref().unwrap();
                let authority = zp.authorities().pop().unwrap();
                zp.pay(&authority);
                zp.last_callback().unwrap().deliver().await
            }
            other => panic!("no method {other}"),
        };
        assert_eq!(status, 200, "{method}");
    }
}

/// A shop in `currency` with every method that currency allows, a card, and the plan.
async fn open_shop(currency: &'static str) -> Shop {
    let builder = ShopBuilder::new().selling_in(currency).with_card();
    if currency == "RUB" {
        builder
            .with_yookassa()
            .with_nowpayments()
            .with_cryptobot()
            .with_plan_priced(vec![Money::new(30_000, Currency::Rub).unwrap()])
    } else {
        builder.with_zarinpal("IRT").with_plan()
    }
    .open()
    .await
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
