//! First contact: registration is idempotent, and a referral link is remembered once.
use vpnshop_core::customers::{self, Contact, Language};
use vpnshop_core::ids::TelegramId;
use vpnshop_tests::db::fresh_db;

use crate::support::t0;

fn contact(id: i64) -> Contact {
    Contact {
        telegram_id: TelegramId::new(id),
        username: Some(format!("u{id}")),
        first_name: "Sara".into(),
    }
}

#[tokio::test]
async fn a_customer_registers_once_and_a_referral_is_recorded_on_first_contact_only() {
    let t = fresh_db().await;
    // A Telegram id above 2^31 must fit.
    let big = 7_000_000_001;
    let first = customers::register(&t.db, &contact(big), None, t0())
        .await
        .unwrap();
    assert!(first.is_new);
    assert_eq!(first.customer.lang(), None);
    let again = customers::register(&t.db, &contact(big), None, t0())
        .await
        .unwrap();
    assert!(!again.is_new);
    assert_eq!(again.customer.id, first.customer.id);

    customers::set_language(&t.db, TelegramId::new(big), Language::Fa)
        .await
        .unwrap();
    let code = first.customer.referral_code.clone();
    let friend = customers::register(&t.db, &contact(2), Some(&code), t0())
        .await
        .unwrap();
    assert_eq!(friend.customer.referred_by, Some(first.customer.id));
    // A later link, one's own link, or an unknown code change nothing.
    let other = customers::register(&t.db, &contact(3), None, t0())
        .await
        .unwrap();
    let later = customers::register(
        &t.db,
        &contact(2),
        Some(&other.customer.referral_code),
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(later.customer.referred_by, Some(first.customer.id));
    let unknown = customers::register(&t.db, &contact(4), Some("nosuchcode"), t0())
        .await
        .unwrap();
    assert_eq!(unknown.customer.referred_by, None);
    assert_eq!(
        customers::referred_count(&t.db, first.customer.customer_id())
            .await
            .unwrap(),
        1
    );
    let fa = customers::by_telegram_id(&t.db, TelegramId::new(big))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fa.lang(), Some(Language::Fa));
}

#[tokio::test]
async fn two_first_contacts_racing_create_one_customer() {
    let t = fresh_db().await;
    let (one, two) = (contact(9), contact(9));
    let (a, b) = tokio::join!(
        customers::register(&t.db, &one, None, t0()),
        customers::register(&t.db, &two, None, t0())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.customer.id, b.customer.id);
    assert!(a.is_new ^ b.is_new);
}

/// A seller whose best affiliate brought 33,000 customers: the Invite screen still counts them
/// (in SQL, never as a list of ids bound into one statement, which SQLite caps at 32,766).
#[tokio::test]
async fn an_affiliate_with_thirty_three_thousand_friends_sees_the_counts() {
    use vpnshop_core::entities::customers as rows;
    use vpnshop_core::sea_orm::{ActiveValue::Set, EntityTrait};
    let t = fresh_db().await;
    let affiliate = crate::support::customer(&t.db, 1).await;
    let now = t0();
    for chunk in 0..33 {
        let friends = (0..1_000).map(|i| {
            let n = 10_000_000 + chunk * 1_000 + i;
            rows::ActiveModel {
                telegram_id: Set(vpnshop_core::ids::TelegramId::new(n)),
                username: Set(None),
                first_name: Set(format!("friend{n}")),
                language: Set(Some("fa".into())),
                referral_code: Set(format!("f{n}")),
                referred_by: Set(Some(affiliate.id)),
                trial_used: Set(false),
                banned: Set(false),
                blocked_bot: Set(false),
                last_seen_at: Set(now),
                created_at: Set(now),
                ..Default::default()
            }
        });
        rows::Entity::insert_many(friends)
            .exec_without_returning(&t.db)
            .await
            .unwrap();
    }
    let (joined, bought) = vpnshop_core::rewards::referral_stats(&t.db, affiliate.customer_id())
        .await
        .unwrap();
    assert_eq!((joined, bought), (33_000, 0));
}
