//! Pure rules: what a course must hold, how a test is scored, what a submitted test leads to,
//! and a person's standing for the certification gate.

use jiff::{SignedDuration, Span, Timestamp, Zoned, tz::TimeZone};
use serde::Deserialize;

use super::model::*;
use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, required_text};
use crate::ids::{AssessmentId, CertificationId, EnrolmentId};

/// Roles that take training (patients and auditors do not).
pub const TRAINED_ROLES: [Role; 4] = [
    Role::Clinician,
    Role::Nurse,
    Role::FrontDesk,
    Role::SiteAdmin,
];
/// Days before expiry when the refresher reminder goes out and the person counts as expiring.
pub const REFRESHER_DAYS: i64 = 30;
pub const DEFAULT_VALIDITY_MONTHS: i64 = 12;

/// A course as written by a program manager (JSON API, demo).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CourseInput {
    pub title: String,
    #[serde(default)]
    pub summary: String,
    pub audience: Vec<String>,
    pub modules: Vec<CourseModule>,
    pub questions: Vec<Question>,
    pub pass_mark_pct: i64,
    #[serde(default)]
    pub certifies: bool,
    /// 12 when not given.
    pub validity_months: Option<i64>,
}

#[derive(Debug)]
pub struct CourseFields {
    pub title: String,
    pub summary: String,
    pub audience: Vec<Role>,
    pub modules: Vec<CourseModule>,
    pub questions: Vec<Question>,
    pub pass_mark_pct: i64,
    pub validity_months: i64,
}

impl CourseInput {
    pub fn validate(&self) -> DomainResult<CourseFields> {
        let title = required_text("title", &self.title, 120)?;
        let summary = self.summary.trim().to_string();
        if summary.chars().count() > 1000 {
            return Err(DomainError::invalid(
                "summary",
                "must be at most 1000 characters",
            ));
        }
        let mut audience = Vec::new();
        for raw in &self.audience {
            let role = Role::parse("audience", raw)?;
            if !TRAINED_ROLES.contains(&role) {
                return Err(DomainError::invalid(
                    "audience",
                    format!(
                        "{} is not a role that takes training (clinician, nurse, front_desk, site_admin)",
                        role.as_str()
                    ),
                ));
            }
            if !audience.contains(&role) {
                audience.push(role);
            }
        }
        if audience.is_empty() {
            return Err(DomainError::invalid("audience", "name at least one role"));
        }
        if self.modules.is_empty() || self.modules.len() > 50 {
            return Err(DomainError::invalid(
                "modules",
                "a course has 1 to 50 modules",
            ));
        }
        let mut modules = Vec::with_capacity(self.modules.len());
        for (i, m) in self.modules.iter().enumerate() {
            let title = required_text(&format!("modules[{i}].title"), &m.title, 120)?;
            let body = m.body.trim().to_string();
            if body.is_empty() || body.chars().count() > 20_000 {
                return Err(DomainError::invalid(
                    format!("modules[{i}].body"),
                    "must hold 1 to 20000 characters",
                ));
            }
            let link = match m.link.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(l)
                    if l.starts_with("https://")
                        && l.len() <= 500
                        && !l.contains(char::is_whitespace) =>
                {
                    Some(l.to_string())
                }
                Some(_) => {
                    return Err(DomainError::invalid(
                        format!("modules[{i}].link"),
                        "must be an https:// address",
                    ));
                }
            };
            modules.push(CourseModule { title, body, link });
        }
        if self.questions.is_empty() || self.questions.len() > 100 {
            return Err(DomainError::invalid(
                "questions",
                "a question bank has 1 to 100 questions",
            ));
        }
        let mut questions = Vec::with_capacity(self.questions.len());
        for (i, q) in self.questions.iter().enumerate() {
            let prompt = required_text(&format!("questions[{i}].prompt"), &q.prompt, 500)?;
            if !(2..=6).contains(&q.choices.len()) {
                return Err(DomainError::invalid(
                    format!("questions[{i}].choices"),
                    "a question has 2 to 6 choices",
                ));
            }
            let choices = q
                .choices
                .iter()
                .enumerate()
                .map(|(j, c)| required_text(&format!("questions[{i}].choices[{j}]"), c, 300))
                .collect::<DomainResult<Vec<_>>>()?;
            if q.answer >= choices.len() {
                return Err(DomainError::invalid(
                    format!("questions[{i}].answer"),
                    format!(
                        "must be the index of one of its {} choices (0 to {})",
                        choices.len(),
                        choices.len() - 1
                    ),
                ));
            }
            questions.push(Question {
                prompt,
                choices,
                answer: q.answer,
            });
        }
        if !(1..=100).contains(&self.pass_mark_pct) {
            return Err(DomainError::invalid(
                "pass_mark_pct",
                "must be between 1 and 100",
            ));
        }
        let validity_months = self.validity_months.unwrap_or(DEFAULT_VALIDITY_MONTHS);
        if !(1..=36).contains(&validity_months) {
            return Err(DomainError::invalid(
                "validity_months",
                "must be between 1 and 36",
            ));
        }
        Ok(CourseFields {
            title,
            summary,
            audience,
            modules,
            questions,
            pass_mark_pct: self.pass_mark_pct,
            validity_months,
        })
    }
}

/// The share of right answers, in percent (rounded down). Every question must be answered with
/// the index of one of its choices.
pub fn score(questions: &[Question], answers: &[usize]) -> DomainResult<i64> {
    if answers.len() != questions.len() {
        return Err(DomainError::invalid(
            "answers",
            format!(
                "answer all {} questions (got {})",
                questions.len(),
                answers.len()
            ),
        ));
    }
    let mut right = 0i64;
    for (i, (q, &a)) in questions.iter().zip(answers).enumerate() {
        if a >= q.choices.len() {
            return Err(DomainError::invalid(
                format!("answers[{i}]"),
                format!("must be between 0 and {}", q.choices.len() - 1),
            ));
        }
        if a == q.answer {
            right += 1;
        }
    }
    Ok(right * 100 / questions.len() as i64)
}

/// What a module marked as done makes of the enrolment.
pub fn complete_module(
    course: &Course,
    enrolment: &Enrolment,
    index: usize,
) -> DomainResult<Enrolment> {
    if !enrolment.status.is_open() {
        return Err(DomainError::conflict(format!(
            "this enrolment is {}: its record can no longer change",
            enrolment.status.as_str()
        )));
    }
    if index >= course.modules.len() {
        return Err(DomainError::invalid(
            "module",
            format!("the course has modules 0 to {}", course.modules.len() - 1),
        ));
    }
    let mut next = enrolment.clone();
    if !next.modules_done.contains(&index) {
        next.modules_done.push(index);
        next.modules_done.sort_unstable();
    }
    next.status = EnrolmentStatus::InProgress;
    Ok(next)
}

/// Everything a submitted test writes, together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub assessment: Assessment,
    /// The enrolment as it is after the test.
    pub enrolment: Enrolment,
    /// Issued when a certifying course's post-test is passed.
    pub certification: Option<Certification>,
    /// A new enrolment in the same course when the post-test is failed.
    pub remedial: Option<Enrolment>,
}

/// Scores a test and decides what follows. A test is taken once per enrolment: a second
/// submission is refused (a completed assessment is never edited).
pub fn submit_test(
    course: &Course,
    enrolment: &Enrolment,
    kind: TestKind,
    answers: &[usize],
    now: Timestamp,
) -> DomainResult<TestOutcome> {
    if !enrolment.status.is_open() {
        return Err(DomainError::conflict(format!(
            "this enrolment is {}: its tests are complete and cannot be taken again",
            enrolment.status.as_str()
        )));
    }
    match kind {
        TestKind::Pre if enrolment.pre_score_pct.is_some() => {
            return Err(DomainError::conflict("the pre-test is already taken"));
        }
        TestKind::Pre if !enrolment.modules_done.is_empty() => {
            return Err(DomainError::conflict(
                "the pre-test comes before the modules; take the post-test now",
            ));
        }
        TestKind::Post if enrolment.modules_done.len() < course.modules.len() => {
            return Err(DomainError::conflict(format!(
                "finish every module first ({} of {} done)",
                enrolment.modules_done.len(),
                course.modules.len()
            )));
        }
        _ => {}
    }
    let score_pct = score(&course.questions, answers)?;
    let passed = kind == TestKind::Pre || score_pct >= course.pass_mark_pct;
    let assessment = Assessment {
        id: AssessmentId::new(),
        enrolment_id: enrolment.id,
        kind,
        answers: answers.to_vec(),
        score_pct,
        passed,
        submitted_at: now,
    };
    let mut next = enrolment.clone();
    let (mut certification, mut remedial) = (None, None);
    match kind {
        TestKind::Pre => {
            next.pre_score_pct = Some(score_pct);
            next.status = EnrolmentStatus::InProgress;
        }
        TestKind::Post => {
            next.post_score_pct = Some(score_pct);
            next.completed_at = Some(now);
            if passed {
                next.status = EnrolmentStatus::Passed;
                if course.certifies {
                    certification = Some(Certification {
                        id: CertificationId::new(),
                        org_id: enrolment.org_id,
                        user_id: enrolment.user_id,
                        course_id: course.id,
                        enrolment_id: enrolment.id,
                        issued_at: now,
                        expires_at: months_after(now, course.validity_months),
                        reminded_at: None,
                    });
                }
            } else {
                next.status = EnrolmentStatus::Failed;
                remedial = Some(Enrolment {
                    id: EnrolmentId::new(),
                    org_id: enrolment.org_id,
                    user_id: enrolment.user_id,
                    course_id: course.id,
                    reason: EnrolmentReason::Remedial,
                    status: EnrolmentStatus::Enrolled,
                    modules_done: Vec::new(),
                    pre_score_pct: None,
                    post_score_pct: None,
                    enrolled_at: now,
                    completed_at: None,
                });
            }
        }
    }
    Ok(TestOutcome {
        assessment,
        enrolment: next,
        certification,
        remedial,
    })
}

/// `months` calendar months after `at` (in UTC; the 31st becomes the month's last day).
pub fn months_after(at: Timestamp, months: i64) -> Timestamp {
    let zoned: Zoned = at.to_zoned(TimeZone::UTC);
    zoned
        .checked_add(Span::new().months(months))
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| {
            at.saturating_add(SignedDuration::from_hours(24 * 30 * months))
                .unwrap_or(at)
        })
}

/// A person's standing for the gate at `at`, from their certifications and exceptions.
pub fn standing(
    certifications: &[Certification],
    exceptions: &[GateException],
    at: Timestamp,
) -> CertificationStanding {
    let window = SignedDuration::from_hours(24 * REFRESHER_DAYS);
    if let Some(latest) = certifications
        .iter()
        .filter(|c| c.valid_at(at))
        .map(|c| c.expires_at)
        .max()
    {
        return if latest.duration_since(at) <= window {
            CertificationStanding::Expiring
        } else {
            CertificationStanding::Certified
        };
    }
    if exceptions.iter().any(|e| e.covers(at)) {
        CertificationStanding::Excepted
    } else {
        CertificationStanding::Uncertified
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ids::{CourseId, OrgId, UserId};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn course() -> Course {
        let f = super::super::template::telehealth_competency()
            .validate()
            .unwrap();
        Course {
            id: CourseId::new(),
            org_id: OrgId::new(),
            title: f.title,
            summary: f.summary,
            audience: f.audience,
            modules: f.modules,
            questions: f.questions,
            pass_mark_pct: f.pass_mark_pct,
            certifies: true,
            validity_months: f.validity_months,
            created_at: t("2026-01-01T00:00:00Z"),
        }
    }

    fn enrolment(c: &Course) -> Enrolment {
        Enrolment {
            id: EnrolmentId::new(),
            org_id: c.org_id,
            user_id: UserId::new(),
            course_id: c.id,
            reason: EnrolmentReason::Role,
            status: EnrolmentStatus::Enrolled,
            modules_done: Vec::new(),
            pre_score_pct: None,
            post_score_pct: None,
            enrolled_at: t("2026-01-01T00:00:00Z"),
            completed_at: None,
        }
    }

    fn all_done(c: &Course, mut e: Enrolment) -> Enrolment {
        for i in 0..c.modules.len() {
            e = complete_module(c, &e, i).unwrap();
        }
        e
    }

    fn right_answers(c: &Course) -> Vec<usize> {
        c.questions.iter().map(|q| q.answer).collect()
    }

    #[test]
    fn a_score_is_the_share_of_right_answers_and_every_answer_must_exist() {
        let c = course();
        let mut answers = right_answers(&c);
        assert_eq!(score(&c.questions, &answers).unwrap(), 100);
        answers[0] = (answers[0] + 1) % 2;
        assert_eq!(
            score(&c.questions, &answers).unwrap(),
            87,
            "7 of 8, rounded down"
        );
        assert!(
            score(&c.questions, &answers[1..]).is_err(),
            "every question answered"
        );
        answers[0] = 9;
        let err = score(&c.questions, &answers).unwrap_err().to_string();
        assert!(err.contains("answers[0]"), "{err}");
    }

    #[test]
    fn passing_the_post_test_certifies_for_the_course_validity() {
        let c = course();
        let e = all_done(&c, enrolment(&c));
        let now = t("2026-03-31T10:00:00Z");
        let o = submit_test(&c, &e, TestKind::Post, &right_answers(&c), now).unwrap();
        assert_eq!(o.enrolment.status, EnrolmentStatus::Passed);
        let cert = o.certification.unwrap();
        assert_eq!(
            cert.expires_at,
            t("2027-03-31T10:00:00Z"),
            "12 calendar months"
        );
        assert!(cert.valid_at(now) && !cert.valid_at(cert.expires_at));
        assert!(o.remedial.is_none());
    }

    #[test]
    fn failing_the_post_test_enrols_in_remedial_training() {
        let c = course();
        let e = all_done(&c, enrolment(&c));
        let wrong: Vec<usize> = c
            .questions
            .iter()
            .map(|q| (q.answer + 1) % q.choices.len())
            .collect();
        let o = submit_test(&c, &e, TestKind::Post, &wrong, t("2026-02-01T00:00:00Z")).unwrap();
        assert_eq!(
            (
                o.enrolment.status,
                o.assessment.score_pct,
                o.assessment.passed
            ),
            (EnrolmentStatus::Failed, 0, false)
        );
        assert!(o.certification.is_none());
        let remedial = o.remedial.unwrap();
        assert_eq!(
            (remedial.reason, remedial.status, remedial.course_id),
            (EnrolmentReason::Remedial, EnrolmentStatus::Enrolled, c.id)
        );
    }

    #[test]
    fn tests_come_in_order_and_a_completed_assessment_is_never_taken_again() {
        let c = course();
        let e = enrolment(&c);
        let now = t("2026-02-01T00:00:00Z");
        // The post-test waits for every module.
        let err = submit_test(&c, &e, TestKind::Post, &right_answers(&c), now).unwrap_err();
        assert!(matches!(err, DomainError::Conflict { .. }), "{err}");
        let pre = submit_test(&c, &e, TestKind::Pre, &[0; 8], now).unwrap();
        assert!(pre.assessment.passed, "a pre-test never fails anyone");
        assert_eq!(pre.enrolment.pre_score_pct, Some(pre.assessment.score_pct));
        assert!(matches!(
            submit_test(&c, &pre.enrolment, TestKind::Pre, &[0; 8], now),
            Err(DomainError::Conflict { .. })
        ));
        let done = all_done(&c, pre.enrolment);
        let post = submit_test(&c, &done, TestKind::Post, &right_answers(&c), now).unwrap();
        assert!(matches!(
            submit_test(&c, &post.enrolment, TestKind::Post, &right_answers(&c), now),
            Err(DomainError::Conflict { .. })
        ));
        assert!(matches!(
            complete_module(&c, &post.enrolment, 0),
            Err(DomainError::Conflict { .. })
        ));
        assert!(complete_module(&c, &done, 99).is_err());
    }

    #[test]
    fn a_course_is_refused_with_the_field_at_fault() {
        let mut input = super::super::template::telehealth_competency();
        input.questions[2].answer = 5;
        assert!(
            input
                .validate()
                .unwrap_err()
                .to_string()
                .contains("questions[2].answer")
        );
        let mut input = super::super::template::telehealth_competency();
        input.audience = vec!["patient".into()];
        assert!(
            input
                .validate()
                .unwrap_err()
                .to_string()
                .contains("audience")
        );
        let mut input = super::super::template::telehealth_competency();
        input.pass_mark_pct = 101;
        assert!(
            input
                .validate()
                .unwrap_err()
                .to_string()
                .contains("pass_mark_pct")
        );
        let mut input = super::super::template::telehealth_competency();
        input.modules[1].link = Some("javascript:alert(1)".into());
        assert!(
            input
                .validate()
                .unwrap_err()
                .to_string()
                .contains("modules[1].link")
        );
        assert!(
            super::super::template::front_desk_virtual_visits()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn standing_reads_certifications_then_exceptions() {
        let c = course();
        let e = all_done(&c, enrolment(&c));
        let issued = t("2026-01-10T00:00:00Z");
        let cert = submit_test(&c, &e, TestKind::Post, &right_answers(&c), issued)
            .unwrap()
            .certification
            .unwrap();
        let certs = vec![cert.clone()];
        assert_eq!(
            standing(&certs, &[], t("2026-06-01T00:00:00Z")),
            CertificationStanding::Certified
        );
        assert_eq!(
            standing(&certs, &[], t("2026-12-20T00:00:00Z")),
            CertificationStanding::Expiring
        );
        assert_eq!(
            standing(&certs, &[], t("2027-01-10T00:00:00Z")),
            CertificationStanding::Uncertified
        );
        let exception = GateException {
            id: crate::ids::GateExceptionId::new(),
            org_id: c.org_id,
            clinician_id: cert.user_id,
            reason: "locum".into(),
            granted_by: UserId::new(),
            granted_at: t("2027-01-09T00:00:00Z"),
            until: t("2027-02-01T00:00:00Z"),
        };
        assert_eq!(
            standing(
                &certs,
                std::slice::from_ref(&exception),
                t("2027-01-20T00:00:00Z")
            ),
            CertificationStanding::Excepted
        );
        assert_eq!(
            standing(&certs, &[exception], t("2027-02-01T00:00:00Z")),
            CertificationStanding::Uncertified
        );
    }
}
