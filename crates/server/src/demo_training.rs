//! The demo's training: the telehealth competency course and the front desk's course, with a
//! mix of staff: certified, certified but expiring within the month, working under a program
//! manager's exception, part-way through, and not started.

use domain::DomainError;
use domain::access::Actor;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::{Organization, Role, User};
use domain::training::service as training;
use domain::training::{
    Course, EnrolmentQuery, GateException, TestKind, complete_module, submit_test, template,
};
use jiff::{SignedDuration, Timestamp};

use crate::state::AppState;

/// How long ago each demo person passed the certifying course (days); `None`: not passed.
fn passed_days_ago(email: &str) -> Option<i64> {
    match email {
        "dr.adams@riverside.example" => Some(90),
        // Expires within the month: the refresher reminder is due.
        "dr.baker@riverside.example" => Some(350),
        "nurse.diaz@riverside.example" => Some(30),
        _ => None,
    }
}

fn ago(now: Timestamp, days: i64) -> Timestamp {
    now.checked_sub(SignedDuration::from_hours(24 * days))
        .unwrap_or(now)
}

pub async fn seed(state: &AppState, org: &Organization) -> Result<(), DomainError> {
    let ctx = state.ctx();
    let operator = Actor::operator();
    let now = state.clock.now();
    // The courses were rolled out a year ago, and everyone who trains was enrolled then: so no
    // completion below comes before its enrolment.
    let rollout = domain::FixedClock::new(ago(now, 365));
    let then = domain::Ctx {
        clock: &rollout,
        ..ctx
    };
    let competency =
        training::create_course_in(then, &operator, org.id, &template::telehealth_competency())
            .await?;
    training::create_course_in(
        then,
        &operator,
        org.id,
        &template::front_desk_virtual_visits(),
    )
    .await?;
    let users = state.store.list_users(org.id, None).await?;
    for user in users
        .iter()
        .filter(|u| matches!(u.role, Role::Clinician | Role::Nurse))
    {
        match passed_days_ago(user.email.as_str()) {
            Some(days) => pass(state, &competency, user, ago(now, days)).await?,
            // Part-way: the pre-test and the first two modules.
            None if user.role == Role::Nurse => {
                start(state, &competency, user, ago(now, 5)).await?;
            }
            None => {}
        }
    }
    // The clinician without a certification works under an exception while the course is
    // scheduled; it is in the audit trail like any other.
    if let (Some(pm), Some(chen)) = (
        users.iter().find(|u| u.role == Role::ProgramManager),
        users
            .iter()
            .find(|u| u.email.as_str() == "dr.chen@riverside.example"),
    ) {
        let exception = GateException {
            id: domain::ids::GateExceptionId::new(),
            org_id: org.id,
            clinician_id: chen.id,
            reason: "Certified at her previous employer; our course is booked for next month"
                .into(),
            granted_by: pm.id,
            granted_at: ago(now, 3),
            until: now
                .checked_add(SignedDuration::from_hours(24 * 45))
                .unwrap_or(now),
        };
        let audit = AuditEntry::new(
            exception.granted_at,
            AuditActor::User {
                id: pm.id,
                role: Role::ProgramManager,
            },
            AuditAction::GateExceptionGranted,
            "User",
        )
        .org(org.id)
        .resource(chen.id)
        .detail(format!("until {}: {}", exception.until, exception.reason));
        state.store.grant_exception(&exception, audit).await?;
    }
    Ok(())
}

async fn own_enrolment(
    state: &AppState,
    course: &Course,
    user: &User,
) -> Result<domain::training::Enrolment, DomainError> {
    let query = EnrolmentQuery {
        user_id: Some(user.id),
        course_id: Some(course.id),
    };
    state
        .store
        .list_enrolments(course.org_id, &query)
        .await?
        .into_iter()
        .next()
        .ok_or(DomainError::NotFound {
            resource: "enrolment",
        })
}

fn person(user: &User, at: Timestamp, action: AuditAction) -> AuditEntry {
    AuditEntry::new(
        at,
        AuditActor::User {
            id: user.id,
            role: user.role,
        },
        action,
        "Enrolment",
    )
    .org(user.org_id)
}

/// The person's pre-test (half right), every module, and the post-test (all right) at `at`.
async fn pass(
    state: &AppState,
    course: &Course,
    user: &User,
    at: Timestamp,
) -> Result<(), DomainError> {
    let mut e = start(state, course, user, at).await?;
    for i in 0..course.modules.len() {
        let next = complete_module(course, &e, i)?;
        state
            .store
            .update_enrolment(&e, &next, person(user, at, AuditAction::TrainingProgress))
            .await?;
        e = next;
    }
    let right: Vec<usize> = course.questions.iter().map(|q| q.answer).collect();
    let outcome = submit_test(course, &e, TestKind::Post, &right, at)?;
    let audit = vec![
        person(user, at, AuditAction::AssessmentSubmitted).detail("post test 100%: passed"),
        person(user, at, AuditAction::CertificationIssued),
    ];
    state.store.record_test(&e, &outcome, audit).await?;
    Ok(())
}

/// The pre-test and the first two modules.
async fn start(
    state: &AppState,
    course: &Course,
    user: &User,
    at: Timestamp,
) -> Result<domain::training::Enrolment, DomainError> {
    let e = own_enrolment(state, course, user).await?;
    let half: Vec<usize> = course
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            if i % 2 == 0 {
                q.answer
            } else {
                (q.answer + 1) % q.choices.len()
            }
        })
        .collect();
    let pre = submit_test(course, &e, TestKind::Pre, &half, at)?;
    let audit = vec![person(user, at, AuditAction::AssessmentSubmitted).detail("pre test")];
    state.store.record_test(&e, &pre, audit).await?;
    let mut e = pre.enrolment;
    for i in 0..2 {
        let next = complete_module(course, &e, i)?;
        state
            .store
            .update_enrolment(&e, &next, person(user, at, AuditAction::TrainingProgress))
            .await?;
        e = next;
    }
    Ok(e)
}
