//! The operator adds panels from the terminal and `panel check` tells them, line by line, what
//! works and how to fix what does not — without ever printing a password or API key.
use secrecy::SecretString;
use vpnshop_bot::cli::panel::{self as panel_admin, AddPanel};
use vpnshop_tests::db::fresh_db;
use vpnshop_tests::panels::hiddify::FakeHiddify;
use vpnshop_tests::panels::marzban::{self as fake_marzban, FakeMarzban};
use vpnshop_tests::panels::xui::{self as fake_xui, FakeXUi};

use crate::support::t0;

fn args(name: &str, kind: &str, url: &str, username: &str) -> AddPanel {
    AddPanel {
        name: name.into(),
        kind: kind.into(),
        url: url.into(),
        username: username.into(),
        location: "de".into(),
        proxy: None,
        inbound_id: None,
        sub_url: None,
        tls_insecure: false,
        capacity: None,
    }
}

/// Runs `panel add` and returns (healthy, what it printed).
async fn add(
    db: &vpnshop_core::sea_orm::DatabaseConnection,
    args: AddPanel,
    secret: &str,
) -> (bool, String) {
    let mut out = Vec::new();
    let healthy = panel_admin::add(
        db,
        args,
        SecretString::from(secret.to_string()),
        true,
        t0(),
        &mut out,
    )
    .await
    .unwrap();
    (healthy, String::from_utf8(out).unwrap())
}

async fn list(db: &vpnshop_core::sea_orm::DatabaseConnection) -> String {
    let mut out = Vec::new();
    panel_admin::list(db, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_working_marzban_passes_every_check_and_leaves_nothing_behind() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (healthy, out) = add(
        &t.db,
        args("de-1", "marzban", &fake.url, fake_marzban::USERNAME),
        fake_marzban::PASSWORD,
    )
    .await;
    assert!(healthy, "{out}");
    for line in [
        "panel de-1 added",
        "✓ reachable at http://127.0.0.1:",
        "! plain HTTP",
        "✓ credentials accepted",
        "✓ marzban 0.8.4",
        "✓ inbounds: ",
        "✓ test account doctor_0_",
        "✓ test account read back with its limit",
        "✓ subscription links are absolute",
        "✓ test account deleted",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    assert!(!out.contains('✗'), "{out}");
    assert_eq!(fake.user_count(), 0, "the test account is gone");
    assert!(!out.contains(fake_marzban::PASSWORD));

    let listed = list(&t.db).await;
    assert!(
        listed.contains("de-1\tmarzban\thttp://127.0.0.1:"),
        "{listed}"
    );
    assert!(listed.contains("enabled, healthy"), "{listed}");
    assert!(!listed.contains(fake_marzban::PASSWORD));
}

#[tokio::test]
async fn a_wrong_password_is_named_with_its_fix_and_remembered() {
    let t = fresh_db().await;
    let fake = FakeMarzban::start().await;
    let (healthy, out) = add(
        &t.db,
        args("de-1", "marzban", &fake.url, "admin"),
        "not-the-password",
    )
    .await;
    assert!(!healthy);
    assert!(out.contains("✗ credentials refused"), "{out}");
    assert!(
        out.contains("fix: check the admin username and password"),
        "{out}"
    );
    assert!(!out.contains("not-the-password"));
    let listed = list(&t.db).await;
    assert!(listed.contains("enabled, failing"), "{listed}");
    assert!(
        listed.contains("last problem: credentials refused"),
        "{listed}"
    );

    // Added again with the right password: updated in place, and healthy.
    let (healthy, out) = add(
        &t.db,
        args("de-1", "marzban", &fake.url, "admin"),
        fake_marzban::PASSWORD,
    )
    .await;
    assert!(healthy, "{out}");
    assert!(out.contains("panel de-1 updated"), "{out}");
    assert_eq!(list(&t.db).await.lines().count(), 2, "one panel, not two");
}

#[tokio::test]
async fn an_unreachable_panel_says_so() {
    let t = fresh_db().await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (healthy, out) = add(
        &t.db,
        args(
            "gone",
            "marzban",
            &format!("http://127.0.0.1:{port}/"),
            "admin",
        ),
        "x",
    )
    .await;
    assert!(!healthy);
    assert!(out.contains("✗ not reachable: cannot connect"), "{out}");
    assert!(out.contains("fix: check the address and port"), "{out}");
}

#[tokio::test]
async fn a_3x_ui_panel_needs_its_inbound_and_subscription_address() {
    let t = fresh_db().await;
    let fake = FakeXUi::start().await;
    let (healthy, out) = add(
        &t.db,
        args("nl-1", "3x-ui", &fake.url, fake_xui::USERNAME),
        fake_xui::PASSWORD,
    )
    .await;
    assert!(!healthy);
    assert!(
        out.contains("✓ inbounds: 1 reality (vless), 2 trojan-ws (trojan)"),
        "{out}"
    );
    assert!(out.contains("✗ no inbound set for new clients"), "{out}");

    let mut with_inbound = args("nl-1", "3x-ui", &fake.url, fake_xui::USERNAME);
    with_inbound.inbound_id = Some(fake_xui::INBOUND_ID);
    let (healthy, out) = add(&t.db, with_inbound.clone(), fake_xui::PASSWORD).await;
    assert!(!healthy);
    assert!(
        out.contains("✓ test account read back with its limit"),
        "{out}"
    );
    assert!(
        out.contains("✗ subscription link is not absolute: none"),
        "{out}"
    );
    assert!(out.contains("--sub-url"), "{out}");

    let mut complete = with_inbound;
    complete.sub_url = Some(fake.sub_url.clone());
    let (healthy, out) = add(&t.db, complete, fake_xui::PASSWORD).await;
    assert!(healthy, "{out}");
    assert!(out.contains("✓ test account deleted"), "{out}");
    assert_eq!(
        fake.client_count(),
        1,
        "only the operator's own client is left"
    );
}

#[tokio::test]
async fn a_3x_ui_3_panel_is_refused_clearly() {
    let t = fresh_db().await;
    let fake = FakeXUi::start().await;
    fake.three_x();
    let mut a = args("nl-2", "3x-ui", &fake.url, fake_xui::USERNAME);
    a.inbound_id = Some(1);
    let (healthy, out) = add(&t.db, a, fake_xui::PASSWORD).await;
    assert!(!healthy);
    assert!(
        out.contains("3x-UI 3.x, which the shop does not speak yet"),
        "{out}"
    );
}

#[tokio::test]
async fn hiddify_keys_and_admin_paths_never_print() {
    let t = fresh_db().await;
    let fake = FakeHiddify::start().await;
    let mut a = args("fi-1", "hiddify", &fake.url, "");
    a.sub_url = Some(fake.client_url.clone());
    let (healthy, out) = add(&t.db, a, &fake.api_key).await;
    assert!(healthy, "{out}");
    assert!(out.contains("✓ hiddify 10.80.12"), "{out}");
    let listed = list(&t.db).await;
    let admin_path = fake
        .url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    for shown in [&out, &listed] {
        assert!(!shown.contains(&fake.api_key));
        assert!(!shown.contains(&admin_path), "{shown}");
    }

    // The wrong key gets Hiddify's own fix.
    let (healthy, out) = add(
        &t.db,
        args("fi-2", "hiddify", &fake.url, ""),
        "00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert!(!healthy);
    assert!(
        out.contains("✗ credentials refused\n    fix: use the API key of an admin"),
        "{out}"
    );
}

/// `panel add` refuses these before saving or calling anything; returns its message.
async fn refused(db: &vpnshop_core::sea_orm::DatabaseConnection, args: AddPanel) -> String {
    let secret = SecretString::from("s".to_string());
    panel_admin::add(db, args, secret, false, t0(), &mut Vec::new())
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_saved() {
    let t = fresh_db().await;
    assert_eq!(
        refused(&t.db, args("x", "wireguard", "http://h/", "a")).await,
        "--kind must be marzban, hiddify or 3x-ui; `wireguard` is not"
    );
    assert_eq!(
        refused(&t.db, args("x", "marzban", "ftp://h/", "a")).await,
        "the panel address must be an http:// or https:// URL; `ftp://h/` is not"
    );
    assert_eq!(
        refused(&t.db, args("x", "marzban", "http://h/", "")).await,
        "marzban needs an admin username"
    );
    assert!(
        refused(&t.db, args("bad name!", "marzban", "http://h/", "a"))
            .await
            .starts_with("a panel name is")
    );
    assert!(list(&t.db).await.starts_with("no panels yet"));
}

/// Everyone on a server can read its command lines: Hiddify's secret admin path and a proxy's
/// password are refused there and read from the environment instead.
#[test]
fn secrets_never_ride_on_the_command_line() {
    use vpnshop_bot::cli::panel::{PanelAdminError, secrets_from_environment};
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let hiddify = args("fi-1", "hiddify", "https://fi.example/s3cretPath/", "");
    assert!(matches!(
        secrets_from_environment(hiddify, env(&[])),
        Err(PanelAdminError::SecretUrlOnCommandLine)
    ));
    let from_env = secrets_from_environment(
        args("fi-1", "hiddify", "", ""),
        env(&[("VPNSHOP_PANEL_URL", "https://fi.example/s3cretPath/")]),
    )
    .unwrap();
    assert_eq!(from_env.url, "https://fi.example/s3cretPath/");
    assert!(matches!(
        secrets_from_environment(args("x", "marzban", "", ""), env(&[])),
        Err(PanelAdminError::NoUrl)
    ));

    let mut proxied = args("de-1", "marzban", "https://de.example/", "admin");
    proxied.proxy = Some("socks5://user:pass@proxy.example:1080".into());
    assert!(matches!(
        secrets_from_environment(proxied, env(&[])),
        Err(PanelAdminError::SecretProxyOnCommandLine)
    ));
    let proxied = secrets_from_environment(
        args("de-1", "marzban", "https://de.example/", "admin"),
        env(&[(
            "VPNSHOP_PANEL_PROXY",
            "socks5://user:pass@proxy.example:1080",
        )]),
    )
    .unwrap();
    assert_eq!(
        proxied.proxy.as_deref(),
        Some("socks5://user:pass@proxy.example:1080")
    );
}
