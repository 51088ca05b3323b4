//! Virtual visits through the JSON API and the live WebSocket, on SQLite and PostgreSQL:
//! check-in opens the waiting room, the clinician admits, signaling between the participants only,
//! drops and rejoins, cancellation reaching the waiting patient, guests, emergencies, bad
//! messages, and two servers relaying one call through PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::compliance::{AuditAction, AuditQuery};
use domain::visits::service::guests;
use futures_util::{SinkExt, StreamExt};
use jiff::SignedDuration;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::clinic::*;
use crate::helpers::*;
use crate::on_both_backends;

/// A signed-in person with their cookie, for opening live connections.
pub(crate) struct Person {
    pub(crate) session: Session,
    pub(crate) cookie: String,
}

pub(crate) async fn person(app: &TestApp, user: &TestUser) -> Person {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let body: Value = client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "email": user.email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let body = if body["status"] == "mfa_required" {
        client
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": app.code_now(user) }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    } else {
        body
    };
    let url = reqwest::Url::parse(&app.url("/")).unwrap();
    let cookie = jar
        .cookies(&url)
        .map(|c| c.to_str().unwrap().to_string())
        .unwrap_or_default();
    Person {
        session: Session {
            client,
            csrf: body["csrf_token"].as_str().unwrap_or_default().to_string(),
        },
        cookie,
    }
}

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One live connection, reading frames as JSON.
pub(crate) struct Live {
    pub(crate) socket: Socket,
}

impl Live {
    pub(crate) async fn open(app: &TestApp, cookie: &str, visit: &str) -> Result<Self, u16> {
        Self::open_with(app, cookie, visit, None).await
    }

    pub(crate) async fn open_with(
        app: &TestApp,
        cookie: &str,
        visit: &str,
        origin: Option<&str>,
    ) -> Result<Self, u16> {
        Self::open_path(app, cookie, &format!("/api/v1/visits/{visit}/live"), origin).await
    }

    pub(crate) async fn open_path(
        app: &TestApp,
        cookie: &str,
        path: &str,
        origin: Option<&str>,
    ) -> Result<Self, u16> {
        let mut request = format!("ws://{}{path}", app.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("connect: {e}"),
        }
    }

    pub(crate) async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub(crate) async fn send_text(&mut self, text: String) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    /// The next frame of `kind`, skipping others; panics after 5 s.
    pub(crate) async fn next(&mut self, kind: &str) -> Value {
        self.next_where(kind, |_| true).await
    }

    pub(crate) async fn next_where(
        &mut self,
        kind: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        self.next_within(kind, wanted, Duration::from_secs(5)).await
    }

    /// The next frame of `kind` that is `wanted`, skipping others; panics after `wait`.
    pub(crate) async fn next_within(
        &mut self,
        kind: &str,
        wanted: impl Fn(&Value) -> bool,
        wait: Duration,
    ) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no '{kind}' frame within {wait:?}"));
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).unwrap();
                    if value["type"] == kind && wanted(&value) {
                        return value;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended waiting for '{kind}': {other:?}"),
            }
        }
    }

    /// The state frame once the visit reaches `state`.
    pub(crate) async fn state(&mut self, state: &str) -> Value {
        self.next_where("state", |v| v["visit"]["state"] == state)
            .await
    }

    /// Waits for the server to close the connection; returns the close code.
    pub(crate) async fn closed(&mut self) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.socket.next()).await {
                Err(_) => panic!("the connection stayed open"),
                Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
                Ok(Some(Ok(_))) => {}
                Ok(_) => return None,
            }
        }
    }
}

/// A clinic with a video visit booked for the patient, the clock 10 minutes before its start.
pub(crate) struct Booked {
    pub(crate) c: Clinic,
    pub(crate) id: String,
    pub(crate) patient: Person,
    pub(crate) clinician: Person,
}

pub(crate) async fn booked(app: &TestApp) -> Booked {
    let c = app.clinic().await;
    app.weekly_hours(
        &c.org,
        c.clinician.user.id,
        0,
        "wednesday",
        "09:00",
        "12:00",
    )
    .await;
    let slots = app.open_slots(&c.org, c.clinician.user.id).await;
    let patient = app.sign_in(&c.patient_user).await;
    let mut body = booking(&slots[0], &c.video);
    body["consent_version"] = json!(1);
    let (status, booked) = post(app, &patient, "/api/v1/appointments", body).await;
    assert_eq!(status, 201, "{booked}");
    app.set_clock(
        slots[0]
            .slot
            .start_at
            .checked_sub(SignedDuration::from_mins(10))
            .unwrap(),
    );
    let patient = person(app, &c.patient_user).await;
    let clinician = person(app, &c.clinician).await;
    Booked {
        id: booked["id"].as_str().unwrap().to_string(),
        c,
        patient,
        clinician,
    }
}

pub(crate) async fn check_in(app: &TestApp, b: &Booked) {
    let (status, body) = post(
        app,
        &b.patient.session,
        &format!("/api/v1/appointments/{}/check-in", b.id),
        json!({"patient_state": "NY", "location": "home, 12 Elm St, Albany", "questionnaire": {"notes": "sore throat"}}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("checked_in")),
        "{body}"
    );
}

/// The clinician lets the patient in (through `app`).
pub(crate) async fn admit(app: &TestApp, b: &Booked) {
    let (status, body) = post(
        app,
        &b.clinician.session,
        &format!("/api/v1/visits/{}/admit", b.id),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

pub(crate) async fn welcome(live: &mut Live) -> String {
    let w = live.next("welcome").await;
    w["you"]["peer"].as_str().unwrap().to_string()
}

on_both_backends!(
    a_patient_waits_is_let_in_meets_the_clinician_drops_returns_and_the_record_holds_it_all,
    |app: TestApp| async move {
        let b = booked(&app).await;
        // Not a visit before check-in.
        let (status, _) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(status, 404);
        check_in(&app, &b).await;
        let (status, record) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["visit"]["state"], "waiting");
        assert_eq!(record["visit"]["location_state"], "NY");
        assert_eq!(record["visit"]["location_text"], "home, 12 Elm St, Albany");
        let (_, queue) = get(&app, &b.clinician.session, "/api/v1/visits").await;
        assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
        assert_eq!(queue[0]["visit"]["id"], b.id.as_str());
        assert_eq!(queue[0]["patient_name"], "Ada Lovelace");

        // The patient waits: no peers, no signaling.
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        let patient_peer = welcome(&mut patient).await;
        let waiting = patient
            .next_where("state", |s| s["visit"]["wait_minutes"].is_i64())
            .await;
        assert_eq!(waiting["visit"]["state"], "waiting");
        assert_eq!(waiting["admitted"], false);
        assert!(
            waiting["visit"]["wait_minutes"].as_i64().unwrap() >= 9,
            "{waiting}"
        );
        assert!(
            waiting["visit"].get("location_text").is_none(),
            "the clinician's view only"
        );
        let mut clinician = Live::open(&app, &b.clinician.cookie, &b.id).await.unwrap();
        let clinician_peer = welcome(&mut clinician).await;
        let seen = clinician.state("waiting").await;
        assert_eq!(seen["visit"]["location_text"], "home, 12 Elm St, Albany");
        patient
            .send(json!({"type": "signal", "to": clinician_peer, "data": {"sdp": {"type": "offer", "sdp": "v=0"}}}))
            .await;
        let refused = patient.next("error").await;
        assert_eq!(refused["code"], "not_admitted");

        // The clinician admits; the patient's screen follows without asking.
        let (status, admitted) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/admit", b.id),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, admitted["state"].as_str()),
            (200, Some("admitted")),
            "{admitted}"
        );
        let now_in = patient.state("admitted").await;
        assert_eq!(now_in["admitted"], true);
        let peers = patient
            .next_where("peers", |p| !p["peers"].as_array().unwrap().is_empty())
            .await;
        assert_eq!(peers["peers"][0]["peer"], clinician_peer.as_str());
        assert_eq!(peers["peers"][0]["role"], "clinician");
        let (_, appointment) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/appointments/{}", b.id),
        )
        .await;
        assert_eq!(
            appointment["status"], "in_visit",
            "admitting starts the appointment"
        );

        // Signaling goes to that participant, exactly as sent.
        let offer = json!({"sdp": {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}});
        patient
            .send(json!({"type": "signal", "to": clinician_peer, "data": offer}))
            .await;
        let relayed = clinician.next("signal").await;
        assert_eq!(relayed["from"], patient_peer.as_str());
        assert_eq!(relayed["data"], offer);
        clinician
            .send(json!({"type": "chat", "text": "Can you hear me?"}))
            .await;
        let chat = patient.next("chat").await;
        assert_eq!(
            (chat["text"].as_str(), chat["role"].as_str()),
            (Some("Can you hear me?"), Some("clinician"))
        );
        // The chat is kept with the visit's record.
        let (status, record) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["chat"][0]["text"], "Can you hear me?");
        assert_eq!(record["chat"][0]["role"], "clinician");
        let page = b
            .clinician
            .session
            .client
            .get(app.url(&format!("/visits/{}/record", b.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains(": Can you hear me?</li>"), "{page}");

        patient.send(json!({"type": "connected"})).await;
        clinician.state("in_call").await;
        patient
            .send(json!({"type": "stats", "samples": [{"round_trip_ms": 42.0, "packet_loss_pct": 0.5, "bitrate_kbps": 900.0, "frames_decoded": 300}]}))
            .await;
        patient
            .send(json!({"type": "media", "audio_only": true}))
            .await;
        let switched = clinician
            .next_where("state", |s| s["visit"]["audio_only"] == true)
            .await;
        assert_eq!(switched["visit"]["state"], "in_call");

        // Closing the tab is a drop, never the end; the patient comes back and the call resumes.
        drop(patient);
        clinician.state("reconnecting").await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        let again = welcome(&mut patient).await;
        assert_ne!(again, patient_peer, "a rejoin is a new peer");
        assert_eq!(patient.state("reconnecting").await["admitted"], true);
        patient.send(json!({"type": "connected"})).await;
        clinician.state("in_call").await;

        // Only the clinician ends it, saying how.
        let (status, body) = post(
            &app,
            &b.patient.session,
            &format!("/api/v1/visits/{}/end", b.id),
            json!({"outcome": "completed"}),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/end", b.id),
            json!({"outcome": "finished"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, ended) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/end", b.id),
            json!({"outcome": "completed"}),
        )
        .await;
        assert_eq!(
            (status, ended["state"].as_str()),
            (200, Some("ended")),
            "{ended}"
        );
        let last = patient.state("ended").await;
        assert_eq!(last["visit"]["outcome"], "completed");
        assert_eq!(last["admitted"], false);

        let (_, record) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        let v = &record["visit"];
        for time in ["checked_in_at", "admitted_at", "started_at", "ended_at"] {
            assert!(v[time].is_string(), "{time}: {record}");
        }
        assert_eq!(v["drops"], 1);
        assert_eq!(v["modality_used"], "audio_only");
        assert_eq!(v["outcome"], "completed");
        assert_eq!(record["appointment_status"], "completed");
        assert_eq!(record["quality"]["samples"], 1);
        assert_eq!(record["quality"]["avg_round_trip_ms"], 42.0);
        let kinds: Vec<&str> = record["log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "checked_in",
                "admitted",
                "connected",
                "audio_only",
                "dropped",
                "reconnected",
                "ended"
            ],
            "{record}"
        );
        // Every entry into the visit is in the audit trail.
        let joins = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(b.c.org.org.id),
                action: Some(AuditAction::VisitRead),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let joined = joins
            .iter()
            .filter(|r| {
                r.entry
                    .detail
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("joined")
            })
            .count();
        assert_eq!(joined, 3, "patient twice, clinician once");
        // Over: nobody gets back in.
        let (status, body) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/admit", b.id),
            json!({}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "invalid_transition"));
    }
);

on_both_backends!(
    cancelling_takes_the_waiting_patient_out_of_the_waiting_room_at_once,
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        let mut patient = Live::open(&app, &b.patient.cookie, &b.id).await.unwrap();
        patient.state("waiting").await;
        let started = Instant::now();
        let (status, body) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/appointments/{}/cancel", b.id),
            json!({"reason": "clinician ill", "by_clinic": true}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let cancelled = patient.state("cancelled").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_eq!(cancelled["admitted"], false);
        let (_, record) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(record["visit"]["state"], "cancelled");
        assert!(record["visit"]["ended_at"].is_string());
        // A cancelled visit cannot be joined again.
        let status = Live::open(&app, &b.patient.cookie, &b.id).await.err();
        assert_eq!(
            status, None,
            "the page may still connect and read the state"
        );
    }
);

on_both_backends!(
    signaling_refuses_bad_messages_and_strangers_and_leaves_the_others_unaffected,
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/admit", b.id),
            json!({}),
        )
        .await;
        // Nobody signed in, another patient, and another site's page are turned away before the
        // connection opens.
        assert_eq!(Live::open(&app, "", &b.id).await.err(), Some(401));
        let (_, stranger_user) = app.patient_account(&b.c.org).await;
        let stranger = person(&app, &stranger_user).await;
        assert_eq!(
            Live::open(&app, &stranger.cookie, &b.id).await.err(),
            Some(404),
            "another patient's visit does not exist for them"
        );
        assert_eq!(
            Live::open_with(&app, &b.patient.cookie, &b.id, Some("https://evil.example"))
                .await
                .err(),
            Some(403)
        );
        let same_site = format!("http://{}", app.addr);
        let mut patient = Live::open_with(&app, &b.patient.cookie, &b.id, Some(&same_site))
            .await
            .unwrap();
        welcome(&mut patient).await;
        let mut clinician = Live::open(&app, &b.clinician.cookie, &b.id).await.unwrap();
        let clinician_peer = welcome(&mut clinician).await;

        let bad = [
            ("{not json".to_string(), "malformed"),
            (json!({"type": "launch"}).to_string(), "unknown_type"),
            (json!({"type": "signal", "to": "ffffffff1", "data": {"candidate": {}}}).to_string(), "unknown_peer"),
            (
                json!({"type": "signal", "to": clinician_peer, "data": {"pad": "x".repeat(70_000)}}).to_string(),
                "too_large",
            ),
            (json!({"type": "stats", "samples": [{"round_trip_ms": -5.0}]}).to_string(), "validation_failed"),
        ];
        for (frame, expected) in &bad {
            patient.send_text(frame.clone()).await;
            let refused = patient.next("error").await;
            assert_eq!(
                refused["code"],
                *expected,
                "{}",
                &frame[..frame.len().min(80)]
            );
        }
        // The clinician saw none of it and still hears the patient.
        patient
            .send(json!({"type": "signal", "to": clinician_peer, "data": {"candidate": {"candidate": "c"}}}))
            .await;
        let relayed = clinician.next("signal").await;
        assert_eq!(relayed["data"]["candidate"]["candidate"], "c");
        // One refusal too many closes the connection (policy violation).
        patient.send_text("nope".into()).await;
        assert_eq!(patient.closed().await, Some(1008));
        clinician.send(json!({"type": "ping"})).await;
        clinician.next("pong").await;
    }
);

on_both_backends!(
    a_guest_joins_by_a_one_time_link_and_waits_until_the_clinician_lets_them_in,
    |app: TestApp| async move {
        let b = booked(&app).await;
        check_in(&app, &b).await;
        let path = format!("/api/v1/visits/{}/invites", b.id);
        let (status, body) = post(
            &app,
            &b.patient.session,
            &path,
            json!({"name": "Ana Ruiz", "relation": "sibling"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, created) = post(
            &app,
            &b.patient.session,
            &path,
            json!({"name": "Ana Ruiz", "relation": "interpreter"}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["invite"]["delivery"], "link_shown");
        assert_eq!(created["invite"]["status"], "invited");
        let link = created["link"].as_str().unwrap();
        let token = link.rsplit('/').next().unwrap();
        let token_hash = server::auth::secrets::sha256_hex(token);

        // The guest's browser opens the link: it works once.
        let guest_token = server::auth::secrets::random_token();
        let guest_session = server::auth::secrets::sha256_hex(&guest_token);
        let ctx = app.state.ctx();
        guests::open(ctx, &token_hash, &guest_session)
            .await
            .unwrap();
        let again = guests::open(ctx, &token_hash, "another-browser").await;
        assert!(
            matches!(again, Err(domain::DomainError::InviteUnusable(_))),
            "{again:?}"
        );
        let (_, listed) = get(&app, &b.clinician.session, &path).await;
        assert_eq!(listed[0]["status"], "waiting", "{listed}");

        let guest_cookie = format!("telemed_guest={guest_token}");
        let mut guest = Live::open(&app, &guest_cookie, &b.id).await.unwrap();
        let hello = guest.next("welcome").await;
        assert_eq!(hello["you"]["role"], "guest");
        assert_eq!(hello["you"]["name"], "Ana Ruiz (interpreter)");
        let waiting = guest.next("state").await;
        assert_eq!(waiting["admitted"], false);
        assert!(
            waiting["visit"].get("guests").is_none(),
            "guests see only the call"
        );
        assert!(waiting["visit"].get("location_text").is_none());

        let mut clinician = Live::open(&app, &b.clinician.cookie, &b.id).await.unwrap();
        welcome(&mut clinician).await;
        post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/admit", b.id),
            json!({}),
        )
        .await;
        // The patient is in; the guest still waits for their own admission.
        let still = guest.state("admitted").await;
        assert_eq!(still["admitted"], false);
        let invite_id = created["invite"]["id"].as_str().unwrap();
        let (status, _) = post(
            &app,
            &b.patient.session,
            &format!("{path}/{invite_id}/admit"),
            json!({}),
        )
        .await;
        assert_eq!(status, 403, "only the clinician lets guests in");
        let (status, admitted) = post(
            &app,
            &b.clinician.session,
            &format!("{path}/{invite_id}/admit"),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, admitted["status"].as_str()),
            (200, Some("admitted")),
            "{admitted}"
        );
        guest.next_where("state", |s| s["admitted"] == true).await;
        let peers = guest
            .next_where("peers", |p| !p["peers"].as_array().unwrap().is_empty())
            .await;
        assert_eq!(peers["peers"][0]["role"], "clinician");
        // Up to two guests.
        post(
            &app,
            &b.patient.session,
            &path,
            json!({"name": "Bo", "relation": "family"}),
        )
        .await;
        let (status, body) = post(
            &app,
            &b.patient.session,
            &path,
            json!({"name": "Cy", "relation": "family"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        // Once the visit ends the link no longer opens it.
        post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/end", b.id),
            json!({"outcome": "completed"}),
        )
        .await;
        guest.state("ended").await;
        assert_eq!(
            Live::open(&app, &guest_cookie, &b.id).await.err(),
            Some(410)
        );
    }
);

on_both_backends!(
    an_emergency_and_a_licensure_stopped_check_in_alert_the_sites_staff_live,
    |app: TestApp| async move {
        let b = booked(&app).await;
        let front_desk_user = app
            .staff(&b.c.org, domain::identity::Role::FrontDesk, &[0])
            .await;
        let desk = person(&app, &front_desk_user).await;
        let mut watching = Live::open_path(&app, &desk.cookie, "/api/v1/live/staff", None)
            .await
            .unwrap();
        assert_eq!(
            Live::open_path(&app, &b.patient.cookie, "/api/v1/live/staff", None)
                .await
                .err(),
            Some(403)
        );

        // Checking in from a state where the clinician holds no license: refused, and staff told.
        let (status, body) = post(
            &app,
            &b.patient.session,
            &format!("/api/v1/appointments/{}/check-in", b.id),
            json!({"patient_state": "TX", "location": "hotel, Austin"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "clinician_not_licensed"));
        let alert = watching.next("alert").await;
        assert_eq!(alert["alert"]["kind"], "licensure_mismatch");
        assert_eq!(alert["alert"]["location_text"], "hotel, Austin");
        let (status, _) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(status, 404, "no visit was opened");

        check_in(&app, &b).await;
        let queued = watching.next("queue").await;
        assert_eq!(queued["state"], "waiting");
        let (status, _) = post(
            &app,
            &b.patient.session,
            &format!("/api/v1/visits/{}/emergency", b.id),
            json!({"reason": "help"}),
        )
        .await;
        assert_eq!(status, 403, "the clinician raises emergencies");
        let (status, body) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/emergency", b.id),
            json!({"reason": " "}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, raised) = post(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}/emergency", b.id),
            json!({"reason": "chest pain, short of breath"}),
        )
        .await;
        assert_eq!(status, 201, "{raised}");
        assert_eq!(raised["location_text"], "home, 12 Elm St, Albany");
        let alert = watching
            .next_where("alert", |a| a["alert"]["kind"] == "emergency")
            .await;
        assert_eq!(alert["alert"]["reason"], "chest pain, short of breath");

        let (_, open) = get(&app, &desk.session, "/api/v1/alerts").await;
        assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
        let id = raised["id"].as_str().unwrap();
        let (status, _) = post(
            &app,
            &desk.session,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({}),
        )
        .await;
        assert_eq!(status, 204);
        let (status, body) = post(
            &app,
            &desk.session,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            json!({}),
        )
        .await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
        let (_, open) = get(&app, &desk.session, "/api/v1/alerts").await;
        assert_eq!(open.as_array().unwrap().len(), 1);
        let (_, record) = get(
            &app,
            &b.clinician.session,
            &format!("/api/v1/visits/{}", b.id),
        )
        .await;
        assert_eq!(record["escalations"].as_array().unwrap().len(), 2);
        let flagged = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(b.c.org.org.id),
                action: Some(AuditAction::EscalationRaised),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(flagged.len(), 2);
    }
);

/// Two servers on one PostgreSQL database: the patient on one, the clinician on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(telemed_pg),
    ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
)]
async fn two_servers_sharing_postgresql_relay_one_call() {
    let first = TestApp::spawn(Backend::Postgres).await;
    server::startup::start_relay(&first.state, &first.database_url)
        .await
        .unwrap();
    let store = store::connect(&first.database_url).await.unwrap();
    let second_state = server::state::AppState::new(
        store,
        first.clock.clone(),
        first.state.config.as_ref().clone(),
        first.state.sealer.clone(),
    );
    server::startup::start_relay(&second_state, &first.database_url)
        .await
        .unwrap();
    let second_addr = server::startup::spawn(second_state).await.unwrap();
    let b = booked(&first).await;
    check_in(&first, &b).await;

    let mut patient = Live::open(&first, &b.patient.cookie, &b.id).await.unwrap();
    let patient_peer = welcome(&mut patient).await;
    patient.state("waiting").await;
    // The same cookie works on the other server: sessions live in the shared database.
    let mut request = format!("ws://{second_addr}/api/v1/visits/{}/live", b.id)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", b.clinician.cookie.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut clinician = Live { socket };
    let clinician_peer = welcome(&mut clinician).await;
    let second_http = reqwest::Client::new();
    let admitted = second_http
        .post(format!("http://{second_addr}/api/v1/visits/{}/admit", b.id))
        .header("cookie", &b.clinician.cookie)
        .header("x-csrf-token", &b.clinician.session.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), 200);
    // Admitted on the second server; the patient on the first follows and sees the clinician.
    patient.state("admitted").await;
    let peers = patient
        .next_where("peers", |p| !p["peers"].as_array().unwrap().is_empty())
        .await;
    assert_eq!(peers["peers"][0]["peer"], clinician_peer.as_str());
    clinician
        .next_where("peers", |p| !p["peers"].as_array().unwrap().is_empty())
        .await;
    // An offer larger than a NOTIFY payload crosses too (parked in the database).
    let big_sdp = format!("v=0\r\n{}", "a=candidate:x\r\n".repeat(800));
    patient
        .send(json!({"type": "signal", "to": clinician_peer, "data": {"sdp": {"type": "offer", "sdp": big_sdp}}}))
        .await;
    let offer = clinician.next("signal").await;
    assert_eq!(offer["from"], patient_peer.as_str());
    assert_eq!(offer["data"]["sdp"]["sdp"], big_sdp);
    clinician
        .send(json!({"type": "signal", "to": patient_peer, "data": {"sdp": {"type": "answer", "sdp": "v=0"}}}))
        .await;
    assert_eq!(
        patient.next("signal").await["data"]["sdp"]["type"],
        "answer"
    );
    patient
        .send(json!({"type": "chat", "text": "hello from node one"}))
        .await;
    assert_eq!(clinician.next("chat").await["text"], "hello from node one");
    // The patient leaves node one: node two's clinician sees them go.
    drop(patient);
    clinician
        .next_where("peers", |p| p["peers"].as_array().unwrap().is_empty())
        .await;
}
