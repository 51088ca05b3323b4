//! Visit notes and the care team through the JSON API, on SQLite and PostgreSQL: the treating
//! clinician opens a patient of another site without emergency access (only around the visit),
//! telehealth facts filled from the visit record, ICD-10-CM codes checked, drafts saved by
//! version, signing by the visit's clinician only, a signed note locked, signed addenda, the
//! unsigned list, and the patient's after-visit summary; every refusal writes nothing.

use domain::Clock;
use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::Role;
use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::clinic::*;
use crate::helpers::*;
use crate::on_both_backends;

/// A video visit at site 1 (West) for a patient whose home site is 0 (North), with a
/// clinician who works only at site 1; checked in, admitted and ended.
pub(crate) struct Visited {
    pub(crate) c: Clinic,
    pub(crate) id: String,
    pub(crate) clinician: TestUser,
    pub(crate) session: Session,
    pub(crate) patient: Session,
}

async fn put(app: &TestApp, session: &Session, path: &str, body: Value) -> (u16, Value) {
    let response = session
        .client
        .put(app.url(path))
        .header("x-csrf-token", &session.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn booked_at_west(app: &TestApp) -> Visited {
    let c = app.clinic().await;
    let clinician = app.staff(&c.org, Role::Clinician, &[1]).await;
    app.weekly_hours(&c.org, clinician.user.id, 1, "wednesday", "09:00", "12:00")
        .await;
    let slots = app.open_slots(&c.org, clinician.user.id).await;
    let patient = app.sign_in(&c.patient_user).await;
    let mut body = booking(&slots[0], &c.video);
    body["consent_version"] = json!(1);
    let (status, booked) = post(app, &patient, "/api/v1/appointments", body).await;
    assert_eq!(status, 201, "{booked}");
    app.set_clock(
        slots[0]
            .slot
            .start_at
            .checked_sub(SignedDuration::from_mins(5))
            .unwrap(),
    );
    let session = app.sign_in(&clinician).await;
    // The clock jumped ahead: the patient's first session has expired.
    let patient = app.sign_in(&c.patient_user).await;
    Visited {
        c,
        id: booked["id"].as_str().unwrap().to_string(),
        clinician,
        session,
        patient,
    }
}

pub(crate) async fn visited(app: &TestApp) -> Visited {
    let v = booked_at_west(app).await;
    let (status, body) = post(
        app,
        &v.patient,
        &format!("/api/v1/appointments/{}/check-in", v.id),
        json!({"patient_state": "NY", "location": "home, 12 Elm St, Albany", "questionnaire": {"notes": "sore throat"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (path, body) in [
        ("admit", json!({})),
        ("end", json!({"outcome": "completed"})),
    ] {
        let (status, out) = post(
            app,
            &v.session,
            &format!("/api/v1/visits/{}/{path}", v.id),
            body,
        )
        .await;
        assert_eq!(status, 200, "{path}: {out}");
    }
    v
}

on_both_backends!(
    the_treating_clinician_opens_the_record_without_emergency_access_only_around_the_visit,
    |app: TestApp| async move {
        let v = booked_at_west(&app).await;
        let path = format!("/api/v1/patients/{}", v.c.patient.id);
        // Five minutes before the visit, at another site than the patient's home clinic.
        let (status, body) = get(&app, &v.session, &path).await;
        assert_eq!(status, 200, "{body}");
        let reads = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::PatientRead),
                patient_ids: vec![v.c.patient.id],
                limit: 500,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            reads.iter().all(|r| !r.entry.flagged),
            "not emergency access"
        );
        // Another clinician of that site, without an appointment, needs emergency access.
        let other = app.staff(&v.c.org, Role::Clinician, &[1]).await;
        let other = app.sign_in(&other).await;
        let (status, body) = get(&app, &other, &path).await;
        assert_eq!((status, code(&body)), (403, "break_glass_required"));
        // Long after the visit the window has closed (default 30 days).
        app.set_clock(app.clock.now() + SignedDuration::from_hours(31 * 24));
        let session = app.sign_in(&v.clinician).await;
        let (status, body) = get(&app, &session, &path).await;
        assert_eq!(
            (status, code(&body)),
            (403, "break_glass_required"),
            "{body}"
        );
    }
);

on_both_backends!(
    a_note_is_filled_from_the_visit_checked_signed_once_and_then_takes_addenda_only,
    |app: TestApp| async move {
        let v = visited(&app).await;
        let (status, note) = post(
            &app,
            &v.session,
            &format!("/api/v1/appointments/{}/note", v.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 201, "{note}");
        let facts = &note["facts"];
        assert_eq!(facts["modality"], "video");
        assert_eq!(facts["patient_state"], "NY");
        assert_eq!(facts["consent_version"], 1);
        assert!(
            facts["clinician_site"]
                .as_str()
                .unwrap()
                .ends_with("West Clinic")
        );
        assert!(facts["checked_in_at"].is_string());
        assert_eq!(note["template"], "soap");
        let id = note["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/notes/{id}");

        // Facts cannot be typed over: the request has no such field.
        let (status, body) = put(
            &app,
            &v.session,
            &path,
            json!({"version": 1, "fields": {"facts": {"modality": "in_person"}}}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        // Codes must exist and be billable, and the refusal names the field.
        for (bad, says) in [
            ("Q99.99", "not an ICD-10-CM code"),
            ("J06", "not a billable code"),
        ] {
            let (status, body) = put(
                &app,
                &v.session,
                &path,
                json!({"version": 1, "fields": {"subjective": "x", "diagnoses": ["J02.9", bad]}}),
            )
            .await;
            assert_eq!(status, 422, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with("diagnoses[1]") && message.contains(says),
                "{message}"
            );
        }
        let fields = json!({
            "subjective": "Sore throat for two days, no fever.",
            "assessment": "Viral pharyngitis.",
            "plan": "Warm fluids, lozenges.",
            "instructions": "Drink warm fluids and rest. Take paracetamol if the throat hurts.",
            "diagnoses": ["j02.9"],
            "follow_up_days": 7
        });
        let (status, saved) = put(
            &app,
            &v.session,
            &path,
            json!({"version": 1, "fields": fields}),
        )
        .await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["version"], 2);
        assert_eq!(saved["diagnoses"][0]["code"], "J02.9");
        assert_eq!(
            saved["diagnoses"][0]["description"],
            "Acute pharyngitis, unspecified"
        );
        // A tab still on version 1 is told to reload; nothing written.
        let (status, body) = put(
            &app,
            &v.session,
            &path,
            json!({"version": 1, "fields": {"subjective": "stale"}}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "note_changed"));

        // The visit's nurse drafts but does not sign; another clinician does not sign either.
        let nurse = app.staff(&v.c.org, Role::Nurse, &[0]).await;
        let nurse = app.sign_in(&nurse).await;
        let (status, body) =
            put(&app, &nurse, &path, json!({"version": 2, "fields": fields})).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) =
            post(&app, &nurse, &format!("{path}/sign"), json!({"version": 3})).await;
        assert_eq!((status, code(&body)), (409, "not_note_signer"));
        let other = app.staff(&v.c.org, Role::Clinician, &[0, 1]).await;
        let other = app.sign_in(&other).await;
        let (status, body) =
            post(&app, &other, &format!("{path}/sign"), json!({"version": 3})).await;
        assert_eq!((status, code(&body)), (409, "not_note_signer"));
        // Signing needs a diagnosis.
        let (status, body) = post(
            &app,
            &v.session,
            &format!("{path}/sign"),
            json!({"version": 3, "fields": {"subjective": "no codes"}}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("diagnoses")
        );

        let (status, signed) = post(
            &app,
            &v.session,
            &format!("{path}/sign"),
            json!({"version": 3}),
        )
        .await;
        assert_eq!(status, 200, "{signed}");
        assert_eq!(signed["status"], "signed");
        let sha = signed["signature"]["sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64);
        let (_, read) = get(&app, &v.session, &path).await;
        assert_eq!(read["signature_matches"], true);
        assert_eq!(
            read["sections"]["subjective"],
            "Sore throat for two days, no fever."
        );

        // Locked: no save, no second signature, and nothing changes.
        let before = app.store().audit_head().await.unwrap().0;
        let (status, body) = put(
            &app,
            &v.session,
            &path,
            json!({"version": 4, "fields": fields}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "note_signed"));
        let (status, body) = post(
            &app,
            &v.session,
            &format!("{path}/sign"),
            json!({"version": 4}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "note_signed"));
        let (_, after) = get(&app, &v.session, &path).await;
        assert_eq!(after["version"], read["version"]);
        assert_eq!(after["signature"]["sha256"], sha);
        // Only the read above was written meanwhile.
        assert_eq!(app.store().audit_head().await.unwrap().0, before + 1);

        // Addenda, each signed by the visit's clinician.
        let (status, body) = post(
            &app,
            &other,
            &format!("{path}/addenda"),
            json!({"text": "mine"}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "not_note_signer"));
        let (status, addendum) = post(
            &app,
            &v.session,
            &format!("{path}/addenda"),
            json!({"text": "Throat swab negative for strep."}),
        )
        .await;
        assert_eq!(status, 201, "{addendum}");
        assert_eq!(addendum["signature"]["sha256"].as_str().unwrap().len(), 64);
        let (_, read) = get(&app, &v.session, &path).await;
        assert_eq!(read["addenda"].as_array().unwrap().len(), 1);

        // The patient reads the summary of their own note, never the note.
        let (status, summary) = get(&app, &v.patient, &format!("{path}/summary")).await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(
            summary["diagnoses"][0]["description"],
            "Acute pharyngitis, unspecified"
        );
        assert!(
            summary["instructions"]
                .as_str()
                .unwrap()
                .starts_with("Drink warm fluids")
        );
        assert!(
            summary["follow_up"]
                .as_str()
                .unwrap()
                .contains("in about a week")
        );
        let (status, _) = get(&app, &v.patient, &path).await;
        assert_eq!(status, 404);
        let (status, list) = get(&app, &v.patient, "/api/v1/me/summaries").await;
        assert_eq!(status, 200);
        assert_eq!(list[0]["read"], true);
        // Every read of the note was audited.
        let reads = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::NoteRead),
                patient_ids: vec![v.c.patient.id],
                limit: 500,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(reads.len() >= 3, "{}", reads.len());
    }
);

on_both_backends!(
    drafts_older_than_the_limit_are_listed_for_their_clinician,
    |app: TestApp| async move {
        let v = visited(&app).await;
        let (status, note) = post(
            &app,
            &v.session,
            &format!("/api/v1/appointments/{}/note", v.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 201);
        let (_, list) = get(&app, &v.session, "/api/v1/notes/unsigned").await;
        assert_eq!(list.as_array().unwrap().len(), 0);
        app.set_clock(app.clock.now() + SignedDuration::from_hours(73));
        let session = app.sign_in(&v.clinician).await;
        let (_, list) = get(&app, &session, "/api/v1/notes/unsigned").await;
        assert_eq!(list[0]["id"], note["id"]);
        // Someone else's drafts are not theirs to see here.
        let other = app.staff(&v.c.org, Role::Clinician, &[1]).await;
        let other = app.sign_in(&other).await;
        let (_, list) = get(&app, &other, "/api/v1/notes/unsigned").await;
        assert_eq!(list.as_array().unwrap().len(), 0);
    }
);

on_both_backends!(
    the_patient_is_emailed_once_that_a_summary_is_ready_without_health_information,
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
        let app = TestApp::spawn_with(backend, config).await;
        let v = visited(&app).await;
        let mut patient = v.c.patient.clone();
        patient.email = Some(domain::identity::Email::parse("email", "ada@example.org").unwrap());
        app.store()
            .update_patient(
                &patient,
                domain::compliance::AuditEntry::new(
                    app.clock.now(),
                    domain::compliance::AuditActor::Operator,
                    AuditAction::PatientUpdate,
                    "Patient",
                ),
            )
            .await
            .unwrap();
        let (_, note) = post(
            &app,
            &v.session,
            &format!("/api/v1/appointments/{}/note", v.id),
            json!({}),
        )
        .await;
        let path = format!("/api/v1/notes/{}", note["id"].as_str().unwrap());
        let (status, body) = post(
            &app,
            &v.session,
            &format!("{path}/sign"),
            json!({"version": 1, "fields": {"assessment": "Strep throat", "diagnoses": ["J02.0"]}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let run = server::notices::send_summary_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!(run.emailed, 1);
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].to, vec!["<ada@example.org>".to_string()]);
        let text = crate::smtp::readable(&messages[0].data);
        assert!(
            text.contains("https://telemed.riverside.example/summaries"),
            "{text}"
        );
        for secret in [
            "J02",
            "Strep",
            "pharyngitis",
            "throat",
            "West Clinic",
            "Test Clinician",
        ] {
            assert!(!text.contains(secret), "{secret} in the email: {text}");
        }
        // Once only.
        let again = server::notices::send_summary_notices_once(&app.state)
            .await
            .unwrap();
        assert_eq!(again, server::notices::NoticeRun::default());
    }
);

on_both_backends!(
    the_visits_nurse_is_in_the_care_team_and_opens_the_record_without_emergency_access,
    |app: TestApp| async move {
        let v = booked_at_west(&app).await;
        let nurse = app.staff(&v.c.org, Role::Nurse, &[1]).await;
        let other = app.staff(&v.c.org, Role::Nurse, &[1]).await;
        let record = format!("/api/v1/patients/{}", v.c.patient.id);
        let as_nurse = app.sign_in(&nurse).await;
        let closed = as_nurse.client.get(app.url(&record)).send().await.unwrap();
        assert_eq!(
            error_code(closed).await,
            (403, "forbidden".into()),
            "a nurse of another site, not on the visit (emergency access is for clinicians)"
        );

        // A nurse may name only themselves; nothing is written when refused. (Each sign-in of
        // the same person needs a fresh one-time code: the clock moves on 30 seconds.)
        app.clock.advance(SignedDuration::from_secs(31));
        let nb = crate::web_scheduling::browser_for(&app, &nurse).await;
        let page = nb.get(&format!("/appointments/{}", v.id)).await;
        assert!(
            page.body.contains("I am this visit's nurse"),
            "{}",
            page.body
        );
        let wrong = nb
            .post(
                &format!("/appointments/{}/nurse", v.id),
                &[
                    ("csrf", &page.csrf()),
                    ("nurse_id", &other.user.id.to_string()),
                ],
            )
            .await;
        assert_eq!(wrong.status, 403, "{}", wrong.body);

        // The visit's clinician names the nurse from the appointment page.
        app.clock.advance(SignedDuration::from_secs(31));
        let cb = crate::web_scheduling::browser_for(&app, &v.clinician).await;
        let page = cb.get(&format!("/appointments/{}", v.id)).await;
        assert!(page.body.contains("Nurse for this visit"), "{}", page.body);
        let bad = cb
            .post(
                &format!("/appointments/{}/nurse", v.id),
                &[
                    ("csrf", &page.csrf()),
                    ("nurse_id", &v.clinician.user.id.to_string()),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "a clinician is not a nurse: {}", bad.body);
        assert!(
            bad.body
                .contains("Nurse for this visit is not an active nurse")
        );
        let named = cb
            .post(
                &format!("/appointments/{}/nurse", v.id),
                &[
                    ("csrf", &page.csrf()),
                    ("nurse_id", &nurse.user.id.to_string()),
                ],
            )
            .await;
        assert_eq!(named.status, 303, "{}", named.body);
        let shown = cb.follow(&named).await;
        assert!(shown.body.contains("The nurse is on the visit"));
        assert!(shown.body.contains(&nurse.user.display_name));
        assert!(
            !shown.body.contains(">The visit&#39;s nurse</h2>")
                && !shown.body.contains(">The visit's nurse</h2>"),
            "with a nurse named, the form offers another: {}",
            shown.body
        );

        // Now the nurse is in the patient's care team for this visit: no emergency access.
        let open = as_nurse.client.get(app.url(&record)).send().await.unwrap();
        assert_eq!(open.status(), 200);
        let changes = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(v.c.org.org.id),
                action: Some(AuditAction::CareTeamChange),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            changes.len(),
            1,
            "one change, audited; the refusals wrote nothing"
        );
    }
);
