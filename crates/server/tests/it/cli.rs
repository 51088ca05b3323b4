//! The `telemed` command line, run as a real process: the contract outside tools rely on.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

fn telemed(database_url: &str, args: &[&str]) -> Output {
    // One key per database, outside the source tree (PostgreSQL URLs would default to ./telemed-data).
    let name: String = database_url
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let key = std::env::temp_dir()
        .join("telemed-test-keys")
        .join(format!("{name}.key"));
    Command::new(env!("CARGO_BIN_EXE_telemed"))
        .env("TELEMED_SECRET_KEY_FILE", key)
        .arg("--database-url")
        .arg(database_url)
        .args(args)
        .output()
        .expect("run telemed")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn verify(database_url: &str) -> (bool, String) {
    let output = telemed(database_url, &["audit", "verify"]);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

on_both_backends!(
    the_cli_creates_orgs_users_and_clients_as_documented,
    |app: TestApp| async move {
        let url = app.database_url.clone();
        let org = json_of(&telemed(
            &url,
            &["org", "create", "--name", "CLI Health", "--json"],
        ));
        let org_id = org["id"].as_str().unwrap().to_string();
        let site = json_of(&telemed(
            &url,
            &[
                "site",
                "create",
                "--org",
                &org_id,
                "--name",
                "Main",
                "--state",
                "NY",
                "--time-zone",
                "America/New_York",
                "--json",
            ],
        ));
        let site_id = site["id"].as_str().unwrap();
        let staff = json_of(&telemed(
            &url,
            &[
                "user",
                "create",
                "--org",
                &org_id,
                "--role",
                "clinician",
                "--email",
                "doc@cli.example",
                "--password",
                "a long enough password",
                "--site",
                site_id,
                "--npi",
                "1234567893",
                "--license",
                "NY:NY-77:2030-06-30",
                "--json",
            ],
        ));
        assert!(staff["id"].is_string());
        assert_eq!(
            staff["totp_secret"].as_str().map(str::len),
            Some(32),
            "staff get a TOTP secret"
        );
        let client = json_of(&telemed(
            &url,
            &[
                "client",
                "create",
                "--org",
                &org_id,
                "--name",
                "EHR",
                "--scope",
                "system/*.read system/*.write",
                "--json",
            ],
        ));
        assert!(client["client_id"].is_string() && client["client_secret"].is_string());

        // Bad input: one line on stderr, non-zero exit, nothing written.
        let duplicate = telemed(&url, &["org", "create", "--name", "CLI Health", "--json"]);
        assert!(!duplicate.status.success());
        let stderr = String::from_utf8_lossy(&duplicate.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("already exists"), "{stderr}");
        let bad_role = telemed(
            &url,
            &[
                "user",
                "create",
                "--org",
                &org_id,
                "--role",
                "wizard",
                "--email",
                "w@x.example",
                "--password",
                "long long password",
            ],
        );
        assert!(!bad_role.status.success());
        assert!(String::from_utf8_lossy(&bad_role.stderr).contains("role"));
        assert!(verify(&url).0);
    }
);

#[test]
fn an_unknown_database_scheme_is_refused_with_one_line() {
    let output = telemed("mysql://root@localhost/telemed", &["migrate"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("mysql"), "{stderr}");
}

#[test]
fn config_default_prints_every_setting() {
    let output = telemed("sqlite://unused.db", &["config", "default"]);
    let text = String::from_utf8_lossy(&output.stdout);
    for key in [
        "TELEMED_DATABASE_URL",
        "TELEMED_ADDR",
        "TELEMED_SESSION_IDLE_MINUTES=15",
        "TELEMED_MAX_FAILED_SIGN_INS",
    ] {
        assert!(text.contains(key), "{key}");
    }
}

/// Seeds a few audited operations, then checks `audit verify` before and after one tampering.
async fn tampering_is_named(app: TestApp, tamper: fn(i64) -> String, expected: fn(i64) -> String) {
    let org = app.org("Tamper").await;
    let token = app.token(&org, "system/*.read").await;
    let patient = app.patient_record(&org, 0).await;
    for _ in 0..4 {
        app.http
            .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    let url = app.database_url.clone();
    let (ok, text) = verify(&url);
    assert!(ok, "untouched chain verifies: {text}");
    let (head, _) = app.store().audit_head().await.unwrap();
    assert!(head >= 8);
    let target = head - 3;
    let unlock = if url.starts_with("sqlite") {
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;"
    } else {
        "ALTER TABLE audit_log DISABLE TRIGGER USER;"
    };
    store::testing::execute_raw(&url, &format!("{unlock} {}", tamper(target)))
        .await
        .unwrap();
    let (ok, text) = verify(&url);
    assert!(!ok, "tampered chain must fail: {text}");
    let expected = expected(target);
    assert!(text.contains(&expected), "expected '{expected}' in: {text}");
}

on_both_backends!(
    audit_verify_names_an_altered_record,
    |app: TestApp| async move {
        tampering_is_named(
            app,
            |seq| format!("UPDATE audit_log SET outcome = 'denied' WHERE seq = {seq};"),
            |seq| format!("record {seq} was altered"),
        )
        .await;
    }
);

on_both_backends!(
    audit_verify_names_a_record_whose_tampered_value_cannot_be_read,
    |app: TestApp| async move {
        tampering_is_named(
            app,
            |seq| format!("UPDATE audit_log SET actor_id = 'not a uuid' WHERE seq = {seq};"),
            |seq| format!("audit record {seq} was altered"),
        )
        .await;
    }
);

on_both_backends!(
    audit_verify_names_a_deleted_record,
    |app: TestApp| async move {
        tampering_is_named(
            app,
            |seq| format!("DELETE FROM audit_log WHERE seq = {seq};"),
            |seq| format!("record {seq} was deleted"),
        )
        .await;
    }
);

on_both_backends!(
    audit_verify_names_an_inserted_record,
    |app: TestApp| async move {
        // Make room after `seq` and put a forged row in the gap, with a correctly computed-looking hash.
        tampering_is_named(
        app,
        |seq| {
            format!(
                "UPDATE audit_log SET seq = seq + 1000000 WHERE seq > {seq}; \
                 UPDATE audit_log SET seq = seq - 1000000 + 1 WHERE seq > 1000000; \
                 INSERT INTO audit_log SELECT {next}, at, org_id, actor_kind, actor_id, actor_role, action, resource_type, \
                 resource_id, patient_id, source_ip, outcome, flagged, detail, prev_hash, hash FROM audit_log WHERE seq = {seq};",
                next = seq + 1
            )
        },
        |seq| format!("record {} was inserted", seq + 1),
    )
    .await;
    }
);

#[test]
fn the_demo_is_idempotent_and_prints_a_sign_in_for_every_role() {
    let dir = std::env::temp_dir().join(format!("telemed-demo-{}", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", dir.join("demo.db").display());
    let first = telemed(&url, &["demo", "--no-serve"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = telemed(&url, &["demo", "--no-serve"]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let first = String::from_utf8_lossy(&first.stdout).to_string();
    let second = String::from_utf8_lossy(&second.stdout).to_string();
    for role in [
        "clinician",
        "nurse",
        "front_desk",
        "site_admin",
        "org_admin",
        "program_manager",
        "auditor",
        "patient",
    ] {
        assert!(first.contains(role), "{role} in:\n{first}");
    }
    let lines_with_secrets = |text: &str| {
        text.lines()
            .filter(|l| l.contains("@riverside.example"))
            // The current one-time code changes every 30 seconds, between the two runs too.
            .filter(|l| !l.contains("code right now is"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines_with_secrets(&first),
        lines_with_secrets(&second),
        "a second run reuses the same accounts"
    );
    for run in [&first, &second] {
        assert_eq!(
            run.matches("check in: http").count(),
            3,
            "a visit about to start for each patient account:\n{run}"
        );
    }
    // The patient without an account gets a new join link on every run.
    let join_link = |run: &str| {
        run.lines()
            .find(|l| l.contains("join link (no sign-up"))
            .and_then(|l| l.split_whitespace().last())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no join link in:\n{run}"))
    };
    assert!(join_link(&first).contains("/v/"));
    assert_ne!(join_link(&first), join_link(&second));
    assert!(verify(&url).0);
    // The demo has a schedule to explore: published slots and upcoming visits, once.
    let count = |sql: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(store::testing::query_i64(&url, sql))
            .unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM visit_types"), 10);
    assert!(count("SELECT COUNT(*) FROM slots") > 300);
    let visits = count("SELECT COUNT(*) FROM appointments WHERE status = 'booked'");
    // A dozen over the next days, one about to start for each of the three patient accounts, and
    // one for the patient without an account.
    assert!((6..=16).contains(&visits), "{visits} visits");
    let _ = std::fs::remove_dir_all(dir);
}
