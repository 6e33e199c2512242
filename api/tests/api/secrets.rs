//! Org secrets: write-only values, sealed at rest, bound to their row, rotatable keys,
//! admin-only routes, isolation between orgs.

use base64::Engine;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use shared::config::Settings;
use shared::db::models::OrgSecret;
use shared::db::schema::org_secrets;
use shared::domain::TokenScope;
use shared::secrets::{self, Keyring, MAX_VALUE_BYTES, SecretsError};
use shared::wire::{self, Page};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, json_as};

const VALUE: &str = "sk-ant-api03-very-secret-0123456789";

/// PUTs a secret with the app's full-scope token; returns status and body text.
async fn put(app: &TestApp, name: &str, value: &str) -> (StatusCode, String) {
    let res = app
        .request(Method::PUT, &format!("secrets/{name}"))
        .json(&json!({ "value": value }))
        .send()
        .await
        .expect("PUT");
    let status = res.status();
    (status, res.text().await.expect("body"))
}

async fn row(app: &TestApp, org_id: Uuid, name: &str) -> OrgSecret {
    let mut conn = app.db.system().await.expect("conn");
    org_secrets::table
        .filter(org_secrets::org_id.eq(org_id))
        .filter(org_secrets::name.eq(name))
        .select(OrgSecret::as_select())
        .first(&mut conn)
        .await
        .expect("secret row")
}

async fn decrypt(
    app: &TestApp,
    settings: &Settings,
    org_id: Uuid,
) -> Result<Vec<(String, String)>, SecretsError> {
    let mut conn = app.db.system().await.expect("conn");
    let opened = secrets::decrypt_org_secrets(&mut conn, settings, org_id).await?;
    Ok(opened
        .into_iter()
        .map(|(name, value)| (name, value.expose_secret().to_owned()))
        .collect())
}

/// Settings whose keyring holds `keys` (id, key byte), `active` sealing new secrets.
fn with_keys(base: &Settings, keys: &[(&str, u8)], active: &str) -> Settings {
    let mut settings = base.clone();
    settings.secrets.allow_dev_key = false;
    settings.secrets.active_key_id = Some(active.to_owned());
    settings.secrets.keys = keys
        .iter()
        .map(|(id, byte)| {
            (
                (*id).to_owned(),
                SecretString::from(base64::engine::general_purpose::STANDARD.encode([*byte; 32])),
            )
        })
        .collect();
    settings
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_value_never_comes_back_from_the_api() {
    let app = TestApp::spawn().await;
    let (status, body) = put(&app, "ANTHROPIC_API_KEY", VALUE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(!body.contains(VALUE), "{body}");
    let created: wire::SecretInfo = serde_json::from_str(&body).expect("secret info");
    assert_eq!(created.name, "ANTHROPIC_API_KEY");
    assert_eq!(created.key_id, "dev");

    for rel in ["secrets", "secrets/ANTHROPIC_API_KEY"] {
        let res = app.get(rel).await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.expect("body");
        assert!(!text.contains(VALUE), "{rel}: {text}");
        assert!(!text.contains("very-secret"), "{rel}: {text}");
    }
    let listed: Page<wire::SecretInfo> = json_as(app.get("secrets").await, StatusCode::OK).await;
    assert_eq!(listed.items, vec![created.clone()]);

    let (status, body) = put(&app, "ANTHROPIC_API_KEY", "sk-ant-rotated-value-987").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replaced: wire::SecretInfo = serde_json::from_str(&body).expect("secret info");
    assert_eq!(replaced.created_at, created.created_at);
    assert!(replaced.updated_at > created.updated_at);
    assert_eq!(
        decrypt(&app, &app.env.settings, app.org.id)
            .await
            .expect("open"),
        vec![(
            "ANTHROPIC_API_KEY".to_owned(),
            "sk-ant-rotated-value-987".to_owned()
        )]
    );

    let res = app.delete("secrets/ANTHROPIC_API_KEY").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.get("secrets/ANTHROPIC_API_KEY").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app.delete("secrets/ANTHROPIC_API_KEY").await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        decrypt(&app, &app.env.settings, app.org.id)
            .await
            .expect("open")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_holds_only_ciphertext_which_opens_back_to_the_value() {
    let app = TestApp::spawn().await;
    put(&app, "OPENAI_API_KEY", VALUE).await;
    put(&app, "GEMINI_API_KEY", "AIza-another-secret-value").await;
    let stored = row(&app, app.org.id, "OPENAI_API_KEY").await;
    assert_eq!(stored.nonce.len(), 12);
    assert_eq!(stored.key_id, "dev");
    assert_eq!(
        stored.ciphertext.len(),
        VALUE.len() + 16,
        "value plus GCM tag"
    );
    assert!(
        !stored
            .ciphertext
            .windows(8)
            .any(|w| VALUE.as_bytes().windows(8).any(|v| v == w)),
        "plaintext fragments in the ciphertext"
    );
    let mut conn = app.db.system().await.expect("conn");
    #[derive(QueryableByName)]
    struct Hits {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        hits: i64,
    }
    let hits: Hits = diesel::sql_query(
        "SELECT count(*) AS hits FROM org_secrets \
         WHERE position(convert_to($1, 'UTF8') in ciphertext) > 0 OR name = $1",
    )
    .bind::<diesel::sql_types::Text, _>(VALUE)
    .get_result(&mut conn)
    .await
    .expect("search");
    assert_eq!(hits.hits, 0);
    drop(conn);

    assert_eq!(
        decrypt(&app, &app.env.settings, app.org.id)
            .await
            .expect("open"),
        vec![
            (
                "GEMINI_API_KEY".to_owned(),
                "AIza-another-secret-value".to_owned()
            ),
            ("OPENAI_API_KEY".to_owned(), VALUE.to_owned()),
        ]
    );
    // Writing the same value again draws a new nonce.
    put(&app, "OPENAI_API_KEY", VALUE).await;
    let again = row(&app, app.org.id, "OPENAI_API_KEY").await;
    assert_ne!(again.nonce, stored.nonce);
    assert_ne!(again.ciphertext, stored.ciphertext);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ciphertext_moved_to_another_row_or_org_does_not_open() {
    let app = TestApp::spawn().await;
    let (other, other_token) = app.other_org("globex").await;
    put(&app, "SOURCE_KEY", VALUE).await;
    put(&app, "TARGET_KEY", "target-value-123").await;
    let res = app
        .client
        .put(format!(
            "{}/api/v1/orgs/{}/secrets/SOURCE_KEY",
            app.base, other.slug
        ))
        .bearer_auth(&other_token)
        .json(&json!({"value": "globex-own-value"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(res.status(), StatusCode::CREATED);

    let source = row(&app, app.org.id, "SOURCE_KEY").await;
    let mut conn = app.db.system().await.expect("conn");
    // Same org, another name.
    diesel::update(
        org_secrets::table
            .filter(org_secrets::org_id.eq(app.org.id))
            .filter(org_secrets::name.eq("TARGET_KEY")),
    )
    .set((
        org_secrets::nonce.eq(&source.nonce),
        org_secrets::ciphertext.eq(&source.ciphertext),
    ))
    .execute(&mut conn)
    .await
    .expect("copy within org");
    // Another org, same name.
    diesel::update(
        org_secrets::table
            .filter(org_secrets::org_id.eq(other.id))
            .filter(org_secrets::name.eq("SOURCE_KEY")),
    )
    .set((
        org_secrets::nonce.eq(&source.nonce),
        org_secrets::ciphertext.eq(&source.ciphertext),
    ))
    .execute(&mut conn)
    .await
    .expect("copy across orgs");
    drop(conn);

    let err = decrypt(&app, &app.env.settings, app.org.id)
        .await
        .expect_err("the moved copy must not open");
    assert!(
        matches!(&err, SecretsError::Open { name } if name == "TARGET_KEY"),
        "{err}"
    );
    assert!(!err.to_string().contains(VALUE));
    let err = decrypt(&app, &app.env.settings, other.id)
        .await
        .expect_err("the copy in another org must not open");
    assert!(
        matches!(&err, SecretsError::Open { name } if name == "SOURCE_KEY"),
        "{err}"
    );
    // The original still opens.
    let keyring = Keyring::from_settings(&app.env.settings.secrets).expect("keyring");
    assert_eq!(keyring.open(&source).expect("open").expose_secret(), VALUE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_sealed_under_an_old_key_opens_after_rotation() {
    let app = TestApp::spawn_with(|settings| {
        *settings = with_keys(settings, &[("k1", 1)], "k1");
    })
    .await;
    let (status, body) = put(&app, "DROID_API_KEY", VALUE).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let info: wire::SecretInfo = serde_json::from_str(&body).expect("info");
    assert_eq!(info.key_id, "k1");

    // k2 becomes active; k1 stays configured for reading.
    let rotated = with_keys(&app.env.settings, &[("k1", 1), ("k2", 2)], "k2");
    assert_eq!(
        decrypt(&app, &rotated, app.org.id)
            .await
            .expect("opens under k1"),
        vec![("DROID_API_KEY".to_owned(), VALUE.to_owned())]
    );
    let keyring = Keyring::from_settings(&rotated.secrets).expect("keyring");
    let mut conn = app.db.system().await.expect("conn");
    let (fresh, _) = secrets::put_secret(
        &mut conn,
        &keyring,
        app.org.id,
        "AMP_API_KEY",
        &SecretString::from("amp-value-under-k2"),
    )
    .await
    .expect("put under k2");
    assert_eq!(fresh.key_id, "k2");

    // Without k1, the old secret no longer opens; re-sealing moves it to k2.
    let only_k2 = with_keys(&app.env.settings, &[("k2", 2)], "k2");
    assert!(matches!(
        decrypt(&app, &only_k2, app.org.id).await,
        Err(SecretsError::UnknownKey { .. })
    ));
    assert_eq!(
        secrets::reseal_all(&mut conn, &keyring)
            .await
            .expect("reseal"),
        1
    );
    assert_eq!(
        secrets::reseal_all(&mut conn, &keyring)
            .await
            .expect("again"),
        0
    );
    drop(conn);
    assert_eq!(row(&app, app.org.id, "DROID_API_KEY").await.key_id, "k2");
    assert_eq!(
        decrypt(&app, &only_k2, app.org.id)
            .await
            .expect("opens under k2"),
        vec![
            ("AMP_API_KEY".to_owned(), "amp-value-under-k2".to_owned()),
            ("DROID_API_KEY".to_owned(), VALUE.to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_routes_need_the_admin_scope() {
    let app = TestApp::spawn().await;
    put(&app, "EXISTING", VALUE).await;
    let everything_else = app
        .mint_token(
            &[TokenScope::Read, TokenScope::Write, TokenScope::Runs],
            None,
        )
        .await;
    let cases = [
        (Method::GET, "secrets"),
        (Method::GET, "secrets/EXISTING"),
        (Method::PUT, "secrets/EXISTING"),
        (Method::DELETE, "secrets/EXISTING"),
    ];
    for (method, rel) in cases {
        let res = app
            .request_as(&everything_else, method.clone(), rel)
            .json(&json!({"value": "x-new-value"}))
            .send()
            .await
            .expect("request");
        let message = assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(message.contains("admin"), "{method} {rel}: {message}");
    }
    let admin = app.mint_token(&[TokenScope::Admin], None).await;
    let res = app
        .request_as(&admin, Method::GET, "secrets")
        .send()
        .await
        .expect("GET");
    let page: Page<wire::SecretInfo> = json_as(res, StatusCode::OK).await;
    assert_eq!(page.items.len(), 1);
    let res = app
        .client
        .get(app.org_url("secrets"))
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_and_oversized_values_are_refused() {
    let app = TestApp::spawn().await;
    let long_name = "A".repeat(65);
    for name in [
        "lower_case",
        "1STARTS_WITH_DIGIT",
        "HAS-DASH",
        long_name.as_str(),
    ] {
        let (status, body) = put(&app, name, VALUE).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert!(
            body.contains("validation_failed") && body.contains("name"),
            "{body}"
        );
    }
    let (status, body) = put(&app, "TOO_BIG", &"x".repeat(MAX_VALUE_BYTES + 1)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("16384 bytes"), "{body}");
    let (status, body) = put(&app, "EMPTY", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = put(&app, "JUST_FITS", &"x".repeat(MAX_VALUE_BYTES)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = put(&app, &"B".repeat(64), VALUE).await;
    assert_eq!(status, StatusCode::CREATED);

    let res = app
        .request(Method::PUT, "secrets/NO_VALUE")
        .json(&json!({}))
        .send()
        .await
        .expect("PUT");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;
    let res = app
        .request(Method::PUT, "secrets/EXTRA")
        .json(&json!({"value": "abcdefgh", "note": "x"}))
        .send()
        .await
        .expect("PUT");
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    let listed: Page<wire::SecretInfo> = json_as(app.get("secrets").await, StatusCode::OK).await;
    let names: Vec<&str> = listed.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [&"B".repeat(64), "JUST_FITS"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_orgs_secrets_are_invisible() {
    let app = TestApp::spawn().await;
    let (other, other_token) = app.other_org("globex").await;
    let other_put = app
        .client
        .put(format!(
            "{}/api/v1/orgs/{}/secrets/GLOBEX_KEY",
            app.base, other.slug
        ))
        .bearer_auth(&other_token)
        .json(&json!({"value": "globex-value-123"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(other_put.status(), StatusCode::CREATED);
    put(&app, "ACME_KEY", VALUE).await;

    let listed: Page<wire::SecretInfo> = json_as(app.get("secrets").await, StatusCode::OK).await;
    let names: Vec<&str> = listed.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ACME_KEY"]);
    assert_error(
        app.get("secrets/GLOBEX_KEY").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.delete("secrets/GLOBEX_KEY").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A token of the other org on this org's path sees nothing.
    let res = app
        .request_as(&other_token, Method::GET, "secrets")
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        decrypt(&app, &app.env.settings, other.id)
            .await
            .expect("open"),
        vec![("GLOBEX_KEY".to_owned(), "globex-value-123".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_or_the_dev_key_writes_fail_closed() {
    let app = TestApp::spawn_with(|settings| {
        settings.secrets.allow_dev_key = false;
        settings.secrets.keys.clear();
    })
    .await;
    let (status, body) = put(&app, "ANY_KEY", VALUE).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.contains(VALUE));
    let listed: Page<wire::SecretInfo> = json_as(app.get("secrets").await, StatusCode::OK).await;
    assert!(listed.items.is_empty());
}
