//! Faults of the database the server must ride out: one that cannot take writes (its disk full)
//! refuses them with a 503 and a stable code, keeps everything it had whole, and goes on answering
//! reads that write nothing; a PostgreSQL that goes away and comes back finds the server alive,
//! not ready meanwhile, and working again without a restart. The soaks with a real full disk, a crash and a restarted PostgreSQL
//! are in `scripts/faults.sh` (results in docs/reliability.md).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use server::config::ServeConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;

/// Bytes of a freshly migrated SQLite database (with its WAL), so a cap can leave a little room.
async fn migrated_size() -> u64 {
    let (url, dir) = store::testing::fresh_sqlite_url().await;
    drop(store::connect(&url).await.unwrap());
    let file = dir.path().join("telemed.db");
    let wal = dir.path().join("telemed.db-wal");
    [file, wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// A SQLite server whose database may grow only a little past its migrations, with an
/// organization and a token that may create patients.
async fn nearly_full() -> (TestApp, String, String) {
    let cap = migrated_size().await + 256 * 1024;
    let app = TestApp::spawn_opened(
        Backend::Sqlite,
        ServeConfig::for_testing(),
        |_, options| options.sqlite_max_bytes = Some(cap),
        |_| {},
    )
    .await;
    let org = app.org("Full Disk Clinic").await;
    let token = app.token(&org, "system/*.read system/*.write").await;
    let site = org.sites[0].id.to_string();
    (app, token, site)
}

/// Creates patients until the database refuses one; returns how many were confirmed (201) and
/// the refusal with its Retry-After header.
async fn fill_with_patients(
    app: &TestApp,
    token: &str,
    site: &str,
) -> (i64, (u16, String), Option<String>) {
    let mut created = 0;
    let mut refused = None;
    for i in 0..5_000 {
        let response = app
            .http
            .post(app.url("/api/v1/patients"))
            .bearer_auth(token)
            .json(&patient_json(site, &format!("FULL-{i:05}")))
            .send()
            .await
            .unwrap();
        if response.status() == 201 {
            created += 1;
        } else {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            refused = Some((error_code(response).await, retry_after));
            break;
        }
    }
    let (answer, retry_after) = refused.expect("the database filled up within 5,000 patients");
    assert!(
        created > 10,
        "the cap left room for some patients: {created}"
    );
    (created, answer, retry_after)
}

/// A small file system of its own (a 32 MiB tmpfs), unmounted when dropped; `None` when this
/// process may not mount one (not root).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount() -> Option<Self> {
        let dir = std::env::temp_dir().join(format!(
            "telemed-small-disk-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self(dir))
    }

    /// Writes a file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.0.join("filler")).unwrap();
        for size in [1 << 20, 4096, 512] {
            let block = vec![0u8; size];
            while file.write_all(&block).is_ok() {}
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_confirmed_after_the_disk_was_full_once_is_stored() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    let url = format!("sqlite://{}", disk.0.join("telemed.db").display());
    let connect_url = url.clone();
    let app = TestApp::spawn_opened(
        Backend::Sqlite,
        ServeConfig::for_testing(),
        move |url, _| *url = connect_url,
        |_| {},
    )
    .await;
    let org = app.org("Small Disk Clinic").await;
    let token = app.token(&org, "system/*.read system/*.write").await;
    let site = org.sites[0].id.to_string();
    let mut created = 0;
    let mut refused = 0;
    let create = async |mrn: String| {
        let status = app
            .http
            .post(app.url("/api/v1/patients"))
            .bearer_auth(&token)
            .json(&patient_json(&site, &mrn))
            .send()
            .await
            .unwrap()
            .status();
        status == 201
    };
    for i in 0..20 {
        created += i64::from(create(format!("BEFORE-{i}")).await);
    }
    disk.fill();
    for i in 0..50 {
        if create(format!("FULL-{i}")).await {
            created += 1;
        } else {
            refused += 1;
        }
    }
    disk.free();
    for i in 0..20 {
        created += i64::from(create(format!("AFTER-{i}")).await);
    }
    assert!(refused > 0, "the full disk refused some writes");

    // Another connection sees every patient confirmed: a failed commit must not leave the
    // writer inside a transaction that the later "commits" never end.
    let stored = store::testing::query_i64(&url, "SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(
        stored, created,
        "patients confirmed with a 201 and stored ({refused} refused)"
    );
    let chain = domain::compliance::service::verify_chain(app.store())
        .await
        .unwrap();
    assert!(chain.is_ok(), "the audit chain is intact: {chain:?}");
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_refuses_writes_with_503_and_still_answers_reads_that_write_nothing() {
    let (app, token, site) = nearly_full().await;
    let (created, answer, retry_after) = fill_with_patients(&app, &token, &site).await;
    // Nothing half-written: every patient confirmed is there, none more.
    let stored = store::testing::query_i64(&app.database_url, "SELECT COUNT(*) FROM patients")
        .await
        .unwrap();
    assert_eq!(stored, created);
    assert_eq!(
        answer,
        (503, "storage_unavailable".to_string()),
        "a full database is not the server's bug (after {created} patients)"
    );
    assert_eq!(
        retry_after.as_deref(),
        Some("30"),
        "a 503 says when to try again"
    );

    let search = app
        .http
        .get(app.url("/api/v1/slots?from=2030-01-07"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), 200);
    let body: Value = search.json().await.unwrap();
    assert!(body["slots"].is_array());
}

/// A TCP front for PostgreSQL that a test takes away (every connection cut, new ones refused)
/// and brings back on the same port, as a restart of the database does. Returns its port and
/// the switch (true: up).
async fn database_front(target: SocketAddr) -> (u16, watch::Sender<bool>) {
    let (switch, up) = watch::channel(true);
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut listener = Some(first);
        let mut up = up;
        loop {
            let current = match listener.take() {
                Some(l) => l,
                None => {
                    if up.wait_for(|up| *up).await.is_err() {
                        return;
                    }
                    TcpListener::bind(("127.0.0.1", port)).await.unwrap()
                }
            };
            loop {
                let mut down = up.clone();
                tokio::select! {
                    accepted = current.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = down.wait_for(|up| !*up) => {}
                            }
                        });
                    }
                    changed = up.wait_for(|up| !*up) => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                }
            }
            // The listener is dropped here: new connections are refused until the front is up.
        }
    });
    (port, switch)
}

async fn status_within(app: &TestApp, path: &str, within: Duration) -> Option<u16> {
    let asked = app.http.get(app.url(path)).timeout(within).send().await;
    asked.ok().map(|r| r.status().as_u16())
}

async fn create_patient(app: &TestApp, token: &str, site: &str, mrn: &str) -> (u16, String) {
    let response = app
        .http
        .post(app.url("/api/v1/patients"))
        .bearer_auth(token)
        .json(&patient_json(site, mrn))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    if response.status() == 201 {
        let body: Value = response.json().await.unwrap();
        (201, body["id"].as_str().unwrap().to_string())
    } else {
        error_code(response).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
)]
async fn while_postgresql_is_away_the_server_answers_healthz_is_not_ready_refuses_writes_with_503_and_recovers_by_itself()
 {
    let base = std::env::var("TELEMED_TEST_POSTGRES_URL").unwrap();
    // postgres://user@HOST:PORT/db: the front stands between the server and HOST:PORT.
    let host_port = base
        .split_once('@')
        .map_or(base.as_str(), |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap()
        .to_string();
    let target: SocketAddr = tokio::net::lookup_host(host_port.as_str())
        .await
        .unwrap()
        .next()
        .unwrap();
    let (port, front) = database_front(target).await;
    let app = TestApp::spawn_opened(
        Backend::Postgres,
        ServeConfig::for_testing(),
        |url, _| *url = url.replacen(&host_port, &format!("127.0.0.1:{port}"), 1),
        |_| {},
    )
    .await;
    let org = app.org("Restarted Database Clinic").await;
    let token = app.token(&org, "system/*.read system/*.write").await;
    let site = org.sites[0].id.to_string();
    let mut confirmed = Vec::new();
    for i in 0..5 {
        let (status, id) = create_patient(&app, &token, &site, &format!("AWAY-{i}")).await;
        assert_eq!(status, 201, "{id}");
        confirmed.push(id);
    }

    front.send_replace(false);
    let away = Instant::now();
    assert_eq!(
        status_within(&app, "/healthz", Duration::from_secs(2)).await,
        Some(200)
    );
    assert_eq!(
        status_within(&app, "/readyz", Duration::from_secs(5)).await,
        Some(503),
        "not ready, and said so at once, while the database is away"
    );
    assert!(away.elapsed() < Duration::from_secs(5));
    let (status, code) = create_patient(&app, &token, &site, "AWAY-X").await;
    assert_eq!(
        (status, code.as_str()),
        (503, "storage_unavailable"),
        "a write while the database is away"
    );

    front.send_replace(true);
    let back = Instant::now();
    let mut ready = false;
    while back.elapsed() < Duration::from_secs(15) && !ready {
        ready = status_within(&app, "/readyz", Duration::from_secs(2)).await == Some(200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again within 15 s of the database's return");
    let (status, id) = create_patient(&app, &token, &site, "BACK-1").await;
    assert_eq!(status, 201, "writes resume without a restart: {id}");
    confirmed.push(id);

    let list = confirmed
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let stored = store::testing::query_i64(
        &app.database_url,
        &format!("SELECT COUNT(*) FROM patients WHERE id IN ({list})"),
    )
    .await
    .unwrap();
    assert_eq!(stored, confirmed.len() as i64, "no confirmed write is lost");
}
