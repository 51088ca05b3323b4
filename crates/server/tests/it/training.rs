//! Training and the certification gate through the API: a program manager writes the course,
//! staff are enrolled by role, a clinician passes and may then be booked for video visits until
//! the certification expires; failing enrols in remedial training; exceptions are audited.

use domain::Clock;
use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::Role;
use domain::training::{CourseInput, template};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::clinic::{booking, code, get, post};
use crate::helpers::*;
use crate::on_both_backends;

fn course_json(input: &CourseInput) -> Value {
    json!({
        "title": input.title,
        "summary": input.summary,
        "audience": input.audience,
        "modules": input.modules,
        "questions": input.questions,
        "pass_mark_pct": input.pass_mark_pct,
        "certifies": input.certifies,
        "validity_months": input.validity_months,
    })
}

fn right_answers() -> Vec<usize> {
    template::telehealth_competency()
        .questions
        .iter()
        .map(|q| q.answer)
        .collect()
}

/// Takes the course of the signed-in person's first open enrolment: modules, then the post-test.
async fn take_course(app: &TestApp, session: &Session, answers: &[usize]) -> Value {
    let (status, me) = get(app, session, "/api/v1/training/me").await;
    assert_eq!(status, 200, "{me}");
    let enrolment = me["enrolments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "enrolled" || e["status"] == "in_progress")
        .expect("an open enrolment")
        .clone();
    let id = enrolment["id"].as_str().unwrap();
    for i in 0..enrolment["modules_total"].as_u64().unwrap() {
        let (status, body) = post(
            app,
            session,
            &format!("/api/v1/training/enrolments/{id}/modules/{i}"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, result) = post(
        app,
        session,
        &format!("/api/v1/training/enrolments/{id}/tests/post"),
        json!({ "answers": answers }),
    )
    .await;
    assert_eq!(status, 200, "{result}");
    result
}

on_both_backends!(
    a_clinician_may_be_booked_for_video_only_while_certified,
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
        let book = |slot: usize| {
            let mut body = booking(&slots[slot], &c.video);
            body["consent_version"] = json!(1);
            body
        };
        // Before the organization writes a certifying course, nobody is held back.
        let (status, body) = post(&app, &patient, "/api/v1/appointments", book(0)).await;
        assert_eq!(status, 201, "{body}");

        let pm_user = app.staff(&c.org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm_user).await;
        let (status, course) = post(
            &app,
            &pm,
            "/api/v1/training/courses",
            course_json(&template::telehealth_competency()),
        )
        .await;
        assert_eq!(status, 201, "{course}");
        assert!(
            course["questions"][0].get("answer").is_none(),
            "learners never see the answers"
        );

        // Now the clinician is enrolled and uncertified: a video booking is refused, in person is not.
        let (status, body) = post(&app, &patient, "/api/v1/appointments", book(1)).await;
        assert_eq!((status, code(&body)), (422, "clinician_not_certified"));
        let (status, body) = post(
            &app,
            &patient,
            "/api/v1/appointments",
            booking(&slots[1], &c.in_person),
        )
        .await;
        assert_eq!(status, 201, "{body}");

        let clinician = app.sign_in(&c.clinician).await;
        let (_, me) = get(&app, &clinician, "/api/v1/training/me").await;
        assert_eq!(
            (
                me["standing"].as_str(),
                me["enrolments"].as_array().unwrap().len()
            ),
            (Some("uncertified"), 1)
        );
        let passed_at = app.clock.now();
        let result = take_course(&app, &clinician, &right_answers()).await;
        assert_eq!(
            (result["passed"].as_bool(), result["score_pct"].as_i64()),
            (Some(true), Some(100))
        );
        let expires: Timestamp = result["certification"]["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let (_, me) = get(&app, &clinician, "/api/v1/training/me").await;
        assert_eq!(me["standing"], "certified");

        let (status, body) = post(&app, &patient, "/api/v1/appointments", book(2)).await;
        assert_eq!(status, 201, "certified: {body}");

        // The gate at any moment (booking asks at the visit's start, hosting at the time of the
        // call): valid from the pass until 12 months later, not after.
        let gate = app.state.competency.clone();
        let who = &c.clinician.user;
        assert!(gate.check_virtual_visit(who, passed_at).await.is_ok());
        let before_expiry = expires.checked_sub(SignedDuration::from_secs(1)).unwrap();
        assert!(gate.check_virtual_visit(who, before_expiry).await.is_ok());
        assert!(
            gate.check_virtual_visit(who, expires).await.is_err(),
            "expired"
        );
        assert_eq!(expires, domain::training::months_after(passed_at, 12));

        // The program manager lets the clinician work past expiry, for a written reason, audited.
        app.set_clock(expires.checked_add(SignedDuration::from_hours(1)).unwrap());
        let pm = app.sign_in(&pm_user).await;
        let until = expires
            .checked_add(SignedDuration::from_hours(24 * 14))
            .unwrap();
        let body = json!({"clinician_id": who.id.to_string(), "reason": "Refresher booked for next week", "until": until.to_string()});
        let (status, exception) = post(&app, &pm, "/api/v1/certification-exceptions", body).await;
        assert_eq!(status, 201, "{exception}");
        assert!(gate.check_virtual_visit(who, app.clock.now()).await.is_ok());
        assert!(
            gate.check_virtual_visit(who, until).await.is_err(),
            "the exception ends"
        );
        let audited = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(c.org.org.id),
                action: Some(AuditAction::GateExceptionGranted),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(audited.len(), 1);
        assert!(
            audited[0]
                .entry
                .detail
                .as_deref()
                .unwrap()
                .contains("Refresher booked")
        );
    }
);

on_both_backends!(
    failing_enrols_in_remedial_training_and_a_finished_test_is_not_taken_again,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let pm = app.staff(&c.org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm).await;
        let (status, _) = post(
            &app,
            &pm,
            "/api/v1/training/courses",
            course_json(&template::telehealth_competency()),
        )
        .await;
        assert_eq!(status, 201);
        let nurse = app.staff(&c.org, Role::Nurse, &[0]).await;
        let nurse = app.sign_in(&nurse).await;
        // The pre-test first: it never fails anyone.
        let (_, me) = get(&app, &nurse, "/api/v1/training/me").await;
        let id = me["enrolments"][0]["id"].as_str().unwrap().to_string();
        let (status, pre) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/pre"),
            json!({"answers": [0, 0, 0, 0, 0, 0, 0, 0]}),
        )
        .await;
        assert_eq!(
            (status, pre["passed"].as_bool()),
            (200, Some(true)),
            "{pre}"
        );
        // Out-of-range answers are refused with the field at fault, and nothing is written.
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/post"),
            json!({"answers": [9, 0, 0, 0, 0, 0, 0, 0]}),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (409, "conflict"),
            "modules first: {body}"
        );
        for i in 0..5 {
            post(
                &app,
                &nurse,
                &format!("/api/v1/training/enrolments/{id}/modules/{i}"),
                json!({}),
            )
            .await;
        }
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/post"),
            json!({"answers": [9, 0, 0, 0, 0, 0, 0, 0]}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("answers[0]"),
            "{body}"
        );
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/post"),
            json!({"answers": [0, 0]}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");

        let wrong: Vec<usize> = template::telehealth_competency()
            .questions
            .iter()
            .map(|q| (q.answer + 1) % q.choices.len())
            .collect();
        let (status, failed) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/post"),
            json!({"answers": wrong}),
        )
        .await;
        assert_eq!(
            (status, failed["passed"].as_bool()),
            (200, Some(false)),
            "{failed}"
        );
        assert!(failed["certification"].is_null());
        let remedial = failed["remedial_enrolment_id"]
            .as_str()
            .unwrap()
            .to_string();
        // A completed assessment cannot be taken again (edited).
        let (status, body) = post(
            &app,
            &nurse,
            &format!("/api/v1/training/enrolments/{id}/tests/post"),
            json!({"answers": right_answers()}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
        let (_, me) = get(&app, &nurse, "/api/v1/training/me").await;
        let reasons: Vec<&str> = me["enrolments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["role", "remedial"]);
        assert_eq!(me["enrolments"][1]["id"], remedial);
        // The remedial course passes like any other.
        let result = take_course(&app, &nurse, &right_answers()).await;
        assert_eq!(result["passed"], true);
        // The program manager sees both attempts in the records.
        let (status, records) = get(&app, &pm, "/api/v1/training/records").await;
        assert_eq!(status, 200);
        let row = records["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["role"] == "nurse")
            .unwrap();
        assert_eq!(
            (
                row["standing"].as_str(),
                row["enrolments"].as_array().unwrap().len()
            ),
            (Some("certified"), 2)
        );
    }
);

on_both_backends!(
    only_program_managers_write_courses_and_bad_courses_are_refused_whole,
    |app: TestApp| async move {
        let c = app.clinic().await;
        let clinician = app.sign_in(&c.clinician).await;
        let (status, body) = post(
            &app,
            &clinician,
            "/api/v1/training/courses",
            course_json(&template::telehealth_competency()),
        )
        .await;
        assert_eq!((status, code(&body)), (403, "forbidden"));
        let patient = app.sign_in(&c.patient_user).await;
        let (status, _) = get(&app, &patient, "/api/v1/training/me").await;
        assert_eq!(status, 403, "patients take no training");
        let (status, _) = get(&app, &clinician, "/api/v1/training/records").await;
        assert_eq!(status, 403, "staff see their own training only");

        let pm = app.staff(&c.org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm).await;
        let mut bad = course_json(&template::telehealth_competency());
        bad["questions"][3]["answer"] = json!(7);
        let (status, body) = post(&app, &pm, "/api/v1/training/courses", bad).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("questions[3].answer"),
            "{body}"
        );
        let mut bad = course_json(&template::telehealth_competency());
        bad["pass_mark_pct"] = json!(0);
        let (status, _) = post(&app, &pm, "/api/v1/training/courses", bad).await;
        assert_eq!(status, 422);
        let (_, list) = get(&app, &pm, "/api/v1/training/courses").await;
        assert!(
            list["courses"].as_array().unwrap().is_empty(),
            "nothing written"
        );
        // The certification rule is not switched on by a refused course.
        assert!(
            app.state
                .competency
                .check_virtual_visit(&c.clinician.user, app.clock.now())
                .await
                .is_ok()
        );

        // Exceptions: only for clinicians, only ahead, at most 90 days, with a reason.
        let now = app.clock.now();
        let ahead = |days: i64| {
            now.checked_add(SignedDuration::from_hours(24 * days))
                .unwrap()
                .to_string()
        };
        for (body, field) in [
            (
                json!({"clinician_id": c.clinician.user.id.to_string(), "reason": "", "until": ahead(5)}),
                "reason",
            ),
            (
                json!({"clinician_id": c.clinician.user.id.to_string(), "reason": "x", "until": ahead(91)}),
                "until",
            ),
            (
                json!({"clinician_id": c.clinician.user.id.to_string(), "reason": "x", "until": "tomorrow"}),
                "until",
            ),
            (
                json!({"clinician_id": "nobody", "reason": "x", "until": ahead(5)}),
                "clinician_id",
            ),
        ] {
            let (status, refused) = post(&app, &pm, "/api/v1/certification-exceptions", body).await;
            assert_eq!(
                (status, code(&refused)),
                (422, "validation_failed"),
                "{refused}"
            );
            assert!(
                refused["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(field),
                "{refused}"
            );
        }
        let (status, body) = post(
            &app,
            &pm,
            "/api/v1/certification-exceptions",
            json!({"clinician_id": c.admin.user.id.to_string(), "reason": "x", "until": ahead(5)}),
        )
        .await;
        assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
        let (status, body) = post(&app, &clinician, "/api/v1/certification-exceptions", json!({"clinician_id": c.clinician.user.id.to_string(), "reason": "x", "until": ahead(5)})).await;
        assert_eq!((status, code(&body)), (403, "forbidden"), "{body}");
    }
);

on_both_backends!(
    a_month_before_expiry_the_holder_is_enrolled_in_a_refresher_and_emailed_once,
    |first: TestApp| async move {
        let smtp = crate::smtp::SmtpCapture::start().await;
        let config = server::config::ServeConfig {
            smtp_url: Some(smtp.url().parse().unwrap()),
            mail_from: "Riverside Training <training@riverside.example>".into(),
            public_url: Some("https://telemed.riverside.example".into()),
            ..server::config::ServeConfig::for_testing()
        };
        let backend = if first.database_url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let app = TestApp::spawn_with(backend, config).await;
        let c = app.clinic().await;
        let pm = app.staff(&c.org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm).await;
        post(
            &app,
            &pm,
            "/api/v1/training/courses",
            course_json(&template::telehealth_competency()),
        )
        .await;
        let clinician = app.sign_in(&c.clinician).await;
        let result = take_course(&app, &clinician, &right_answers()).await;
        let expires: Timestamp = result["certification"]["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        // Two months before: nothing is due.
        app.set_clock(
            expires
                .checked_sub(SignedDuration::from_hours(24 * 60))
                .unwrap(),
        );
        let run = server::jobs::send_refreshers_once(&app.state)
            .await
            .unwrap();
        assert_eq!(run.enrolled, 0);
        // Three weeks before: enrolled again and emailed, once.
        app.set_clock(
            expires
                .checked_sub(SignedDuration::from_hours(24 * 21))
                .unwrap(),
        );
        let run = server::jobs::send_refreshers_once(&app.state)
            .await
            .unwrap();
        assert_eq!((run.enrolled, run.emailed), (1, 1));
        let run = server::jobs::send_refreshers_once(&app.state)
            .await
            .unwrap();
        assert_eq!(run.enrolled, 0, "reminded once");
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].to, vec![format!("<{}>", c.clinician.email)]);
        let text = crate::smtp::readable(&messages[0].data);
        assert!(
            text.contains(&format!("expires on {}", expires.strftime("%Y-%m-%d"))),
            "{text}"
        );
        assert!(
            text.contains("https://telemed.riverside.example/training/enrolments/"),
            "{text}"
        );
        let clinician = app.sign_in(&c.clinician).await;
        let (_, me) = get(&app, &clinician, "/api/v1/training/me").await;
        assert_eq!(me["standing"], "expiring");
        let reasons: Vec<&str> = me["enrolments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reason"].as_str().unwrap())
            .collect();
        assert_eq!(reasons, ["role", "refresher"]);
    }
);

on_both_backends!(
    a_certification_that_ends_before_the_call_keeps_the_clinician_from_hosting_it,
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
        let start = slots[0].slot.start_at;
        let booking_time = app.clock.now();
        let pm_user = app.staff(&c.org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm_user).await;
        post(
            &app,
            &pm,
            "/api/v1/training/courses",
            course_json(&template::telehealth_competency()),
        )
        .await;
        // The clinician passed 12 months before the visit's start plus 5 minutes: the
        // certification ends 5 minutes into the visit.
        let passed_at = start
            .to_zoned(jiff::tz::TimeZone::UTC)
            .checked_sub(jiff::Span::new().months(12))
            .unwrap()
            .timestamp()
            .checked_add(SignedDuration::from_mins(5))
            .unwrap();
        app.set_clock(passed_at);
        let clinician = app.sign_in(&c.clinician).await;
        let result = take_course(&app, &clinician, &right_answers()).await;
        let expires: Timestamp = result["certification"]["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            expires,
            start.checked_add(SignedDuration::from_mins(5)).unwrap()
        );

        // Booked (valid at the start) and checked in five minutes early.
        app.set_clock(booking_time);
        let patient = app.sign_in(&c.patient_user).await;
        let mut body = booking(&slots[0], &c.video);
        body["consent_version"] = json!(1);
        let (status, booked) = post(&app, &patient, "/api/v1/appointments", body).await;
        assert_eq!(status, 201, "{booked}");
        let id = booked["id"].as_str().unwrap().to_string();
        app.set_clock(start.checked_sub(SignedDuration::from_mins(5)).unwrap());
        let patient = app.sign_in(&c.patient_user).await;
        let (status, body) = post(
            &app,
            &patient,
            &format!("/api/v1/appointments/{id}/check-in"),
            json!({"patient_state": "NY", "location": "home"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        // Ten minutes in, the certification has ended: the clinician may not host the call.
        app.set_clock(start.checked_add(SignedDuration::from_mins(10)).unwrap());
        let clinician = app.sign_in(&c.clinician).await;
        let (status, body) = post(
            &app,
            &clinician,
            &format!("/api/v1/visits/{id}/admit"),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (422, "clinician_not_certified"),
            "{body}"
        );
        // The program manager's exception lets the visit go ahead.
        let pm = app.sign_in(&pm_user).await;
        let until = app
            .clock
            .now()
            .checked_add(SignedDuration::from_hours(24 * 7))
            .unwrap();
        let (status, body) = post(&app, &pm, "/api/v1/certification-exceptions", json!({"clinician_id": c.clinician.user.id.to_string(), "reason": "Refresher course on Friday", "until": until.to_string()})).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = post(
            &app,
            &clinician,
            &format!("/api/v1/visits/{id}/admit"),
            json!({}),
        )
        .await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("admitted")),
            "{body}"
        );
    }
);
