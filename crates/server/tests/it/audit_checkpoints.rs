//! Signed checkpoints of the audit chain, tried as an insider with database access would attack
//! the trail: deleting its newest records and rewinding the head, rewriting it with recomputed
//! hashes, forging a checkpoint. `telemed audit verify` runs as a real process.

use std::path::PathBuf;
use std::process::{Command, Output};

use domain::compliance::chain_hash;
use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

struct Keys {
    dir: PathBuf,
}

impl Keys {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "telemed-checkpoints-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn telemed(&self, url: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_telemed"))
            .env("TELEMED_SECRET_KEY_FILE", self.dir.join("secret.key"))
            .env(
                "TELEMED_AUDIT_SIGNING_KEY_FILE",
                self.dir.join("audit-signing.key"),
            )
            .arg("--database-url")
            .arg(url)
            .args(args)
            .output()
            .expect("run telemed")
    }

    /// `audit verify` with extra arguments: success and what it printed.
    fn verify(&self, url: &str, extra: &[&str]) -> (bool, String) {
        let mut args = vec!["audit", "verify"];
        args.extend_from_slice(extra);
        let out = self.telemed(url, &args);
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `audit checkpoint`: the exported checkpoint.
    fn checkpoint(&self, url: &str) -> Value {
        let out = self.telemed(url, &["audit", "checkpoint"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON checkpoint")
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A few audited reads, so the chain has records to attack.
async fn reads(app: &TestApp, n: usize) {
    let org = app
        .org(&format!("Checkpoints {}", uuid::Uuid::new_v4().simple()))
        .await;
    let token = app.token(&org, "system/*.read").await;
    let patient = app.patient_record(&org, 0).await;
    for _ in 0..n {
        app.http
            .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
}

fn unlock(url: &str) -> &'static str {
    if url.starts_with("sqlite") {
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;"
    } else {
        "ALTER TABLE audit_log DISABLE TRIGGER USER;"
    }
}

/// Deletes the records after `keep` and rewinds the head to it: the chain alone still verifies.
async fn truncate_to(app: &TestApp, keep: i64) {
    let record = app.store().audit_page(keep - 1, 1).await.unwrap();
    let hash = &record[0].hash;
    store::testing::execute_raw(
        &app.database_url,
        &format!(
            "{} DELETE FROM audit_log WHERE seq > {keep}; \
             UPDATE audit_head SET last_seq = {keep}, last_hash = '{hash}' WHERE id = 1;",
            unlock(&app.database_url)
        ),
    )
    .await
    .unwrap();
}

on_both_backends!(
    a_truncated_chain_with_a_rewound_head_is_caught_by_its_checkpoint,
    |app: TestApp| async move {
        let keys = Keys::new();
        let url = app.database_url.clone();
        reads(&app, 4).await;
        let cp = keys.checkpoint(&url);
        let signed = cp["seq"].as_i64().unwrap();
        let (ok, text) = keys.verify(&url, &[]);
        assert!(ok, "{text}");
        assert!(text.contains("1 signed checkpoints hold"), "{text}");

        truncate_to(&app, signed - 3).await;
        // The hash chain alone cannot see it: what is left links and ends at the head.
        let chain = domain::compliance::service::verify_chain(app.store())
            .await
            .unwrap();
        assert!(chain.is_ok(), "{chain:?}");
        let (ok, text) = keys.verify(&url, &[]);
        assert!(!ok, "{text}");
        let expected = format!(
            "records {}..={signed} were deleted: a signed checkpoint covers record {signed}",
            signed - 2
        );
        assert!(text.contains(&expected), "expected '{expected}' in: {text}");
    }
);

on_both_backends!(
    a_chain_rewritten_with_recomputed_hashes_no_longer_matches_its_checkpoint,
    |app: TestApp| async move {
        let keys = Keys::new();
        let url = app.database_url.clone();
        reads(&app, 4).await;
        let signed = keys.checkpoint(&url)["seq"].as_i64().unwrap();
        // Rewrite a record two before the checkpoint, and every hash after it, and the head.
        let from = signed - 2;
        let mut records = app.store().audit_page(from - 1, 100).await.unwrap();
        let mut prev = app.store().audit_page(from - 2, 1).await.unwrap()[0]
            .hash
            .clone();
        let mut sql = unlock(&url).to_string();
        for (i, r) in records.iter_mut().enumerate() {
            if i == 0 {
                r.entry.resource_type = "Forged".into();
            }
            let hash = chain_hash(r.seq, &prev, &r.entry);
            sql.push_str(&format!(
                " UPDATE audit_log SET resource_type = '{}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {};",
                r.entry.resource_type, r.seq
            ));
            prev = hash;
        }
        let last = records.last().unwrap().seq;
        sql.push_str(&format!(
            " UPDATE audit_head SET last_seq = {last}, last_hash = '{prev}' WHERE id = 1;"
        ));
        store::testing::execute_raw(&url, &sql).await.unwrap();
        let chain = domain::compliance::service::verify_chain(app.store())
            .await
            .unwrap();
        assert!(chain.is_ok(), "the rewrite is consistent: {chain:?}");
        let (ok, text) = keys.verify(&url, &[]);
        assert!(!ok, "{text}");
        let expected = format!("the chain was rewritten at or before record {signed}");
        assert!(text.contains(&expected), "expected '{expected}' in: {text}");
    }
);

on_both_backends!(
    a_checkpoint_forged_without_the_key_is_refused,
    |app: TestApp| async move {
        let keys = Keys::new();
        let url = app.database_url.clone();
        reads(&app, 2).await;
        let cp = keys.checkpoint(&url);
        let (head, _) = app.store().audit_head().await.unwrap();
        reads(&app, 1).await;
        let (head2, hash2) = app.store().audit_head().await.unwrap();
        assert!(head2 > head);
        // The insider copies the real key id and makes up a signature for the newer head.
        store::testing::execute_raw(
            &url,
            &format!(
                "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) \
                 VALUES ({head2}, '{hash2}', 1800000000000000, '{}', 'bm90IGEgc2lnbmF0dXJl');",
                cp["key_id"].as_str().unwrap(),
            ),
        )
        .await
        .unwrap();
        let (ok, text) = keys.verify(&url, &[]);
        assert!(!ok, "{text}");
        let expected = format!("the checkpoint at record {head2} is forged");
        assert!(text.contains(&expected), "expected '{expected}' in: {text}");
    }
);

on_both_backends!(
    a_checkpoint_kept_elsewhere_catches_a_truncation_that_also_removed_the_stored_ones,
    |app: TestApp| async move {
        let keys = Keys::new();
        let url = app.database_url.clone();
        reads(&app, 4).await;
        let cp = keys.checkpoint(&url);
        let signed = cp["seq"].as_i64().unwrap();
        let kept = keys.dir.join("kept.json");
        std::fs::write(&kept, cp.to_string()).unwrap();
        let kept = kept.to_string_lossy().to_string();
        let (ok, text) = keys.verify(&url, &["--against", &kept]);
        assert!(ok, "{text}");
        assert!(text.contains("1 kept checkpoints found"), "{text}");

        truncate_to(&app, signed - 2).await;
        store::testing::execute_raw(&url, "DELETE FROM audit_checkpoints;")
            .await
            .unwrap();
        // Without the kept copy nothing is left to compare with.
        let (ok, text) = keys.verify(&url, &[]);
        assert!(ok, "{text}");
        let (ok, text) = keys.verify(&url, &["--against", &kept]);
        assert!(!ok, "{text}");
        assert!(
            text.contains(&format!("a signed checkpoint covers record {signed}")),
            "{text}"
        );
        // A kept file edited to match the shorter chain does not verify with its public key.
        let mut edited = cp.clone();
        edited["seq"] = Value::from(signed - 2);
        std::fs::write(&kept, edited.to_string()).unwrap();
        let (ok, text) = keys.verify(&url, &["--against", &kept]);
        assert!(!ok, "{text}");
        assert!(text.contains("is forged"), "{text}");
    }
);

on_both_backends!(
    the_server_signs_checkpoints_in_the_background_and_keeps_a_second_copy,
    |app: TestApp| async move {
        let keys = Keys::new();
        let url = app.database_url.clone();
        reads(&app, 3).await;
        let copy = keys.dir.join("checkpoints.jsonl");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new(env!("CARGO_BIN_EXE_telemed"))
            .env("TELEMED_SECRET_KEY_FILE", keys.dir.join("secret.key"))
            .env(
                "TELEMED_AUDIT_SIGNING_KEY_FILE",
                keys.dir.join("audit-signing.key"),
            )
            .args(["--database-url", &url, "serve", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--audit-checkpoint-seconds", "1", "--audit-checkpoint-file"])
            .arg(&copy)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut found = None;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if let Some(cp) = app.store().latest_checkpoint().await.unwrap() {
                found = Some(cp);
                break;
            }
        }
        let _ = server.kill();
        let _ = server.wait();
        let cp = found.expect("a checkpoint within 20 s");
        let (head, hash) = app.store().audit_head().await.unwrap();
        assert!(cp.seq <= head && cp.seq > 0);
        if cp.seq == head {
            assert_eq!(cp.hash, hash);
        }
        let copy = copy.to_string_lossy().to_string();
        let (ok, text) = keys.verify(&url, &["--against", &copy]);
        assert!(ok, "{text}");
        assert!(text.contains("kept checkpoints found"), "{text}");
    }
);
