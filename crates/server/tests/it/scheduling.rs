//! Scheduling through the JSON API, on SQLite and PostgreSQL: booking and every rule with its
//! error code, the appointment's state machine, daylight saving, overlap across sites, reminders
//! through a real SMTP exchange, no-shows with an injected clock, the queue and calendar feeds.

use std::sync::Arc;

use async_trait::async_trait;
use domain::compliance::{AuditAction, AuditQuery, Outcome};
use domain::identity::service::org::{SiteInput, create_site};
use domain::identity::{Role, User};
use domain::scheduling::{AppointmentQuery, AppointmentStatus, CompetencyGate, VisitType};
use domain::{Clock, DomainError};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use server::config::ServeConfig;

use crate::clinic::*;
use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp::{SmtpCapture, calendar_attachment, readable};

async fn audit_actions(
    app: &TestApp,
    org: &TestOrg,
    action: AuditAction,
) -> Vec<domain::compliance::AuditRecord> {
    app.store()
        .search_audit(&AuditQuery {
            org_id: Some(org.org.id),
            action: Some(action),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

on_both_backends!(
    a_patient_books_a_video_visit_after_consenting_and_sees_it_with_its_history,
    |app: TestApp| async move {
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
        let patient = app.sign_in(&c.patient_user).await;
        let (status, found) = get(
            &app,
            &patient,
            &format!("/api/v1/slots?visit_type_id={}", c.video.id),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        let slots = found["slots"].as_array().unwrap();
        assert!(
            !slots.is_empty(),
            "NY patient sees the NY-licensed clinician"
        );
        assert!(
            slots[0]["local_start"]
                .as_str()
                .unwrap()
                .contains("T09:00:00-05:00[America/New_York]")
        );
        let slot_id = slots[0]["id"].as_str().unwrap();
        let body = json!({ "slot_id": slot_id, "visit_type_id": c.video.id.to_string(), "reason": "cough" });
        let (status, refused) = post(&app, &patient, "/api/v1/appointments", body.clone()).await;
        assert_eq!(
            (status, code(&refused)),
            (422, "consent_required"),
            "{refused}"
        );
        assert!(
            app.store()
                .list_appointments(c.org.org.id, &AppointmentQuery::default())
                .await
                .unwrap()
                .is_empty()
        );

        let (_, text) = get(&app, &patient, "/api/v1/consent/telehealth").await;
        let version = text["version"].as_i64().unwrap();
        let mut with_consent = body.clone();
        with_consent["consent_version"] = json!(version);
        let (status, booked) = post(&app, &patient, "/api/v1/appointments", with_consent).await;
        assert_eq!(status, 201, "{booked}");
        assert_eq!(booked["status"], "booked");
        assert_eq!(booked["patient_state"], "NY");
        assert_eq!(booked["patient_id"], c.patient.id.to_string());

        let (_, mine) = get(&app, &patient, "/api/v1/appointments").await;
        assert_eq!(mine["appointments"].as_array().unwrap().len(), 1);
        let id = booked["id"].as_str().unwrap();
        let (status, detail) = get(&app, &patient, &format!("/api/v1/appointments/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(detail["history"][0]["action"], "book");
        assert_eq!(detail["history"][0]["to_status"], "booked");
        assert_eq!(
            detail["history"][0]["actor_id"],
            c.patient_user.user.id.to_string()
        );
        let (_, consent) = get(
            &app,
            &patient,
            &format!("/api/v1/patients/{}/consent", c.patient.id),
        )
        .await;
        assert_eq!(consent["consented"], true);

        assert_eq!(
            audit_actions(&app, &c.org, AuditAction::AppointmentCreate)
                .await
                .len(),
            1
        );
        let checks = audit_actions(&app, &c.org, AuditAction::LicensureCheck).await;
        assert_eq!(checks.len(), 1, "the licensure check is audited");
        assert!(
            checks[0]
                .entry
                .detail
                .as_deref()
                .unwrap()
                .contains("licensure NY")
        );
        assert_eq!(
            audit_actions(&app, &c.org, AuditAction::ConsentGiven)
                .await
                .len(),
            1
        );
        assert!(
            !audit_actions(&app, &c.org, AuditAction::AppointmentRead)
                .await
                .is_empty()
        );
    }
);

on_both_backends!(
    every_booking_rule_refuses_with_its_own_code_and_writes_nothing,
    |app: TestApp| async move {
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
        let desk_user = app.staff(&c.org, Role::FrontDesk, &[0]).await;
        let desk = app.sign_in(&desk_user).await;
        let patient_id = c.patient.id.to_string();
        let (_, consent) = post(
            &app,
            &desk,
            &format!("/api/v1/patients/{patient_id}/consent"),
            json!({"version": 1}),
        )
        .await;
        assert_eq!(consent["method"], "recorded_by_staff");
        let before = app.store().audit_head().await.unwrap().0;
        let try_book = |body: Value| {
            let desk = &desk;
            let app = &app;
            async move { post(app, desk, "/api/v1/appointments", body).await }
        };
        let with = |extra: Value| {
            let mut body = booking(&slots[0], &c.video);
            body["patient_id"] = json!(patient_id);
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        // An unlicensed state: named in the message, and the refused check is audited.
        let (status, body) = try_book(with(json!({"patient_state": "TX"}))).await;
        assert_eq!(
            (status, code(&body)),
            (422, "clinician_not_licensed"),
            "{body}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("TX"));
        let denied = audit_actions(&app, &c.org, AuditAction::LicensureCheck).await;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].entry.outcome, Outcome::Denied);
        // A visit longer than the slot.
        let (status, body) =
            try_book(with(json!({"visit_type_id": c.long_video.id.to_string()}))).await;
        assert_eq!((status, code(&body)), (422, "slot_not_bookable"), "{body}");
        // Unknown slot, malformed ids and states.
        let (status, body) = try_book(with(
            json!({"slot_id": domain::ids::SlotId::new().to_string()}),
        ))
        .await;
        assert_eq!((status, code(&body)), (404, "not_found"));
        let (status, body) = try_book(with(json!({"slot_id": "not-an-id"}))).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, body) = try_book(with(json!({"patient_state": "ZZ"}))).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        // A time with no availability.
        let body = json!({
            "clinician_id": c.clinician.user.id.to_string(),
            "start": slots[0].slot.start_at.checked_add(SignedDuration::from_mins(7)).unwrap().to_string(),
            "visit_type_id": c.video.id.to_string(),
            "patient_id": patient_id,
        });
        let (status, body) = try_book(body).await;
        assert_eq!((status, code(&body)), (422, "slot_not_bookable"), "{body}");
        // Nothing but the one denied licensure check was written.
        assert_eq!(app.store().audit_head().await.unwrap().0, before + 1);
        assert!(
            app.store()
                .list_appointments(c.org.org.id, &AppointmentQuery::default())
                .await
                .unwrap()
                .is_empty()
        );

        // Booked by clinician and start instead of slot id; then the slot is taken.
        let by_time = json!({
            "clinician_id": c.clinician.user.id.to_string(),
            "start": slots[0].slot.start_at.to_string(),
            "visit_type_id": c.video.id.to_string(),
            "patient_id": patient_id,
        });
        let (status, body) = try_book(by_time.clone()).await;
        assert_eq!(status, 201, "{body}");
        let (other, _) = app.patient_account(&c.org).await;
        let mut second = by_time.clone();
        second["patient_id"] = json!(other.id.to_string());
        second["consent_version"] = json!(1);
        let (status, body) = try_book(second).await;
        assert_eq!((status, code(&body)), (409, "slot_taken"), "{body}");
        // The patient cannot hold an overlapping visit with another clinician.
        let colleague = app.staff(&c.org, Role::Clinician, &[0]).await;
        app.weekly_hours(&c.org, colleague.user.id, 0, "wednesday", "09:15", "10:15")
            .await;
        let theirs = app.open_slots(&c.org, colleague.user.id).await;
        let mut overlap = booking(&theirs[0], &c.video);
        overlap["patient_id"] = json!(patient_id);
        let (status, body) = try_book(overlap).await;
        assert_eq!(
            (status, code(&body)),
            (409, "patient_double_booked"),
            "{body}"
        );
        // A slot in the past.
        app.set_clock(
            slots[1]
                .slot
                .start_at
                .checked_add(SignedDuration::from_mins(1))
                .unwrap(),
        );
        let desk = app.sign_in(&desk_user).await;
        let (status, body) = post(
            &app,
            &desk,
            "/api/v1/appointments",
            with(json!({"slot_id": slots[1].slot.id.to_string()})),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "slot_not_bookable"));
        assert!(body["error"]["message"].as_str().unwrap().contains("past"));
    }
);

/// A gate that refuses everyone: where the training issue's certification rule plugs in.
struct NobodyCertified;

#[async_trait]
impl CompetencyGate for NobodyCertified {
    async fn check_virtual_visit(&self, _: &User, _: Timestamp) -> Result<(), DomainError> {
        Err(DomainError::ClinicianNotCertified)
    }
}

/// Where the training issue's certification rule plugs in: a gate that refuses everyone.
async fn the_competency_gate_is_asked_at_booking(backend: Backend) {
    let app = TestApp::spawn_custom(backend, ServeConfig::for_testing(), |s| {
        s.competency = Arc::new(NobodyCertified);
    })
    .await;
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
    let (status, refused) = post(&app, &patient, "/api/v1/appointments", body).await;
    assert_eq!((status, code(&refused)), (422, "clinician_not_certified"));
    // In person is not telehealth: the gate does not apply.
    let (status, booked) = post(
        &app,
        &patient,
        "/api/v1/appointments",
        booking(&slots[1], &c.in_person),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
}

mod the_competency_gate_is_asked_at_booking_and_its_refusal_is_clinician_not_certified {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        the_competency_gate_is_asked_at_booking(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(telemed_pg),
        ignore = "set TELEMED_TEST_POSTGRES_URL to run on PostgreSQL"
    )]
    async fn postgres() {
        the_competency_gate_is_asked_at_booking(Backend::Postgres).await;
    }
}

on_both_backends!(
    visit_types_for_new_or_returning_patients_are_booked_only_by_them,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let kind = |name: &str, kind: &str| {
            let mut input = visit_type_input(name, "primary_care", "video", 20);
            input.patient_kind = Some(kind.into());
            input
        };
        let ctx = app.state.ctx();
        let operator = app.operator_of(&c.org);
        let new = domain::scheduling::service::visit_types::create_in(
            ctx,
            &operator,
            c.org.org.id,
            &kind("First visit", "new"),
        )
        .await
        .unwrap();
        let follow_up = domain::scheduling::service::visit_types::create_in(
            ctx,
            &operator,
            c.org.org.id,
            &kind("Follow-up", "follow_up"),
        )
        .await
        .unwrap();
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
        let book = |slot: usize, visit_type: &VisitType| {
            let mut body = booking(&slots[slot], visit_type);
            body["consent_version"] = json!(1);
            body
        };
        let (status, body) =
            post(&app, &patient, "/api/v1/appointments", book(0, &follow_up)).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("returning patients")
        );
        let (status, first) = post(&app, &patient, "/api/v1/appointments", book(0, &new)).await;
        assert_eq!(status, 201, "{first}");
        // The visit takes place: the patient is a returning one from then on.
        let id = first["id"].as_str().unwrap();
        app.set_clock(
            slots[0]
                .slot
                .start_at
                .checked_sub(SignedDuration::from_mins(5))
                .unwrap(),
        );
        let patient = app.sign_in(&c.patient_user).await;
        let clinician = app.sign_in(&c.clinician).await;
        post(
            &app,
            &patient,
            &format!("/api/v1/appointments/{id}/check-in"),
            json!({"patient_state": "NY"}),
        )
        .await;
        post(
            &app,
            &clinician,
            &format!("/api/v1/appointments/{id}/start"),
            json!({}),
        )
        .await;
        let (status, done) = post(
            &app,
            &clinician,
            &format!("/api/v1/appointments/{id}/complete"),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, done["status"].as_str()),
            (200, Some("completed")),
            "{done}"
        );
        let (status, body) = post(&app, &patient, "/api/v1/appointments", book(3, &new)).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("new patients")
        );
        let (status, body) =
            post(&app, &patient, "/api/v1/appointments", book(3, &follow_up)).await;
        assert_eq!(status, 201, "{body}");
    }
);

on_both_backends!(
    the_appointment_moves_through_its_states_and_refuses_every_illegal_step,
    |app: TestApp| async move {
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
        let clinician = app.sign_in(&c.clinician).await;
        let mut body = booking(&slots[0], &c.video);
        body["consent_version"] = json!(1);
        let (_, booked) = post(&app, &patient, "/api/v1/appointments", body).await;
        let id = booked["id"].as_str().unwrap().to_string();
        let step = |who: &'static str, action: &'static str, body: Value| {
            let (app, id) = (&app, id.clone());
            let session = if who == "patient" {
                &patient
            } else {
                &clinician
            };
            async move {
                post(
                    app,
                    session,
                    &format!("/api/v1/appointments/{id}/{action}"),
                    body,
                )
                .await
            }
        };
        // Booked: cannot start, complete, or confirm.
        for action in ["start", "complete", "confirm"] {
            let (status, body) = step("clinician", action, json!({})).await;
            assert_eq!(
                (status, code(&body)),
                (409, "invalid_transition"),
                "{action}: {body}"
            );
        }
        // Check-in is not open a day before.
        let (status, body) = step("patient", "check-in", json!({"patient_state": "NY"})).await;
        assert_eq!((status, code(&body)), (422, "check_in_not_open"));
        // Ten minutes before: open; from Texas the clinician is not licensed.
        app.set_clock(
            slots[0]
                .slot
                .start_at
                .checked_sub(SignedDuration::from_mins(10))
                .unwrap(),
        );
        // Sessions expire while the clock jumps ahead: sign in again, as people would that day.
        let patient = app.sign_in(&c.patient_user).await;
        let clinician = app.sign_in(&c.clinician).await;
        let step = |who: &'static str, action: &'static str, body: Value| {
            let (app, id) = (&app, id.clone());
            let session = if who == "patient" {
                &patient
            } else {
                &clinician
            };
            async move {
                post(
                    app,
                    session,
                    &format!("/api/v1/appointments/{id}/{action}"),
                    body,
                )
                .await
            }
        };
        let (status, body) = step("patient", "check-in", json!({"patient_state": "TX"})).await;
        assert_eq!((status, code(&body)), (422, "clinician_not_licensed"));
        let (status, body) = step("patient", "check-in", json!({"patient_state": "NY"})).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("checked_in")),
            "{body}"
        );
        // A patient may not mark their own no-show, nor can a checked-in visit be one.
        let (status, _) = step("patient", "no-show", json!({})).await;
        assert_eq!(status, 403);
        let (status, body) = step("clinician", "no-show", json!({})).await;
        assert_eq!((status, code(&body)), (409, "invalid_transition"));
        let (status, body) = step("clinician", "start", json!({})).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("in_visit")),
            "{body}"
        );
        let (status, body) = step("patient", "cancel", json!({})).await;
        assert_eq!((status, code(&body)), (409, "invalid_transition"));
        let (status, body) = step("clinician", "complete", json!({})).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("completed")),
            "{body}"
        );
        assert_eq!(
            body["end"],
            app.clock.now().max(slots[0].slot.start_at).to_string(),
            "ended early"
        );
        for action in ["start", "complete", "confirm", "cancel", "no-show"] {
            let (status, body) = step("clinician", action, json!({})).await;
            assert_eq!(
                (status, code(&body)),
                (409, "invalid_transition"),
                "{action}"
            );
        }
        let (_, detail) = get(&app, &clinician, &format!("/api/v1/appointments/{id}")).await;
        let path: Vec<&str> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["to_status"].as_str().unwrap())
            .collect();
        assert_eq!(path, ["booked", "checked_in", "in_visit", "completed"]);
        let who: Vec<&str> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["actor_role"].as_str().unwrap())
            .collect();
        assert_eq!(who, ["patient", "patient", "clinician", "clinician"]);
    }
);

on_both_backends!(
    cancelling_after_the_cutoff_is_late_frees_the_slot_and_rescheduling_moves_the_visit,
    |app: TestApp| async move {
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
        let (_, first) = post(&app, &patient, "/api/v1/appointments", body).await;
        let id = first["id"].as_str().unwrap();
        let (status, moved) = post(
            &app,
            &patient,
            &format!("/api/v1/appointments/{id}/reschedule"),
            json!({"slot_id": slots[2].slot.id.to_string()}),
        )
        .await;
        assert_eq!(status, 200, "{moved}");
        assert_eq!(moved["slot_id"], slots[2].slot.id.to_string());
        assert_eq!(moved["status"], "booked");
        assert!(
            !app.store()
                .get_slot(c.org.org.id, slots[0].slot.id)
                .await
                .unwrap()
                .unwrap()
                .taken,
            "old slot freed"
        );
        // Twelve hours before: a cancellation is late (cut-off 24 h).
        app.set_clock(
            slots[2]
                .slot
                .start_at
                .checked_sub(SignedDuration::from_hours(12))
                .unwrap(),
        );
        let patient = app.sign_in(&c.patient_user).await;
        let (status, cancelled) = post(
            &app,
            &patient,
            &format!("/api/v1/appointments/{id}/cancel"),
            json!({"reason": "better"}),
        )
        .await;
        assert_eq!(status, 200, "{cancelled}");
        assert_eq!(
            (
                cancelled["status"].as_str(),
                cancelled["late_cancellation"].as_bool()
            ),
            (Some("cancelled"), Some(true))
        );
        assert!(
            !app.store()
                .get_slot(c.org.org.id, slots[2].slot.id)
                .await
                .unwrap()
                .unwrap()
                .taken
        );
        let (_, detail) = get(&app, &patient, &format!("/api/v1/appointments/{id}")).await;
        let actions: Vec<&str> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["book", "reschedule", "cancel"]);
        assert!(
            detail["history"][2]["detail"]
                .as_str()
                .unwrap()
                .contains("late")
        );
        // Someone else's appointment is not found for a patient.
        let (_, other_user) = app.patient_account(&c.org).await;
        let other = app.sign_in(&other_user).await;
        let (status, _) = get(&app, &other, &format!("/api/v1/appointments/{id}")).await;
        assert_eq!(status, 404);
        let (status, _) = post(
            &app,
            &other,
            &format!("/api/v1/appointments/{id}/cancel"),
            json!({}),
        )
        .await;
        assert_eq!(status, 404);
    }
);

on_both_backends!(
    many_patients_racing_for_one_slot_over_http_get_one_booking_and_409s,
    |app: TestApp| async move {
        let c = app.clinic().await;
        app.weekly_hours(
            &c.org,
            c.clinician.user.id,
            0,
            "wednesday",
            "09:00",
            "10:00",
        )
        .await;
        let slots = app.open_slots(&c.org, c.clinician.user.id).await;
        let mut sessions = Vec::new();
        for _ in 0..12 {
            let (_, user) = app.patient_account(&c.org).await;
            sessions.push(app.sign_in(&user).await);
        }
        let mut body = booking(&slots[0], &c.video);
        body["consent_version"] = json!(1);
        let app = Arc::new(app);
        let mut tasks = Vec::new();
        for session in sessions {
            let (app, body) = (app.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                post(&app, &session, "/api/v1/appointments", body).await
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            if status != 201 {
                assert_eq!(code(&body), "slot_taken", "{body}");
            }
            statuses.push(status);
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 11);
        let all = app
            .store()
            .list_appointments(c.org.org.id, &AppointmentQuery::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 1);
    }
);

on_both_backends!(
    weekly_hours_stay_at_nine_local_time_across_the_daylight_saving_change,
    |app: TestApp| async move {
        // Four weeks before clocks go back in New York (2026-11-01).
        app.set_clock("2026-10-05T12:00:00Z".parse().unwrap());
        let c = app.clinic().await;
        app.weekly_hours(&c.org, c.clinician.user.id, 0, "tuesday", "09:00", "09:30")
            .await;
        let slots = app.open_slots(&c.org, c.clinician.user.id).await;
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let local: Vec<String> = slots
            .iter()
            .take(6)
            .map(|s| {
                s.slot
                    .start_at
                    .to_zoned(tz.clone())
                    .strftime("%F %H:%M %Z")
                    .to_string()
            })
            .collect();
        assert_eq!(local[0], "2026-10-06 09:00 EDT");
        assert!(
            local.contains(&"2026-10-27 09:00 EDT".to_string()),
            "{local:?}"
        );
        assert!(
            local.contains(&"2026-11-03 09:00 EST".to_string()),
            "{local:?}"
        );
        assert!(local.iter().all(|l| l.contains(" 09:00 ")), "{local:?}");
        let utc: Vec<String> = slots
            .iter()
            .take(6)
            .map(|s| s.slot.start_at.to_string())
            .collect();
        assert!(
            utc.contains(&"2026-10-27T13:00:00Z".to_string())
                && utc.contains(&"2026-11-03T14:00:00Z".to_string())
        );
    }
);

on_both_backends!(
    hours_that_overlap_other_hours_at_another_site_in_another_time_zone_are_refused,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let oakland = create_site(
            app.state.ctx(),
            &app.operator_of(&c.org),
            c.org.org.id,
            &SiteInput {
                name: "Oakland".into(),
                state: "CA".into(),
                time_zone: "America/Los_Angeles".into(),
            },
        )
        .await
        .unwrap();
        let clinician = app.staff(&c.org, Role::Clinician, &[0]).await;
        // Working at both sites.
        let mut user = app
            .store()
            .get_user(c.org.org.id, clinician.user.id)
            .await
            .unwrap()
            .unwrap();
        user.site_ids.push(oakland.id);
        app.store()
            .update_user(
                &user,
                domain::compliance::AuditEntry::new(
                    app.clock.now(),
                    domain::compliance::AuditActor::Operator,
                    AuditAction::UserUpdate,
                    "User",
                ),
            )
            .await
            .unwrap();
        let mut org = c.org.clone();
        org.sites.push(oakland.clone());
        app.weekly_hours(&org, clinician.user.id, 0, "monday", "09:00", "12:00")
            .await;
        let admin = app.sign_in(&c.admin).await;
        let path = format!(
            "/api/v1/clinicians/{}/availability/templates",
            clinician.user.id
        );
        let hours = |start: &str, end: &str| {
            json!({
                "site_id": oakland.id.to_string(), "weekday": "monday", "start_time": start, "end_time": end,
                "slot_minutes": 30, "service_lines": ["primary_care"], "valid_from": "2020-01-01"
            })
        };
        // 07:00-08:00 in Oakland is 10:00-11:00 in Brooklyn.
        let (status, body) = post(&app, &admin, &path, hours("07:00", "08:00")).await;
        assert_eq!(
            (status, code(&body)),
            (409, "availability_overlap"),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("overlap")
        );
        let (status, body) = post(&app, &admin, &path, hours("09:00", "10:00")).await;
        assert_eq!(status, 201, "{body}");
        assert!(body["published"].as_u64().unwrap() > 0);
        // Bad input, each with a clear 4xx.
        let (status, body) = post(&app, &admin, &path, hours("10:00", "09:00")).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, body) = post(&app, &admin, &path, hours("09:00", "09:20")).await;
        assert_eq!(
            (status, code(&body)),
            (422, "validation_failed"),
            "a 30-minute slot does not fit: {body}"
        );
        let mut bad_zone = hours("13:00", "14:00");
        bad_zone["site_id"] = json!("nope");
        let (status, _) = post(&app, &admin, &path, bad_zone).await;
        assert_eq!(status, 422);
        let (status, body) = post(
            &app,
            &admin,
            "/api/v1/sites",
            json!({"name": "X", "state": "NY", "time_zone": "Mars/Olympus"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        // No slot of the clinician overlaps another, across both sites.
        let mut slots = app.open_slots(&org, clinician.user.id).await;
        slots.sort_by_key(|s| s.slot.start_at);
        for pair in slots.windows(2) {
            assert!(pair[0].slot.end_at <= pair[1].slot.start_at);
        }
    }
);

on_both_backends!(
    leave_withdraws_slots_and_names_the_visits_already_booked_inside_it,
    |app: TestApp| async move {
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
        let mut body = booking(&slots[1], &c.video);
        body["consent_version"] = json!(1);
        let (_, booked) = post(&app, &patient, "/api/v1/appointments", body).await;
        let clinician = app.sign_in(&c.clinician).await;
        let day = slots[0]
            .slot
            .start_at
            .to_zoned(jiff::tz::TimeZone::get("America/New_York").unwrap())
            .date();
        let path = format!(
            "/api/v1/clinicians/{}/availability/exceptions",
            c.clinician.user.id
        );
        let (status, leave) = post(&app, &clinician, &path, json!({"kind": "leave", "start": day.to_string(), "end": day.to_string(), "reason": "training day"})).await;
        assert_eq!(status, 201, "{leave}");
        assert_eq!(leave["withdrawn"], 6);
        assert_eq!(leave["affected_appointments"][0]["id"], booked["id"]);
        let open = app.open_slots(&c.org, c.clinician.user.id).await;
        assert!(open.iter().all(|s| {
            s.slot.start_at.to_zoned(jiff::tz::TimeZone::UTC).date()
                != slots[0]
                    .slot
                    .start_at
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date()
        }));
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/appointments",
            booking(&slots[2], &c.video),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "slot_not_bookable"), "{body}");
        let (status, body) = post(
            &app,
            &clinician,
            &path,
            json!({"kind": "holiday", "start": day.to_string(), "end": day.to_string()}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, _) = post(
            &app,
            &clinician,
            &path,
            json!({"kind": "leave", "start": "2026-13-01", "end": "x"}),
        )
        .await;
        assert_eq!(status, 422);
    }
);

on_both_backends!(
    reminder_emails_reach_a_real_smtp_server_with_a_valid_ics_and_go_out_once,
    |_app: TestApp| async move {
        let smtp = SmtpCapture::start().await;
        let config = ServeConfig {
            smtp_url: Some(smtp.url().parse().unwrap()),
            mail_from: "Riverside Clinic <visits@riverside.example>".into(),
            public_url: Some("https://telemed.riverside.example".into()),
            ..ServeConfig::for_testing()
        };
        let backend = if _app.database_url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let app = TestApp::spawn_with(backend, config).await;
        let mut c = app.clinic().await;
        let mut details = patient_input(&c.org.sites[0].id.to_string());
        details.mrn = c.patient.mrn.clone();
        details.email = Some("ada@example.org".into());
        c.patient = domain::identity::service::patients::update(
            app.state.ctx(),
            &app.operator_of(&c.org),
            c.patient.id,
            &details,
        )
        .await
        .unwrap();
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
        let slot = slots
            .iter()
            .find(|s| {
                s.slot.start_at.duration_since(app.clock.now()) > SignedDuration::from_hours(30)
            })
            .unwrap();
        let patient = app.sign_in(&c.patient_user).await;
        let mut body = booking(slot, &c.video);
        body["consent_version"] = json!(1);
        let (_, booked) = post(&app, &patient, "/api/v1/appointments", body).await;
        let id = booked["id"].as_str().unwrap();
        let run = server::jobs::send_reminders_once(&app.state).await.unwrap();
        assert_eq!(run.sent, 0, "more than 24 hours ahead");
        app.set_clock(
            slot.slot
                .start_at
                .checked_sub(SignedDuration::from_hours(23))
                .unwrap(),
        );
        let run = server::jobs::send_reminders_once(&app.state).await.unwrap();
        assert_eq!((run.sent, run.failed, run.skipped), (1, 0, 0));
        assert_eq!(
            server::jobs::send_reminders_once(&app.state)
                .await
                .unwrap()
                .sent,
            0,
            "sent once"
        );
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.from, "<visits@riverside.example>");
        assert_eq!(m.to, vec!["<ada@example.org>".to_string()]);
        assert!(
            m.data.contains("Subject: Reminder: your video visit on"),
            "{}",
            m.data
        );
        let text = readable(&m.data);
        assert!(
            text.contains(&format!(
                "Join or manage your visit: https://telemed.riverside.example/appointments/{id}"
            )),
            "{text}"
        );
        assert!(text.contains("with Test Clinician on"), "{text}");
        let ics = calendar_attachment(&m.data).expect("a text/calendar attachment");
        let unfolded = ics.replace("\r\n ", "");
        let parsed = icalendar::parser::read_calendar(&unfolded).expect("valid iCalendar");
        let event = parsed
            .components
            .iter()
            .find(|c| c.name == "VEVENT")
            .expect("a VEVENT");
        let prop = |name: &str| {
            event
                .properties
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.val.to_string())
        };
        assert_eq!(
            prop("DTSTART").unwrap(),
            slot.slot.start_at.strftime("%Y%m%dT%H%M%SZ").to_string()
        );
        assert_eq!(prop("UID").unwrap(), format!("{id}@telemed"));
        assert!(prop("SUMMARY").unwrap().contains("Video visit"));
        // One hour before: the second reminder.
        app.set_clock(
            slot.slot
                .start_at
                .checked_sub(SignedDuration::from_mins(50))
                .unwrap(),
        );
        assert_eq!(
            server::jobs::send_reminders_once(&app.state)
                .await
                .unwrap()
                .sent,
            1
        );
        assert_eq!(smtp.messages().len(), 2);
        let sent = audit_actions(&app, &c.org, AuditAction::ReminderSent).await;
        assert_eq!(sent.len(), 2);
        assert!(
            sent.iter()
                .all(|r| r.entry.patient_id == Some(c.patient.id))
        );
    }
);

on_both_backends!(
    the_no_show_job_marks_visits_never_checked_in_after_the_grace_period,
    |app: TestApp| async move {
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
        let (_, second_user) = app.patient_account(&c.org).await;
        let second = app.sign_in(&second_user).await;
        let mut body = booking(&slots[0], &c.video);
        body["consent_version"] = json!(1);
        let (_, missed) = post(&app, &patient, "/api/v1/appointments", body).await;
        let mut body = booking(&slots[1], &c.video);
        body["consent_version"] = json!(1);
        let (_, waiting) = post(&app, &second, "/api/v1/appointments", body).await;
        // The second patient checks in for a visit starting 30 minutes after the first.
        app.set_clock(
            slots[1]
                .slot
                .start_at
                .checked_sub(SignedDuration::from_mins(20))
                .unwrap(),
        );
        let second = app.sign_in(&second_user).await;
        let (status, _) = post(
            &app,
            &second,
            &format!(
                "/api/v1/appointments/{}/check-in",
                waiting["id"].as_str().unwrap()
            ),
            json!({"patient_state": "NY"}),
        )
        .await;
        assert_eq!(status, 200);
        app.set_clock(
            slots[0]
                .slot
                .start_at
                .checked_add(SignedDuration::from_mins(14))
                .unwrap(),
        );
        assert_eq!(
            server::jobs::mark_no_shows_once(&app.state).await.unwrap(),
            0,
            "inside the grace period"
        );
        app.set_clock(
            slots[1]
                .slot
                .start_at
                .checked_add(SignedDuration::from_mins(40))
                .unwrap(),
        );
        assert_eq!(
            server::jobs::mark_no_shows_once(&app.state).await.unwrap(),
            1
        );
        assert_eq!(
            server::jobs::mark_no_shows_once(&app.state).await.unwrap(),
            0,
            "once"
        );
        let patient = app.sign_in(&c.patient_user).await;
        let second = app.sign_in(&second_user).await;
        let (_, mine) = get(
            &app,
            &patient,
            &format!("/api/v1/appointments/{}", missed["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(mine["status"], "no_show");
        assert_eq!(mine["history"][1]["actor_kind"], "operator");
        let (_, theirs) = get(
            &app,
            &second,
            &format!("/api/v1/appointments/{}", waiting["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(theirs["status"], "checked_in", "a waiting patient came");
        let desk = app.staff(&c.org, Role::FrontDesk, &[0]).await;
        let desk = app.sign_in(&desk).await;
        let (_, listed) = get(
            &app,
            &desk,
            &format!(
                "/api/v1/appointments?site_id={}&status=no_show",
                c.org.sites[0].id
            ),
        )
        .await;
        assert_eq!(listed["appointments"].as_array().unwrap().len(), 1);
    }
);

/// Each patient, signed in, consents to telehealth (version 1) for themselves.
async fn consent_each(app: &TestApp, patients: &[(&Session, &TestUser)]) {
    for (s, user) in patients {
        let patient_id = user.user.patient_id.unwrap();
        let (status, body) = post(
            app,
            s,
            &format!("/api/v1/patients/{patient_id}/consent"),
            json!({"version": 1}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
}

on_both_backends!(
    the_queue_shows_position_and_wait_and_a_licensed_clinician_takes_the_next_patient,
    |app: TestApp| async move {
        let c = app.clinic().await;
        // On duty now: hours covering the current moment today.
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let today = app.clock.now().to_zoned(tz.clone());
        app.set_clock(
            today
                .date()
                .at(10, 0, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp(),
        );
        let weekday = domain::scheduling::availability::weekday_name(today.weekday());
        app.weekly_hours(&c.org, c.clinician.user.id, 0, weekday, "08:00", "12:00")
            .await;
        app.set_clock(
            today
                .date()
                .at(10, 5, 0, 0)
                .to_zoned(tz)
                .unwrap()
                .timestamp(),
        );
        let first = app.sign_in(&c.patient_user).await;
        let (_, second_user) = app.patient_account(&c.org).await;
        let second = app.sign_in(&second_user).await;
        let (_, texan_user) = app.patient_account(&c.org).await;
        let texan = app.sign_in(&texan_user).await;
        consent_each(
            &app,
            &[
                (&first, &c.patient_user),
                (&second, &second_user),
                (&texan, &texan_user),
            ],
        )
        .await;
        let (status, a) = post(
            &app,
            &texan,
            "/api/v1/queue",
            json!({"patient_state": "TX", "reason": "rash"}),
        )
        .await;
        assert_eq!(status, 201, "{a}");
        let (_, p1) = post(
            &app,
            &first,
            "/api/v1/queue",
            json!({"patient_state": "NY", "reason": "fever"}),
        )
        .await;
        let (_, p2) = post(
            &app,
            &second,
            "/api/v1/queue",
            json!({"patient_state": "NY"}),
        )
        .await;
        assert_eq!(
            (p1["position"].as_i64(), p2["position"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(p2["clinicians_on_duty"], 1);
        assert_eq!(
            p2["estimated_wait_minutes"],
            15 + 7,
            "one visit ahead, then half a visit"
        );
        let (status, again) = post(
            &app,
            &first,
            "/api/v1/queue",
            json!({"patient_state": "NY"}),
        )
        .await;
        assert_eq!((status, code(&again)), (409, "conflict"));
        let clinician = app.sign_in(&c.clinician).await;
        let (status, visit) = post(&app, &clinician, "/api/v1/queue/take", json!({})).await;
        assert_eq!(status, 201, "{visit}");
        assert_eq!(
            visit["patient_id"],
            c.patient.id.to_string(),
            "the Texan waited longer but is not licensed for this clinician"
        );
        assert_eq!(visit["status"], "checked_in");
        assert_eq!(
            visit["visit_type_id"],
            c.urgent.id.to_string(),
            "the urgent care visit type"
        );
        let (_, place) = get(&app, &second, "/api/v1/queue/me").await;
        assert_eq!(place["position"], 1);
        let (_, mine) = get(&app, &first, "/api/v1/queue/me").await;
        assert_eq!(
            (mine["status"].as_str(), mine["appointment_id"].as_str()),
            (Some("taken"), visit["id"].as_str())
        );
        // Busy with the first patient: the next take is refused until the visit ends.
        let (status, body) = post(&app, &clinician, "/api/v1/queue/take", json!({})).await;
        assert_eq!((status, code(&body)), (409, "clinician_busy"), "{body}");
        let id = visit["id"].as_str().unwrap();
        post(
            &app,
            &clinician,
            &format!("/api/v1/appointments/{id}/start"),
            json!({}),
        )
        .await;
        // In a visit, the clinician is still on duty: the next patient is told a wait, not that
        // nobody licensed in their state is on duty.
        let (_, place) = get(&app, &second, "/api/v1/queue/me").await;
        assert_eq!(
            (
                place["clinicians_on_duty"].as_i64(),
                place["estimated_wait_minutes"].as_i64()
            ),
            (Some(1), Some(7)),
            "{place}"
        );
        post(
            &app,
            &clinician,
            &format!("/api/v1/appointments/{id}/complete"),
            json!({}),
        )
        .await;
        let (status, _) = post(&app, &clinician, "/api/v1/queue/take", json!({})).await;
        assert_eq!(status, 201);
        let (status, _) = post(&app, &clinician, "/api/v1/queue/take", json!({})).await;
        assert_eq!(
            status, 204,
            "only the Texan waits, and this clinician is not licensed in TX"
        );
        let (status, _) = post(&app, &first, "/api/v1/queue/take", json!({})).await;
        assert_eq!(status, 403, "patients do not take patients");
        let entry = a["entry_id"].as_str().unwrap();
        let (status, _) = post(
            &app,
            &texan,
            &format!("/api/v1/queue/{entry}/leave"),
            json!({}),
        )
        .await;
        assert_eq!(status, 204);
    }
);

on_both_backends!(
    a_waiting_patient_with_a_visit_of_their_own_keeps_their_place_and_the_queue_moves_on,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let colleague = app.staff(&c.org, Role::Clinician, &[0]).await;
        let tz = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let today = app.clock.now().to_zoned(tz.clone());
        let at = |h: i8, m: i8| {
            today
                .date()
                .at(h, m, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp()
        };
        app.set_clock(at(8, 0));
        let weekday = domain::scheduling::availability::weekday_name(today.weekday());
        for who in [&c.clinician, &colleague] {
            app.weekly_hours(&c.org, who.user.id, 0, weekday, "08:00", "12:00")
                .await;
        }
        app.set_clock(at(10, 20));
        let first = app.sign_in(&c.patient_user).await;
        let (_, second_user) = app.patient_account(&c.org).await;
        let second = app.sign_in(&second_user).await;
        consent_each(&app, &[(&first, &c.patient_user), (&second, &second_user)]).await;
        // The first patient joins the queue, then books the colleague's 10:30 video visit: a
        // 15-minute urgent visit now would run into it.
        let (status, joined) = post(
            &app,
            &first,
            "/api/v1/queue",
            json!({"patient_state": "NY", "reason": "fever"}),
        )
        .await;
        assert_eq!(status, 201, "{joined}");
        let theirs = app.open_slots(&c.org, colleague.user.id).await;
        let half_past = theirs
            .iter()
            .find(|s| s.slot.start_at == at(10, 30))
            .expect("the colleague's 10:30 slot");
        let mut body = booking(half_past, &c.video);
        body["patient_state"] = json!("NY");
        let (status, booked) = post(&app, &first, "/api/v1/appointments", body).await;
        assert_eq!(status, 201, "{booked}");
        let (status, _) = post(
            &app,
            &second,
            "/api/v1/queue",
            json!({"patient_state": "NY"}),
        )
        .await;
        assert_eq!(status, 201);
        let clinician = app.sign_in(&c.clinician).await;
        let (status, visit) = post(&app, &clinician, "/api/v1/queue/take", json!({})).await;
        assert_eq!(status, 201, "{visit}");
        assert_eq!(
            visit["patient_id"],
            second_user.user.patient_id.unwrap().to_string(),
            "the first in line has a visit at 10:30, so the next patient is taken"
        );
        let (_, mine) = get(&app, &first, "/api/v1/queue/me").await;
        assert_eq!(
            (mine["status"].as_str(), mine["position"].as_i64()),
            (Some("waiting"), Some(1)),
            "{mine}"
        );
        // The colleague, whose 10:30 visit a 15-minute visit now would run into, is told they
        // are busy (not that nobody waits), and the first patient still waits.
        let colleague = app.sign_in(&colleague).await;
        let (status, body) = post(&app, &colleague, "/api/v1/queue/take", json!({})).await;
        assert_eq!((status, code(&body)), (409, "clinician_busy"), "{body}");
        let (_, mine) = get(&app, &first, "/api/v1/queue/me").await;
        assert_eq!(mine["status"], "waiting", "{mine}");
    }
);

on_both_backends!(
    a_clinicians_calendar_feed_lists_visits_without_patient_details,
    |app: TestApp| async move {
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
        body["reason"] = json!("private reason");
        post(&app, &patient, "/api/v1/appointments", body).await;
        let (status, _) = post(&app, &patient, "/api/v1/me/calendar-feed", json!({})).await;
        assert_eq!(status, 403, "patients have no feed");
        let clinician = app.sign_in(&c.clinician).await;
        let (status, feed) = post(&app, &clinician, "/api/v1/me/calendar-feed", json!({})).await;
        assert_eq!(status, 201);
        let url = feed["url"].as_str().unwrap();
        let path = &url[url.find("/calendar/").unwrap()..];
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/calendar")
        );
        let ics = response.text().await.unwrap();
        let unfolded = ics.replace("\r\n ", "");
        let parsed = icalendar::parser::read_calendar(&unfolded).expect("valid iCalendar");
        assert_eq!(
            parsed
                .components
                .iter()
                .filter(|c| c.name == "VEVENT")
                .count(),
            1
        );
        assert!(!ics.contains(&c.patient.family_name) && !ics.contains("private reason"));
        // A new link replaces the old one; unknown tokens are 404.
        post(&app, &clinician, "/api/v1/me/calendar-feed", json!({})).await;
        assert_eq!(
            app.http.get(app.url(path)).send().await.unwrap().status(),
            404
        );
        assert_eq!(
            app.http
                .get(app.url("/calendar/nope.ics"))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            audit_actions(&app, &c.org, AuditAction::CalendarFeedRead)
                .await
                .len(),
            1
        );
    }
);

on_both_backends!(
    staff_book_for_patients_of_their_own_sites_and_patients_only_for_themselves,
    |app: TestApp| async move {
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
        let far_desk = app.staff(&c.org, Role::FrontDesk, &[1]).await;
        let far_desk = app.sign_in(&far_desk).await;
        let mut body = booking(&slots[0], &c.video);
        body["patient_id"] = json!(c.patient.id.to_string());
        body["consent_version"] = json!(1);
        let (status, _) = post(&app, &far_desk, "/api/v1/appointments", body.clone()).await;
        assert_eq!(status, 403, "the patient belongs to another site");
        let (other, _) = app.patient_account(&c.org).await;
        let patient = app.sign_in(&c.patient_user).await;
        let mut for_other = body.clone();
        for_other["patient_id"] = json!(other.id.to_string());
        let (status, _) = post(&app, &patient, "/api/v1/appointments", for_other).await;
        assert_eq!(status, 404, "a patient cannot book for someone else");
        let token = app
            .token(&c.org, "system/Appointment.write system/Slot.read")
            .await;
        let response = app
            .http
            .post(app.url("/api/v1/appointments"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "an integration with appointment rights books"
        );
        let read_only = app.token(&c.org, "system/Patient.read").await;
        let response = app
            .http
            .post(app.url("/api/v1/appointments"))
            .bearer_auth(&read_only)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let desk = app.staff(&c.org, Role::FrontDesk, &[0]).await;
        let desk = app.sign_in(&desk).await;
        let mut proposal = booking(&slots[3], &c.video);
        proposal["patient_id"] = json!(c.patient.id.to_string());
        proposal["propose"] = json!(true);
        let (status, proposed) = post(&app, &desk, "/api/v1/appointments", proposal).await;
        assert_eq!(
            (status, proposed["status"].as_str()),
            (201, Some("proposed")),
            "{proposed}"
        );
        let id = proposed["id"].as_str().unwrap();
        let (status, confirmed) = post(
            &app,
            &patient,
            &format!("/api/v1/appointments/{id}/confirm"),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, confirmed["status"].as_str()),
            (200, Some("booked")),
            "{confirmed}"
        );
        let visits = app
            .store()
            .list_appointments(
                c.org.org.id,
                &AppointmentQuery {
                    statuses: Some(vec![AppointmentStatus::Booked]),
                    ..AppointmentQuery::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(visits.len(), 2);
    }
);
