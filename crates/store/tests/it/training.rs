//! Training storage: a course enrols its roles as it is written, enrolment by role happens once,
//! a test is written once with all it leads to, reminders go out once, exceptions are kept.

use domain::compliance::AuditAction;
use domain::identity::Role;
use domain::ids::*;
use domain::training::*;

use crate::helpers::{TestDb, at, audit, clinician, on_every_backend, user};

on_every_backend!(
    writing_a_course_enrols_its_roles_once_and_only_them,
    a_passed_test_is_written_once_with_its_certification,
    a_failed_test_enrols_in_remedial_training,
    a_certification_is_reminded_once_with_a_refresher,
    exceptions_and_the_certifying_course_are_found_per_organization,
);

fn course_from(org: OrgId, input: CourseInput) -> Course {
    let f = input.validate().unwrap();
    Course {
        id: CourseId::new(),
        org_id: org,
        title: f.title,
        summary: f.summary,
        audience: f.audience,
        modules: f.modules,
        questions: f.questions,
        pass_mark_pct: f.pass_mark_pct,
        certifies: input.certifies,
        validity_months: f.validity_months,
        created_at: at(100),
    }
}

struct Team {
    org: OrgId,
    clinician: domain::identity::User,
    nurse: domain::identity::User,
    desk: domain::identity::User,
    course: Course,
}

async fn team(db: &TestDb) -> Team {
    let org = db.org("Acme").await;
    let site = db.site(&org, "Main").await;
    let clinician = clinician(&org, "dr@example.org", &[&site]);
    let nurse = user(&org, "rn@example.org", Role::Nurse);
    let desk = user(&org, "desk@example.org", Role::FrontDesk);
    for u in [&clinician, &nurse, &desk] {
        db.add_user(u).await;
    }
    let course = course_from(org.id, template::telehealth_competency());
    db.store
        .create_course(&course, audit(AuditAction::CourseCreate))
        .await
        .unwrap();
    Team {
        org: org.id,
        clinician,
        nurse,
        desk,
        course,
    }
}

async fn enrolment_of(db: &TestDb, t: &Team, user: UserId) -> Vec<Enrolment> {
    db.store
        .list_enrolments(
            t.org,
            &EnrolmentQuery {
                user_id: Some(user),
                ..EnrolmentQuery::default()
            },
        )
        .await
        .unwrap()
}

fn right(c: &Course) -> Vec<usize> {
    c.questions.iter().map(|q| q.answer).collect()
}

async fn modules_done(db: &TestDb, t: &Team, e: &Enrolment) -> Enrolment {
    let mut current = e.clone();
    for i in 0..t.course.modules.len() {
        let next = complete_module(&t.course, &current, i).unwrap();
        assert!(
            db.store
                .update_enrolment(&current, &next, audit(AuditAction::TrainingProgress))
                .await
                .unwrap()
        );
        current = next;
    }
    current
}

async fn writing_a_course_enrols_its_roles_once_and_only_them(db: TestDb) {
    let t = team(&db).await;
    let stored = db
        .store
        .get_course(t.org, t.course.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored, t.course,
        "round trip, audience and question bank included"
    );
    assert_eq!(enrolment_of(&db, &t, t.clinician.id).await.len(), 1);
    assert_eq!(enrolment_of(&db, &t, t.nurse.id).await.len(), 1);
    assert!(
        enrolment_of(&db, &t, t.desk.id).await.is_empty(),
        "not the front desk's course"
    );
    // Enrolment by role is idempotent, and reaches people hired later.
    assert_eq!(db.store.enrol_by_role(t.org, at(200)).await.unwrap(), 0);
    let org = db.store.get_org(t.org).await.unwrap().unwrap();
    let late = user(&org, "rn2@example.org", Role::Nurse);
    db.add_user(&late).await;
    assert_eq!(db.store.enrol_by_role(t.org, at(300)).await.unwrap(), 1);
    let e = &enrolment_of(&db, &t, late.id).await[0];
    assert_eq!(
        (e.reason, e.status, e.enrolled_at),
        (EnrolmentReason::Role, EnrolmentStatus::Enrolled, at(300))
    );
    // A second course of the same title is refused, and nothing of it is written.
    let before = db.audit_seq().await;
    let again = course_from(t.org, template::telehealth_competency());
    let err = db
        .store
        .create_course(&again, audit(AuditAction::CourseCreate))
        .await
        .unwrap_err();
    assert!(matches!(err, domain::DomainError::Conflict { .. }), "{err}");
    assert_eq!(db.audit_seq().await, before);
    assert_eq!(db.store.list_courses(t.org).await.unwrap().len(), 1);
}

async fn a_passed_test_is_written_once_with_its_certification(db: TestDb) {
    let t = team(&db).await;
    let e = enrolment_of(&db, &t, t.clinician.id).await.remove(0);
    // A stale progress write (someone else moved the enrolment) writes nothing.
    let next = complete_module(&t.course, &e, 0).unwrap();
    assert!(
        db.store
            .update_enrolment(&e, &next, audit(AuditAction::TrainingProgress))
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .update_enrolment(&e, &next, audit(AuditAction::TrainingProgress))
            .await
            .unwrap()
    );
    let done = modules_done(&db, &t, &next).await;
    let outcome = submit_test(
        &t.course,
        &done,
        TestKind::Post,
        &right(&t.course),
        at(1000),
    )
    .unwrap();
    let before = db.audit_seq().await;
    assert!(
        db.store
            .record_test(
                &done,
                &outcome,
                vec![
                    audit(AuditAction::AssessmentSubmitted),
                    audit(AuditAction::CertificationIssued)
                ]
            )
            .await
            .unwrap()
    );
    assert_eq!(db.audit_seq().await, before + 2);
    // The same submission again (a second tab) writes nothing.
    let twice = submit_test(
        &t.course,
        &done,
        TestKind::Post,
        &right(&t.course),
        at(1001),
    )
    .unwrap();
    assert!(
        !db.store
            .record_test(&done, &twice, vec![audit(AuditAction::AssessmentSubmitted)])
            .await
            .unwrap()
    );
    assert_eq!(db.audit_seq().await, before + 2);
    let stored = db
        .store
        .get_enrolment(t.org, done.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, outcome.enrolment);
    let tests = db.store.list_assessments(t.org, done.id).await.unwrap();
    assert_eq!(tests, vec![outcome.assessment.clone()]);
    let certs = db
        .store
        .list_certifications(t.org, Some(t.clinician.id))
        .await
        .unwrap();
    assert_eq!(certs, vec![outcome.certification.clone().unwrap()]);
    assert!(
        db.store
            .list_certifications(OrgId::new(), None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_failed_test_enrols_in_remedial_training(db: TestDb) {
    let t = team(&db).await;
    let e = enrolment_of(&db, &t, t.nurse.id).await.remove(0);
    let done = modules_done(&db, &t, &e).await;
    let wrong: Vec<usize> = t
        .course
        .questions
        .iter()
        .map(|q| (q.answer + 1) % q.choices.len())
        .collect();
    let outcome = submit_test(&t.course, &done, TestKind::Post, &wrong, at(1000)).unwrap();
    assert!(
        db.store
            .record_test(
                &done,
                &outcome,
                vec![audit(AuditAction::AssessmentSubmitted)]
            )
            .await
            .unwrap()
    );
    let mine = enrolment_of(&db, &t, t.nurse.id).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].status, EnrolmentStatus::Failed);
    assert_eq!(
        (mine[1].reason, mine[1].status),
        (EnrolmentReason::Remedial, EnrolmentStatus::Enrolled)
    );
    assert!(
        db.store
            .list_certifications(t.org, Some(t.nurse.id))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_certification_is_reminded_once_with_a_refresher(db: TestDb) {
    let t = team(&db).await;
    let e = enrolment_of(&db, &t, t.clinician.id).await.remove(0);
    let done = modules_done(&db, &t, &e).await;
    let outcome = submit_test(
        &t.course,
        &done,
        TestKind::Post,
        &right(&t.course),
        at(1000),
    )
    .unwrap();
    assert!(
        db.store
            .record_test(
                &done,
                &outcome,
                vec![audit(AuditAction::AssessmentSubmitted)]
            )
            .await
            .unwrap()
    );
    let cert = outcome.certification.unwrap();
    let month_before = cert
        .expires_at
        .checked_sub(jiff::SignedDuration::from_hours(24 * 20))
        .unwrap();
    let window_end = cert
        .expires_at
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    // Not due yet when it ends after the window.
    assert!(
        db.store
            .certifications_to_remind(at(2000), at(3000))
            .await
            .unwrap()
            .is_empty()
    );
    let due = db
        .store
        .certifications_to_remind(month_before, window_end)
        .await
        .unwrap();
    assert_eq!(due, vec![cert.clone()]);
    let refresher = Enrolment {
        id: EnrolmentId::new(),
        reason: EnrolmentReason::Refresher,
        status: EnrolmentStatus::Enrolled,
        modules_done: Vec::new(),
        pre_score_pct: None,
        post_score_pct: None,
        enrolled_at: month_before,
        completed_at: None,
        ..done.clone()
    };
    assert!(
        db.store
            .mark_reminded(
                &cert,
                month_before,
                Some(&refresher),
                audit(AuditAction::CertificationReminder)
            )
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .mark_reminded(
                &cert,
                month_before,
                Some(&refresher),
                audit(AuditAction::CertificationReminder)
            )
            .await
            .unwrap()
    );
    assert!(
        db.store
            .certifications_to_remind(month_before, window_end)
            .await
            .unwrap()
            .is_empty()
    );
    let mine = enrolment_of(&db, &t, t.clinician.id).await;
    assert_eq!(mine.last().unwrap().reason, EnrolmentReason::Refresher);
}

async fn exceptions_and_the_certifying_course_are_found_per_organization(db: TestDb) {
    let t = team(&db).await;
    assert!(
        db.store
            .has_certifying_course(t.org, Role::Clinician)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .has_certifying_course(t.org, Role::FrontDesk)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .has_certifying_course(OrgId::new(), Role::Clinician)
            .await
            .unwrap()
    );
    let exception = GateException {
        id: GateExceptionId::new(),
        org_id: t.org,
        clinician_id: t.clinician.id,
        reason: "Locum cover while the course is scheduled".into(),
        granted_by: t.desk.id,
        granted_at: at(500),
        until: at(500 + 86_400 * 7),
    };
    db.store
        .grant_exception(&exception, audit(AuditAction::GateExceptionGranted))
        .await
        .unwrap();
    assert_eq!(
        db.store
            .list_gate_exceptions(t.org, Some(t.clinician.id))
            .await
            .unwrap(),
        vec![exception.clone()]
    );
    assert!(
        db.store
            .list_gate_exceptions(t.org, Some(t.nurse.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.store
            .list_gate_exceptions(OrgId::new(), None)
            .await
            .unwrap()
            .is_empty()
    );
}
