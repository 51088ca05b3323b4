//! Secure messaging through the JSON API, on SQLite and PostgreSQL: a patient writes only to
//! their own care team and never sees staff-only notes, read receipts and unread counts,
//! attachments typed by content within the size limit, reply targets in business days with
//! overdue flags under an injected clock, the email that a reply waits (no health information),
//! and every read audited. Refusals write nothing.

use base64::Engine;
use domain::Clock;
use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::Role;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::clinic::*;
use crate::helpers::*;
use crate::on_both_backends;

pub(crate) const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0, 1,
];
pub(crate) const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

pub(crate) fn file(name: &str, bytes: &[u8]) -> Value {
    json!({
        "file_name": name,
        "content_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

async fn audits(app: &TestApp, action: AuditAction) -> i64 {
    app.audited(AuditQuery {
        action: Some(action),
        ..AuditQuery::default()
    })
    .await
}

async fn patient_thread_count(app: &TestApp, c: &Clinic) -> usize {
    app.store()
        .patient_threads(c.org.org.id, c.patient.id)
        .await
        .unwrap()
        .len()
}

on_both_backends!(
    a_patient_writes_only_to_their_own_care_team_and_never_sees_staff_only_notes,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let patient = app.sign_in(&c.patient_user).await;
        let home = c.org.sites[0].id.to_string();
        let elsewhere = c.org.sites[1].id.to_string();
        // Recipients: the home clinic only (no visits yet, so no clinician who saw them).
        let (status, r) = get(&app, &patient, "/api/v1/me/recipients").await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["sites"].as_array().unwrap().len(), 1);
        assert_eq!(r["sites"][0]["id"], home.as_str());
        // Another site's care team, and a clinician who never saw them: refused, nothing written.
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/threads",
            json!({"site_id": elsewhere, "subject": "Hello", "body": "Can you help?"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        assert!(body.to_string().contains("site_id"), "{body}");
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/threads",
            json!({"site_id": home, "clinician_id": c.clinician.user.id.to_string(),
                   "subject": "Hello", "body": "Can you help?"}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("clinician_id"), "{body}");
        assert_eq!(patient_thread_count(&app, &c).await, 0);
        // To the home clinic's care team.
        let (status, thread) = post(
            &app,
            &patient,
            "/api/v1/threads",
            json!({"site_id": home, "subject": "Refill", "body": "I am almost out of my inhaler."}),
        )
        .await;
        assert_eq!(status, 201, "{thread}");
        assert_eq!(thread["status"], "open");
        assert_eq!(
            thread["reply_due_at"],
            Value::Null,
            "the patient sees no target"
        );
        let id = thread["id"].as_str().unwrap().to_string();

        // The site's inbox shows it unread.
        let nurse_user = app.staff(&c.org, Role::Nurse, &[0]).await;
        let nurse = app.sign_in(&nurse_user).await;
        let inbox_path = format!("/api/v1/threads?site_id={home}");
        let (status, inbox) = get(&app, &nurse, &inbox_path).await;
        assert_eq!(status, 200, "{inbox}");
        assert_eq!(
            (inbox["unread"].as_i64(), inbox["overdue"].as_i64()),
            (Some(1), Some(0))
        );
        assert_eq!(inbox["threads"][0]["id"], id.as_str());
        assert_eq!(inbox["threads"][0]["unread"], 1);
        assert_eq!(
            inbox["threads"][0]["patient_name"],
            c.patient.full_name().as_str()
        );
        assert!(inbox["threads"][0]["reply_due_at"].is_string());

        // Staff of another site only: refused (the inbox and the thread).
        let west = app.staff(&c.org, Role::Nurse, &[1]).await;
        let west = app.sign_in(&west).await;
        let (status, _) = get(&app, &west, &inbox_path).await;
        assert_eq!(status, 403);
        let (status, _) = get(&app, &west, &format!("/api/v1/threads/{id}")).await;
        assert_eq!(status, 403);
        // Another organization: not found.
        let other = app.org("Elsewhere").await;
        let stranger = app.staff(&other, Role::OrgAdmin, &[0]).await;
        let stranger = app.sign_in(&stranger).await;
        let (status, _) = get(&app, &stranger, &format!("/api/v1/threads/{id}")).await;
        assert_eq!(status, 404);

        // The nurse opens it (a read receipt), writes a staff-only note, and answers.
        let (status, opened) = get(&app, &nurse, &format!("/api/v1/threads/{id}")).await;
        assert_eq!(status, 200, "{opened}");
        assert!(opened["messages"][0]["read_at"].is_string(), "{opened}");
        let (status, note) = post(
            &app,
            &nurse,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Last refill was in March; check with Dr. Lee.", "staff_only": true}),
        )
        .await;
        assert_eq!(status, 201, "{note}");
        let (status, answer) = post(
            &app,
            &nurse,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "A new prescription is at your pharmacy."}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        let (_, inbox) = get(&app, &nurse, &inbox_path).await;
        assert_eq!(inbox["unread"], 0);
        assert_eq!(inbox["threads"][0]["status"], "waiting_on_patient");
        assert_eq!(inbox["threads"][0]["reply_due_at"], Value::Null);
        assert_eq!(
            inbox["threads"][0]["assigned_to"],
            nurse_user.user.id.to_string().as_str(),
            "whoever answers first takes the thread"
        );

        // The patient: the answer, not the note; a patient cannot write a staff-only note.
        let (_, mine) = get(&app, &patient, "/api/v1/me/threads").await;
        assert_eq!(mine[0]["unread"], 1);
        let (status, seen) = get(&app, &patient, &format!("/api/v1/threads/{id}")).await;
        assert_eq!(status, 200);
        let bodies: Vec<&str> = seen["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                "I am almost out of my inhaler.",
                "A new prescription is at your pharmacy."
            ]
        );
        assert!(!seen.to_string().contains("Dr. Lee"), "{seen}");
        assert!(!seen.to_string().contains("staff_only\":true"), "{seen}");
        let (status, body) = post(
            &app,
            &patient,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "psst", "staff_only": true}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        // The staff side sees the receipt of its answer once the patient read it.
        let (_, opened) = get(&app, &nurse, &format!("/api/v1/threads/{id}")).await;
        assert_eq!(opened["messages"].as_array().unwrap().len(), 3);
        assert!(opened["messages"][2]["read_at"].is_string(), "{opened}");
        // Closing twice is refused by the state machine; a patient cannot close.
        let (status, closed) = post(
            &app,
            &nurse,
            &format!("/api/v1/threads/{id}/close"),
            json!({}),
        )
        .await;
        assert_eq!((status, closed["status"].as_str()), (200, Some("closed")));
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/threads/{id}/close"),
            json!({}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "thread_transition"));
        let (status, _) = post(
            &app,
            &patient,
            &format!("/api/v1/threads/{id}/reopen"),
            json!({}),
        )
        .await;
        assert_eq!(status, 404);
        // Assigning to someone of another site is refused by name.
        let west_user = app.staff(&c.org, Role::Nurse, &[1]).await;
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/threads/{id}/assign"),
            json!({"assigned_to": west_user.user.id.to_string()}),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.to_string().contains("assigned_to"), "{body}");
        // Every read was audited: three thread opens (the refused ones read nothing), and the
        // inbox and list reads.
        assert_eq!(audits(&app, AuditAction::ThreadRead).await, 3);
        assert_eq!(audits(&app, AuditAction::ThreadList).await, 3);
    }
);

on_both_backends!(
    attachments_are_typed_by_content_within_the_limit_and_read_by_those_who_may_open_the_thread,
    server::config::ServeConfig {
        attachment_max_bytes: 4096,
        ..server::config::ServeConfig::for_testing()
    },
    |app: TestApp| async move {
        let c = app.clinic().await;
        let patient = app.sign_in(&c.patient_user).await;
        let home = c.org.sites[0].id.to_string();
        let start = |files: Value| json!({"site_id": home, "subject": "Rash", "body": "See the photo.", "files": files});
        // An executable named .jpg, a file over the limit, broken base64: refused by name.
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/threads",
            start(json!([file("rash.jpg", b"MZ\x90\x00 not an image")])),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("files[0]"), "{body}");
        let mut big = JPEG.to_vec();
        big.resize(5000, 0);
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/threads",
            start(json!([file("ok.png", PNG), file("big.jpg", &big)])),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.to_string().contains("files[1]"), "{body}");
        assert!(body.to_string().contains("limit"), "{body}");
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/threads",
            start(json!([{"file_name": "x.png", "content_base64": "%%%"}])),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body.to_string().contains("files[0].content_base64"),
            "{body}"
        );
        assert_eq!(patient_thread_count(&app, &c).await, 0, "nothing written");
        // A PNG named .pdf is a PNG.
        let (status, thread) = post(
            &app,
            &patient,
            "/api/v1/threads",
            start(json!([file("../../scan.pdf", PNG)])),
        )
        .await;
        assert_eq!(status, 201, "{thread}");
        let id = thread["id"].as_str().unwrap().to_string();
        let (_, seen) = get(&app, &patient, &format!("/api/v1/threads/{id}")).await;
        let attachment = &seen["messages"][0]["attachments"][0];
        assert_eq!(attachment["content_type"], "image/png");
        assert_eq!(attachment["file_name"], "scan.pdf", "no path kept");
        let href = attachment["href"].as_str().unwrap().to_string();
        let response = patient.client.get(app.url(&href)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
        assert_eq!(audits(&app, AuditAction::AttachmentRead).await, 1);
        // A file on a staff-only note is not the patient's to download.
        let staff = app.sign_in(&c.clinician).await;
        let (status, note) = post(
            &app,
            &staff,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Dermatology referral form", "staff_only": true,
                   "files": [file("form.jpg", JPEG)]}),
        )
        .await;
        assert_eq!(status, 201, "{note}");
        let note_file = note["attachments"][0]["href"].as_str().unwrap().to_string();
        let response = patient
            .client
            .get(app.url(&note_file))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = staff.client.get(app.url(&note_file)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        // Another organization cannot fetch it either.
        let other = app.org("Elsewhere").await;
        let stranger = app.staff(&other, Role::OrgAdmin, &[0]).await;
        let stranger = app.sign_in(&stranger).await;
        let response = stranger.client.get(app.url(&href)).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
);

on_both_backends!(
    replies_are_due_in_business_days_of_the_site_and_flagged_overdue_after,
    |app: TestApp| async move {
        // Wednesday 2 December 2026, 10:00 in New York (the sites' zone).
        let wednesday: Timestamp = "2026-12-02T15:00:00Z".parse().unwrap();
        app.set_clock(wednesday);
        let c = app.clinic().await;
        let home = c.org.sites[0].id.to_string();
        let patient = app.sign_in(&c.patient_user).await;
        let (status, thread) = post(
            &app,
            &patient,
            "/api/v1/threads",
            json!({"site_id": home, "subject": "Results", "body": "Are my results in?"}),
        )
        .await;
        assert_eq!(status, 201, "{thread}");
        let id = thread["id"].as_str().unwrap().to_string();
        let inbox = |overdue_only: bool| {
            format!("/api/v1/threads?site_id={home}&overdue_only={overdue_only}")
        };
        let staff = app.sign_in(&c.clinician).await;
        let (_, page) = get(&app, &staff, &inbox(false)).await;
        // Two business days later, the same wall-clock time: Friday 10:00.
        assert_eq!(page["threads"][0]["reply_due_at"], "2026-12-04T15:00:00Z");
        assert_eq!(page["threads"][0]["overdue"], false);
        let (_, page) = get(&app, &staff, &inbox(true)).await;
        assert_eq!(page["threads"].as_array().unwrap().len(), 0);
        // Friday 10:01: overdue, counted, and found by the filter.
        app.set_clock("2026-12-04T15:01:00Z".parse().unwrap());
        let staff = app.sign_in(&c.clinician).await;
        let (_, page) = get(&app, &staff, &inbox(true)).await;
        assert_eq!(page["overdue"], 1);
        assert_eq!(page["threads"][0]["id"], id.as_str());
        assert_eq!(page["threads"][0]["overdue"], true);
        // An answer clears the target.
        let (status, _) = post(
            &app,
            &staff,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Yes, they are normal."}),
        )
        .await;
        assert_eq!(status, 201);
        let (_, page) = get(&app, &staff, &inbox(false)).await;
        assert_eq!(page["overdue"], 0);
        assert_eq!(page["threads"][0]["overdue"], false);
        // The patient writes again on Saturday: counted from Monday 08:00, due Wednesday 08:00.
        app.set_clock("2026-12-05T17:00:00Z".parse().unwrap());
        let patient = app.sign_in(&c.patient_user).await;
        let (status, _) = post(
            &app,
            &patient,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Thank you! One more question."}),
        )
        .await;
        assert_eq!(status, 201);
        let staff = app.sign_in(&c.clinician).await;
        let (_, page) = get(&app, &staff, &inbox(false)).await;
        assert_eq!(page["threads"][0]["reply_due_at"], "2026-12-09T13:00:00Z");
        assert_eq!(page["threads"][0]["status"], "open");
    }
);

on_both_backends!(
    the_patient_is_emailed_that_a_reply_waits_without_health_information,
    |first: TestApp| async move {
        let smtp = crate::smtp::SmtpCapture::start().await;
        let config = server::config::ServeConfig {
            smtp_url: Some(smtp.url().parse().unwrap()),
            public_url: Some("https://telemed.riverside.example".into()),
            ..server::config::ServeConfig::for_testing()
        };
        let backend = if first.database_url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        drop(first);
        let app = TestApp::spawn_with(backend, config).await;
        let c = app.clinic().await;
        let mut record = c.patient.clone();
        record.email = Some(domain::identity::Email::parse("email", "ada@example.org").unwrap());
        app.store()
            .update_patient(
                &record,
                domain::compliance::AuditEntry::new(
                    app.clock.now(),
                    domain::compliance::AuditActor::Operator,
                    AuditAction::PatientUpdate,
                    "Patient",
                ),
            )
            .await
            .unwrap();
        let home = c.org.sites[0].id.to_string();
        let patient = app.sign_in(&c.patient_user).await;
        let (_, thread) = post(
            &app,
            &patient,
            "/api/v1/threads",
            json!({"site_id": home, "subject": "Migraine medicine", "body": "Sumatriptan is not helping."}),
        )
        .await;
        let id = thread["id"].as_str().unwrap().to_string();
        // The patient's own message tells nobody by email.
        let run = server::notices::send_reply_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!(run, server::notices::NoticeRun::default());
        let staff = app.sign_in(&c.clinician).await;
        let (status, _) = post(
            &app,
            &staff,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Try the higher dose of sumatriptan we discussed."}),
        )
        .await;
        assert_eq!(status, 201);
        let run = server::notices::send_reply_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!(run.emailed, 1);
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].to, vec!["<ada@example.org>".to_string()]);
        let text = crate::smtp::readable(&messages[0].data);
        assert!(
            text.contains("https://telemed.riverside.example/messages"),
            "{text}"
        );
        for secret in [
            "umatriptan",
            "igraine",
            "dose",
            "Test Clinician",
            "North Clinic",
        ] {
            assert!(!text.contains(secret), "{secret} in the email: {text}");
        }
        // Once per reply: nothing more until staff write again.
        let again = server::notices::send_reply_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!(again, server::notices::NoticeRun::default());
        // Once the patient read it, a later reply is told again.
        let _ = get(&app, &patient, &format!("/api/v1/threads/{id}")).await;
        app.set_clock(app.clock.now() + jiff::SignedDuration::from_mins(5));
        let staff = app.sign_in(&c.clinician).await;
        let (status, _) = post(
            &app,
            &staff,
            &format!("/api/v1/threads/{id}/messages"),
            json!({"body": "Also keep a headache diary."}),
        )
        .await;
        assert_eq!(status, 201);
        let run = server::notices::send_reply_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!((run.emailed, smtp.messages().len()), (1, 2));
    }
);
