//! Connections that never end: silent sockets, header dribbles, idle keep-alives and idle
//! WebSockets are closed; one address cannot hold more than its share; and under a low file
//! limit `/healthz` keeps answering while hundreds of silent sockets are opened at it.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use domain::identity::Role;
use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::json;
use server::config::ServeConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;
use crate::on_both_backends;

/// A TCP connection to `addr` from 127.0.0.`from`, as another machine would connect.
async fn connect_from(addr: SocketAddr, from: u8) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::from([127, 0, 0, from]), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// How long until the server closes `stream` (reads until end of file or an error).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn healthz_answers(app_addr: SocketAddr) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    match client
        .get(format!("http://{app_addr}/healthz"))
        .send()
        .await
    {
        Ok(r) => r.status() == 200,
        Err(_) => false,
    }
}

fn short_limits() -> ServeConfig {
    ServeConfig {
        header_timeout_seconds: 1,
        idle_connection_seconds: 2,
        max_connections_per_address: 20,
        ..ServeConfig::for_testing()
    }
}

on_both_backends!(
    silent_slow_and_idle_connections_are_closed,
    short_limits(),
    |app: TestApp| async move {
        let limit = Duration::from_secs(4);
        // Connects and says nothing.
        let mut silent = connect_from(app.addr, 2).await;
        // Sends a header line every 300 ms and never finishes.
        let mut dribble = connect_from(app.addr, 2).await;
        dribble
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let dribbling = tokio::spawn(async move {
            let started = Instant::now();
            while dribble.write_all(b"X-Slow: yes\r\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if started.elapsed() > Duration::from_secs(6) {
                    return None;
                }
            }
            Some(started.elapsed())
        });
        // Makes one request, then keeps the connection open without another.
        let mut kept = connect_from(app.addr, 2).await;
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");

        let silent_closed = closed_within(&mut silent, limit).await;
        assert!(silent_closed.is_some(), "a silent socket stays open");
        let kept_closed = closed_within(&mut kept, limit).await;
        assert!(kept_closed.is_some(), "an idle keep-alive stays open");
        let dribble_closed = dribbling.await.unwrap();
        assert!(
            dribble_closed.is_some(),
            "a header dribble keeps its socket"
        );
        assert!(healthz_answers(app.addr).await);
    }
);

on_both_backends!(
    one_address_gets_only_its_share_of_connections,
    // Timeouts far longer than the test: the held connections stay open throughout.
    ServeConfig {
        header_timeout_seconds: 60,
        idle_connection_seconds: 60,
        max_connections_per_address: 20,
        ..ServeConfig::for_testing()
    },
    |app: TestApp| async move {
        let mut held = Vec::new();
        for _ in 0..21 {
            held.push(connect_from(app.addr, 3).await);
        }
        // The kernel completes every handshake; the server closes one of the 21 on arrival
        // (which one depends on the order their tasks run in) and keeps the other 20.
        let closed = futures_util::future::join_all(
            held.iter_mut()
                .map(|s| closed_within(s, Duration::from_secs(5))),
        )
        .await;
        let refused = closed.iter().filter(|c| c.is_some()).count();
        assert_eq!(refused, 1, "{closed:?}");
        // Other addresses are served meanwhile.
        assert!(healthz_answers(app.addr).await);
        drop(held);
    }
);

/// A session cookie for `user`, for opening a live connection.
async fn cookie_for(app: &TestApp, user: &TestUser) -> String {
    let jar = std::sync::Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "email": user.email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    client
        .post(app.url("/api/v1/session/code"))
        .json(&json!({ "code": app.code_now(user) }))
        .send()
        .await
        .unwrap();
    let url = reqwest::Url::parse(&app.url("/")).unwrap();
    jar.cookies(&url)
        .map(|c| c.to_str().unwrap().to_string())
        .unwrap_or_default()
}

on_both_backends!(
    a_websocket_that_stops_pinging_is_closed_and_one_that_pings_stays,
    short_limits(),
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let desk = app.staff(&org, Role::FrontDesk, &[0]).await;
        let cookie = cookie_for(&app, &desk).await;
        let open = || async {
            let mut request = format!("ws://{}/api/v1/live/staff", app.addr)
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
            tokio_tungstenite::connect_async(request).await.unwrap().0
        };
        let mut quiet = open().await;
        let mut pinging = open().await;
        let started = Instant::now();
        let mut quiet_closed = None;
        while started.elapsed() < Duration::from_secs(5) {
            pinging
                .send(Message::text(r#"{"type":"ping"}"#))
                .await
                .expect("the pinging socket stays open");
            if quiet_closed.is_none() {
                if let Ok(None | Some(Err(_) | Ok(Message::Close(_)))) =
                    tokio::time::timeout(Duration::from_millis(400), quiet.next()).await
                {
                    quiet_closed = Some(started.elapsed());
                }
            } else {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            while let Ok(Some(frame)) =
                tokio::time::timeout(Duration::from_millis(10), pinging.next()).await
            {
                assert!(frame.is_ok(), "the pinging socket stays open: {frame:?}");
            }
        }
        assert!(
            quiet_closed.is_some_and(|t| t < Duration::from_secs(4)),
            "the quiet socket closed after {quiet_closed:?}"
        );
    }
);

/// The release-like binary under a low file limit, with its log read until it serves.
struct LimitedServer {
    child: Child,
    addr: SocketAddr,
    log: Vec<String>,
    _dir: store::testing::TempDirGuard,
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn limited_server(soft: u32, hard: u32, per_address: u32) -> LimitedServer {
    let (url, dir) = store::testing::fresh_sqlite_url().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = Command::new("prlimit")
        .arg(format!("--nofile={soft}:{hard}"))
        .arg(env!("CARGO_BIN_EXE_telemed"))
        .args(["--database-url", &url, "serve", "--addr", &addr.to_string()])
        .args(["--max-connections-per-address", &per_address.to_string()])
        .args(["--header-timeout-seconds", "2"])
        .env("TELEMED_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run telemed under prlimit");
    let stdout = child.stdout.take().unwrap();
    let log = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            let serving = line.contains("serving on");
            seen.push(line);
            if serving {
                break;
            }
        }
        seen
    })
    .await
    .unwrap();
    LimitedServer {
        child,
        addr,
        log,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_file_limit_healthz_answers_while_silent_sockets_pile_up() {
    let server = limited_server(128, 256, 100).await;
    assert!(
        server
            .log
            .iter()
            .any(|l| l.contains("raised the open file limit")
                && l.contains("from=128")
                && l.contains("to=256")),
        "{:?}",
        server.log
    );
    // 300 silent sockets from each of two addresses: more than every file the server may open.
    let mut silent = Vec::new();
    for from in [2, 3] {
        for _ in 0..300 {
            silent.push(connect_from(server.addr, from).await);
        }
    }
    for round in 0..5 {
        let started = Instant::now();
        assert!(
            healthz_answers(server.addr).await,
            "round {round}: /healthz did not answer"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "round {round}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(silent);
}
