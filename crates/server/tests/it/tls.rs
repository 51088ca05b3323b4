//! TLS: HTTPS with a certificate from files, HSTS, and Secure cookies.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_the_server_sends_hsts_and_secure_cookies() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let dir = std::env::temp_dir().join(format!("telemed-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let mut config = server::config::ServeConfig::for_testing();
    config.tls_cert = Some(cert_path);
    config.tls_key = Some(key_path);
    let app = TestApp::spawn_with(Backend::Sqlite, config).await;
    let org = app.org("Secure").await;
    let (_, patient) = app.patient_account(&org).await;

    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("root");
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", app.addr)
        .build()
        .expect("client");
    let base = format!("https://localhost:{}", app.addr.port());
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("https request");
    assert_eq!(health.status(), 200);
    assert!(
        health.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let signed_in = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({ "email": patient.email, "password": PASSWORD }))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite"),
        "{cookie}"
    );
    // Plain HTTP to the TLS port gets nowhere.
    assert!(
        reqwest::get(format!("http://{}/healthz", app.addr))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
    );
    let _ = std::fs::remove_dir_all(dir);
}
