//! Training use cases: courses (program managers and organization administrators), one's own
//! modules and tests (staff), everyone's records and certification exceptions (program
//! managers), and the refresher job.

use jiff::{SignedDuration, Timestamp};

use crate::Ctx;
use crate::access::{self, Actor, Permission};
use crate::compliance::AuditAction;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, User, required_text};
use crate::ids::{CourseId, EnrolmentId, GateExceptionId, OrgId, UserId};
use crate::scheduling::service::shared::entry;
use crate::training::*;

/// Longest exception a program manager may grant: long enough to finish the course.
pub const MAX_EXCEPTION_DAYS: i64 = 90;

pub async fn create_course(
    ctx: Ctx<'_>,
    actor: &Actor,
    input: &CourseInput,
) -> DomainResult<Course> {
    let org = actor.org()?;
    create_course_in(ctx, actor, org, input).await
}

/// `create_course` for an organization named explicitly (the operator's command line, the demo).
pub async fn create_course_in(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    input: &CourseInput,
) -> DomainResult<Course> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    access::require(actor, Permission::ManageTraining)?;
    let f = input.validate()?;
    let course = Course {
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
        created_at: ctx.clock.now(),
    };
    let audit = entry(ctx, actor, AuditAction::CourseCreate, "Course", org)
        .resource(course.id)
        .detail(course.title.clone());
    ctx.store.create_course(&course, audit).await?;
    Ok(course)
}

/// Learners and those who manage training may read courses.
fn require_reader(actor: &Actor) -> DomainResult<()> {
    access::require(actor, Permission::TakeTraining)
        .or_else(|_| access::require(actor, Permission::ManageTraining))
}

pub async fn list_courses(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<Course>> {
    let org = actor.org()?;
    require_reader(actor)?;
    ctx.store.list_courses(org).await
}

pub async fn get_course(ctx: Ctx<'_>, actor: &Actor, id: CourseId) -> DomainResult<Course> {
    let org = actor.org()?;
    require_reader(actor)?;
    ctx.store
        .get_course(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "course" })
}

/// One person's training: enrolments with their courses, certifications and exceptions.
#[derive(Debug, Clone)]
pub struct TrainingRecord {
    pub user: User,
    pub enrolments: Vec<(Enrolment, Course)>,
    pub certifications: Vec<Certification>,
    pub exceptions: Vec<GateException>,
    pub standing: CertificationStanding,
}

/// The actor's own training. Enrolment by role happens here too, so a person hired after a
/// course was written finds it waiting.
pub async fn mine(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<TrainingRecord> {
    let org = actor.org()?;
    access::require(actor, Permission::TakeTraining)?;
    let user_id = actor.user_id().ok_or(DomainError::Forbidden {
        action: "take training",
    })?;
    ctx.store.enrol_by_role(org, ctx.clock.now()).await?;
    record_of(ctx, org, user_id).await
}

/// Everyone's training, for the program manager (one record per staff member who trains).
pub async fn records(ctx: Ctx<'_>, actor: &Actor) -> DomainResult<Vec<TrainingRecord>> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageTraining)?;
    let now = ctx.clock.now();
    ctx.store.enrol_by_role(org, now).await?;
    let users = ctx.store.list_users(org, None).await?;
    let courses = ctx.store.list_courses(org).await?;
    let enrolments = ctx
        .store
        .list_enrolments(org, &EnrolmentQuery::default())
        .await?;
    let certifications = ctx.store.list_certifications(org, None).await?;
    let exceptions = ctx.store.list_gate_exceptions(org, None).await?;
    let mut out = Vec::new();
    for user in users
        .into_iter()
        .filter(|u| u.active && TRAINED_ROLES.contains(&u.role))
    {
        let mine: Vec<(Enrolment, Course)> = enrolments
            .iter()
            .filter(|e| e.user_id == user.id)
            .filter_map(|e| {
                courses
                    .iter()
                    .find(|c| c.id == e.course_id)
                    .map(|c| (e.clone(), c.clone()))
            })
            .collect();
        let certs: Vec<Certification> = certifications
            .iter()
            .filter(|c| c.user_id == user.id)
            .cloned()
            .collect();
        let excs: Vec<GateException> = exceptions
            .iter()
            .filter(|e| e.clinician_id == user.id)
            .cloned()
            .collect();
        let standing = standing(&certs, &excs, now);
        out.push(TrainingRecord {
            user,
            enrolments: mine,
            certifications: certs,
            exceptions: excs,
            standing,
        });
    }
    Ok(out)
}

async fn record_of(ctx: Ctx<'_>, org: OrgId, user_id: UserId) -> DomainResult<TrainingRecord> {
    let user = ctx
        .store
        .get_user(org, user_id)
        .await?
        .ok_or(DomainError::NotFound { resource: "user" })?;
    let courses = ctx.store.list_courses(org).await?;
    let enrolments = ctx
        .store
        .list_enrolments(
            org,
            &EnrolmentQuery {
                user_id: Some(user_id),
                ..EnrolmentQuery::default()
            },
        )
        .await?
        .into_iter()
        .filter_map(|e| {
            courses
                .iter()
                .find(|c| c.id == e.course_id)
                .map(|c| (e, c.clone()))
        })
        .collect();
    let certifications = ctx.store.list_certifications(org, Some(user_id)).await?;
    let exceptions = ctx.store.list_gate_exceptions(org, Some(user_id)).await?;
    let standing = standing(&certifications, &exceptions, ctx.clock.now());
    Ok(TrainingRecord {
        user,
        enrolments,
        certifications,
        exceptions,
        standing,
    })
}

/// An enrolment the actor may work on: their own (program managers read others' through
/// `records`, they do not take tests for them).
async fn own_enrolment(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: EnrolmentId,
) -> DomainResult<(Enrolment, Course)> {
    let org = actor.org()?;
    access::require(actor, Permission::TakeTraining)?;
    let enrolment = ctx
        .store
        .get_enrolment(org, id)
        .await?
        .filter(|e| Some(e.user_id) == actor.user_id())
        .ok_or(DomainError::NotFound {
            resource: "enrolment",
        })?;
    let course = ctx
        .store
        .get_course(org, enrolment.course_id)
        .await?
        .ok_or(DomainError::NotFound { resource: "course" })?;
    Ok((enrolment, course))
}

pub async fn enrolment(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: EnrolmentId,
) -> DomainResult<(Enrolment, Course, Vec<Assessment>)> {
    let (enrolment, course) = own_enrolment(ctx, actor, id).await?;
    let assessments = ctx
        .store
        .list_assessments(enrolment.org_id, enrolment.id)
        .await?;
    Ok((enrolment, course, assessments))
}

pub async fn complete_module(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: EnrolmentId,
    index: usize,
) -> DomainResult<Enrolment> {
    let (enrolment, course) = own_enrolment(ctx, actor, id).await?;
    let next = complete_module_rule(&course, &enrolment, index)?;
    if next == enrolment {
        return Ok(next);
    }
    let audit = entry(
        ctx,
        actor,
        AuditAction::TrainingProgress,
        "Enrolment",
        enrolment.org_id,
    )
    .resource(enrolment.id)
    .detail(format!("module {index} done"));
    if !ctx.store.update_enrolment(&enrolment, &next, audit).await? {
        return Err(DomainError::conflict(
            "the enrolment changed meanwhile; reload it",
        ));
    }
    Ok(next)
}

use crate::training::complete_module as complete_module_rule;

/// Takes a test: scores it, and on the post-test completes the enrolment (certifying on a pass,
/// enrolling in remedial training on a fail). All of it is written together or not at all.
pub async fn submit_test(
    ctx: Ctx<'_>,
    actor: &Actor,
    id: EnrolmentId,
    kind: TestKind,
    answers: &[usize],
) -> DomainResult<TestOutcome> {
    let (enrolment, course) = own_enrolment(ctx, actor, id).await?;
    let now = ctx.clock.now();
    let outcome = crate::training::submit_test(&course, &enrolment, kind, answers, now)?;
    let org = enrolment.org_id;
    let mut audit = vec![
        entry(
            ctx,
            actor,
            AuditAction::AssessmentSubmitted,
            "Enrolment",
            org,
        )
        .resource(enrolment.id)
        .detail(format!(
            "{} test {}%: {}",
            kind.as_str(),
            outcome.assessment.score_pct,
            if outcome.assessment.passed {
                "passed"
            } else {
                "failed"
            }
        )),
    ];
    if let Some(c) = &outcome.certification {
        audit.push(
            entry(
                ctx,
                actor,
                AuditAction::CertificationIssued,
                "Certification",
                org,
            )
            .resource(c.id)
            .detail(format!("until {}", c.expires_at)),
        );
    }
    if !ctx.store.record_test(&enrolment, &outcome, audit).await? {
        return Err(DomainError::conflict(
            "this test was already submitted; a completed assessment cannot be changed",
        ));
    }
    Ok(outcome)
}

/// A written, time-limited leave for an uncertified clinician to take virtual visits.
pub async fn grant_exception(
    ctx: Ctx<'_>,
    actor: &Actor,
    clinician_id: UserId,
    reason: &str,
    until: Timestamp,
) -> DomainResult<GateException> {
    let org = actor.org()?;
    access::require(actor, Permission::ManageTraining)?;
    let granted_by = actor.user_id().ok_or(DomainError::Forbidden {
        action: "grant exceptions",
    })?;
    let reason = required_text("reason", reason, 500)?;
    let now = ctx.clock.now();
    if until <= now {
        return Err(DomainError::invalid("until", "must be in the future"));
    }
    if until.duration_since(now) > SignedDuration::from_hours(24 * MAX_EXCEPTION_DAYS) {
        return Err(DomainError::invalid(
            "until",
            format!("an exception lasts at most {MAX_EXCEPTION_DAYS} days"),
        ));
    }
    match ctx.store.get_user(org, clinician_id).await? {
        Some(u) if u.role == Role::Clinician && u.active => {}
        _ => {
            return Err(DomainError::NotFound {
                resource: "clinician",
            });
        }
    }
    let exception = GateException {
        id: GateExceptionId::new(),
        org_id: org,
        clinician_id,
        reason: reason.clone(),
        granted_by,
        granted_at: now,
        until,
    };
    let audit = entry(ctx, actor, AuditAction::GateExceptionGranted, "User", org)
        .resource(clinician_id)
        .detail(format!("until {until}: {reason}"));
    ctx.store.grant_exception(&exception, audit).await?;
    Ok(exception)
}

/// The refresher job, once: every certification ending within [`REFRESHER_DAYS`] and not yet
/// reminded gets a refresher enrolment (in the course that issued it) and is marked reminded.
/// Returns what was reminded, for the caller to email.
pub async fn run_refreshers_once(ctx: Ctx<'_>) -> DomainResult<Vec<(Certification, Enrolment)>> {
    let now = ctx.clock.now();
    let before = now
        .checked_add(SignedDuration::from_hours(24 * REFRESHER_DAYS))
        .unwrap_or(now);
    let mut reminded = Vec::new();
    for c in ctx.store.certifications_to_remind(now, before).await? {
        let refresher = Enrolment {
            id: EnrolmentId::new(),
            org_id: c.org_id,
            user_id: c.user_id,
            course_id: c.course_id,
            reason: EnrolmentReason::Refresher,
            status: EnrolmentStatus::Enrolled,
            modules_done: Vec::new(),
            pre_score_pct: None,
            post_score_pct: None,
            enrolled_at: now,
            completed_at: None,
        };
        let audit = crate::compliance::AuditEntry::new(
            now,
            crate::compliance::AuditActor::Operator,
            AuditAction::CertificationReminder,
            "Certification",
        )
        .org(c.org_id)
        .resource(c.id)
        .detail(format!("expires {}", c.expires_at));
        if ctx
            .store
            .mark_reminded(&c, now, Some(&refresher), audit)
            .await?
        {
            reminded.push((c, refresher));
        }
    }
    Ok(reminded)
}
