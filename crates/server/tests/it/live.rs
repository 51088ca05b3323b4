//! The limits of a visit's live connection (its message rate, its refusals, the size of a
//! message), a participant coming back keeping their place in the call, and a crashed server's
//! participants dropped by the servers that survive it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use server::config::ServeConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;
use crate::on_both_backends;
use crate::visits::{Live, admit, booked, check_in, welcome};

fn limited(per_second: u32, window_seconds: u64) -> ServeConfig {
    ServeConfig {
        live_messages_per_second: per_second,
        live_refusal_window_seconds: window_seconds,
        ..ServeConfig::for_testing()
    }
}

/// Reads frames for `wait`, counting them by type; stops early if the server closes.
async fn frames_for(live: &mut Live, wait: Duration) -> (Vec<Value>, Option<u16>) {
    let deadline = Instant::now() + wait;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, live.socket.next()).await {
            Err(_) => return (frames, None),
            Ok(Some(Ok(Message::Text(text)))) => {
                frames.push(serde_json::from_str(text.as_str()).unwrap());
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (frames, frame.map(|f| f.code.into()));
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the connection broke: {other:?}"),
        }
    }
}

/// The live WebSockets `/metrics` counts.
async fn live_connections(app: &TestApp) -> usize {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("telemed_live_connections "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no live connections in {text}"))
}

fn count(frames: &[Value], kind: &str, code: Option<&str>) -> usize {
    frames
        .iter()
        .filter(|f| f["type"] == kind && code.is_none_or(|c| f["code"] == c))
        .count()
}

on_both_backends!(
    a_connection_sending_faster_than_its_rate_is_refused_then_closed,
    config = limited(10, 60),
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        welcome(&mut patient).await;
        let mut clinician = Live::open(&app, &b.clinician.cookie, &b.id).await.unwrap();
        welcome(&mut clinician).await;
        // 10 a second with a burst of 50: sixty pings at once are 50 answers, then refusals,
        // and the sixth refusal closes the connection.
        for _ in 0..60 {
            patient.send(json!({"type": "ping"})).await;
        }
        let (frames, closed) = frames_for(&mut patient, Duration::from_secs(5)).await;
        let pongs = count(&frames, "pong", None);
        assert!((50..=52).contains(&pongs), "{pongs} answered");
        assert_eq!(count(&frames, "error", Some("rate_limited")), 6);
        assert_eq!(closed, Some(1008), "a policy violation");
        // The other participant is not affected.
        clinician.send(json!({"type": "ping"})).await;
        clinician.next("pong").await;
    }
);

on_both_backends!(
    refused_messages_are_forgiven_once_the_window_passes,
    config = limited(20, 1),
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        welcome(&mut patient).await;
        for round in 0..3 {
            // Five refusals within one window are allowed; the next window starts afresh.
            for _ in 0..5 {
                patient.send_text("not json".into()).await;
            }
            for _ in 0..5 {
                assert_eq!(
                    patient.next("error").await["code"],
                    "malformed",
                    "round {round}"
                );
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        patient.send(json!({"type": "ping"})).await;
        patient.next("pong").await;
        // Six within one window close it.
        for _ in 0..6 {
            patient.send_text("not json".into()).await;
        }
        assert_eq!(patient.closed().await, Some(1008));
    }
);

on_both_backends!(
    a_message_over_the_size_cap_is_refused_and_a_frame_far_over_it_closes_the_connection,
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        welcome(&mut patient).await;
        let over = json!({"type": "chat", "text": "x".repeat(70 * 1024)});
        patient.send(over).await;
        assert_eq!(patient.next("error").await["code"], "too_large");
        patient.send(json!({"type": "ping"})).await;
        patient.next("pong").await;
        // Past 256 KiB the server does not read the message at all.
        patient
            .send(json!({"type": "chat", "text": "x".repeat(300 * 1024)}))
            .await;
        assert_eq!(patient.closed().await, Some(1009), "message too big");
    }
);

on_both_backends!(
    a_participant_coming_back_keeps_their_peer_id_and_nobody_else_can_take_it,
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        admit(&app, &b).await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        let patient_peer = welcome(&mut patient).await;
        let mut clinician = Live::open(&app, &b.clinician.cookie, &b.id).await.unwrap();
        let clinician_peer = welcome(&mut clinician).await;
        assert_ne!(patient_peer, clinician_peer);
        assert_eq!(live_connections(&app).await, 2);
        let live = |query: String| format!("/api/v1/visits/{}/live?resume={query}", b.id);
        // The patient's connection is lost and comes back asking for its peer id.
        drop(patient);
        let mut back = Live::open_path(&app, &b.patient.cookie, &live(patient_peer.clone()), None)
            .await
            .unwrap();
        assert_eq!(welcome(&mut back).await, patient_peer);
        clinician
            .next_where("peers", |p| p["peers"][0]["peer"] == patient_peer.as_str())
            .await;
        // The clinician cannot take the patient's id, nor one that is not an id.
        let mut clinician_again =
            Live::open_path(&app, &b.clinician.cookie, &live(patient_peer.clone()), None)
                .await
                .unwrap();
        let given = welcome(&mut clinician_again).await;
        assert_ne!(given, patient_peer);
        clinician.next("replaced").await;
        let mut odd = Live::open_path(&app, &b.clinician.cookie, &live("%3Cb%3E".into()), None)
            .await
            .unwrap();
        let given = welcome(&mut odd).await;
        assert!(given.bytes().all(|c| c.is_ascii_hexdigit()), "{given}");
        // Signals still reach the patient under their kept id.
        odd.send(json!({"type": "signal", "to": patient_peer, "data": {"candidate": {"candidate": "c"}}}))
            .await;
        assert_eq!(back.next("signal").await["from"], given.as_str());
    }
);

/// A `telemed serve` process of its own on the same database, which the test can kill.
struct OtherServer {
    child: Child,
    addr: String,
    _dir: store::testing::TempDirGuard,
}

impl OtherServer {
    async fn start(database_url: &str, heartbeat_seconds: u64) -> Self {
        // A temporary folder for the second server's key (sessions live in the database).
        let (_, dir) = store::testing::fresh_sqlite_url().await;
        std::fs::create_dir_all(dir.path()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_telemed"))
            .args(["--database-url", database_url, "--secret-key-file"])
            .arg(dir.path().join("secret.key"))
            .args(["serve", "--addr", &addr, "--live-heartbeat-seconds"])
            .arg(heartbeat_seconds.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From here on, dropping it kills the process.
        let server = Self {
            child,
            addr,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let ready = client
                .get(format!("http://{}/readyz", server.addr))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the second server did not start");
    }

    /// `kill -9`: the process says nothing to anyone.
    fn crash(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for OtherServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two servers on one PostgreSQL database, the second a process of its own: while it runs, its
/// participant stays in the first server's room (heartbeats); killed, it says nothing, and the
/// first drops its participant after three missed heartbeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
)]
async fn the_participants_of_a_crashed_server_are_dropped_after_three_missed_heartbeats() {
    let config = ServeConfig {
        live_heartbeat_seconds: 1,
        ..ServeConfig::for_testing()
    };
    let first = TestApp::spawn_with(Backend::Postgres, config).await;
    server::startup::start_relay(&first.state, &first.database_url)
        .await
        .unwrap();
    let mut second = OtherServer::start(&first.database_url, 1).await;
    let b = booked(&first).await;
    check_in(&first, &b).await;
    admit(&first, &b).await;
    let mut patient = Live::open(&first, &b.patient.cookie, &b.id).await.unwrap();
    welcome(&mut patient).await;
    let mut request = format!("ws://{}/api/v1/visits/{}/live", second.addr, b.id)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", b.clinician.cookie.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut clinician = Live { socket };
    let clinician_peer = welcome(&mut clinician).await;
    patient
        .next_where("peers", |p| {
            p["peers"][0]["peer"] == clinician_peer.as_str()
        })
        .await;
    // Alive: four seconds (more than three heartbeats) and the clinician stays.
    let (frames, closed) = frames_for(&mut patient, Duration::from_secs(4)).await;
    assert_eq!(closed, None);
    assert!(
        !frames
            .iter()
            .any(|f| f["type"] == "peers" && f["peers"].as_array().is_some_and(Vec::is_empty)),
        "a live server's participant was dropped: {frames:?}"
    );
    second.crash();
    let crashed = Instant::now();
    patient
        .next_within(
            "peers",
            |p| p["peers"].as_array().is_some_and(Vec::is_empty),
            Duration::from_secs(10),
        )
        .await;
    let after = crashed.elapsed();
    eprintln!("the crashed server's participant was dropped {after:?} after the crash");
    assert!(
        after >= Duration::from_secs(2) && after <= Duration::from_secs(8),
        "dropped {after:?} after the crash (3 heartbeats of 1 s, swept every second)"
    );
    drop(clinician);
}
