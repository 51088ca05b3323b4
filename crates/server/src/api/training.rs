//! `/api/v1/training`: courses, one's own enrolments and tests, everyone's records (program
//! managers), and `/api/v1/certification-exceptions`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use domain::DomainError;
use domain::ids::{EnrolmentId, UserId};
use domain::training::service::{self as training, TrainingRecord};
use domain::training::{
    Certification, Course, CourseInput, CourseModule, Enrolment, GateException, Question, TestKind,
    TestOutcome,
};

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModuleBody {
    pub title: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// A multiple-choice question as written: `answer` is the index of the right choice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionRequest {
    pub prompt: String,
    pub choices: Vec<String>,
    #[schema(minimum = 0)]
    pub answer: usize,
}

/// A course as a program manager writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseRequest {
    #[schema(example = "Telehealth competency")]
    pub title: String,
    #[serde(default)]
    pub summary: String,
    /// Roles enrolled automatically: clinician, nurse, front_desk, site_admin.
    #[schema(example = json!(["clinician", "nurse"]))]
    pub audience: Vec<String>,
    pub modules: Vec<ModuleBody>,
    pub questions: Vec<QuestionRequest>,
    /// Share of right answers needed to pass the post-test (1 to 100).
    #[schema(example = 80)]
    pub pass_mark_pct: i64,
    /// Passing the post-test issues the telehealth competency certification.
    #[serde(default)]
    pub certifies: bool,
    /// How long a certification lasts (1 to 36 months; 12 when left out).
    pub validity_months: Option<i64>,
}

impl From<CourseRequest> for CourseInput {
    fn from(r: CourseRequest) -> Self {
        CourseInput {
            title: r.title,
            summary: r.summary,
            audience: r.audience,
            modules: r
                .modules
                .into_iter()
                .map(|m| CourseModule {
                    title: m.title,
                    body: m.body,
                    link: m.link,
                })
                .collect(),
            questions: r
                .questions
                .into_iter()
                .map(|q| Question {
                    prompt: q.prompt,
                    choices: q.choices,
                    answer: q.answer,
                })
                .collect(),
            pass_mark_pct: r.pass_mark_pct,
            certifies: r.certifies,
            validity_months: r.validity_months,
        }
    }
}

/// A question as learners see it: without its answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionResponse {
    pub prompt: String,
    pub choices: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseResponse {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub audience: Vec<String>,
    pub modules: Vec<ModuleBody>,
    pub questions: Vec<QuestionResponse>,
    pub pass_mark_pct: i64,
    pub certifies: bool,
    pub validity_months: i64,
}

impl From<Course> for CourseResponse {
    fn from(c: Course) -> Self {
        Self {
            id: c.id.to_string(),
            title: c.title,
            summary: c.summary,
            audience: c.audience.iter().map(|r| r.as_str().to_string()).collect(),
            modules: c
                .modules
                .into_iter()
                .map(|m| ModuleBody {
                    title: m.title,
                    body: m.body,
                    link: m.link,
                })
                .collect(),
            questions: c
                .questions
                .into_iter()
                .map(|q| QuestionResponse {
                    prompt: q.prompt,
                    choices: q.choices,
                })
                .collect(),
            pass_mark_pct: c.pass_mark_pct,
            certifies: c.certifies,
            validity_months: c.validity_months,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseList {
    pub courses: Vec<CourseResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentResponse {
    pub id: String,
    pub user_id: String,
    pub course_id: String,
    pub course_title: String,
    /// role, remedial or refresher
    pub reason: String,
    /// enrolled, in_progress, passed or failed
    pub status: String,
    pub modules_done: Vec<usize>,
    pub modules_total: usize,
    pub pre_score_pct: Option<i64>,
    pub post_score_pct: Option<i64>,
    pub enrolled_at: String,
    pub completed_at: Option<String>,
}

impl EnrolmentResponse {
    fn new(e: &Enrolment, course: &Course) -> Self {
        Self {
            id: e.id.to_string(),
            user_id: e.user_id.to_string(),
            course_id: e.course_id.to_string(),
            course_title: course.title.clone(),
            reason: e.reason.as_str().into(),
            status: e.status.as_str().into(),
            modules_done: e.modules_done.clone(),
            modules_total: course.modules.len(),
            pre_score_pct: e.pre_score_pct,
            post_score_pct: e.post_score_pct,
            enrolled_at: e.enrolled_at.to_string(),
            completed_at: e.completed_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificationResponse {
    pub id: String,
    pub user_id: String,
    pub course_id: String,
    pub issued_at: String,
    pub expires_at: String,
}

impl From<&Certification> for CertificationResponse {
    fn from(c: &Certification) -> Self {
        Self {
            id: c.id.to_string(),
            user_id: c.user_id.to_string(),
            course_id: c.course_id.to_string(),
            issued_at: c.issued_at.to_string(),
            expires_at: c.expires_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GateExceptionResponse {
    pub id: String,
    pub clinician_id: String,
    pub reason: String,
    pub granted_by: String,
    pub granted_at: String,
    pub until: String,
}

impl From<&GateException> for GateExceptionResponse {
    fn from(e: &GateException) -> Self {
        Self {
            id: e.id.to_string(),
            clinician_id: e.clinician_id.to_string(),
            reason: e.reason.clone(),
            granted_by: e.granted_by.to_string(),
            granted_at: e.granted_at.to_string(),
            until: e.until.to_string(),
        }
    }
}

/// One person's training and standing for the certification gate.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingRecordResponse {
    pub user_id: String,
    pub name: String,
    pub role: String,
    pub site_ids: Vec<String>,
    /// certified, expiring (within 30 days), exception or uncertified
    pub standing: String,
    pub enrolments: Vec<EnrolmentResponse>,
    pub certifications: Vec<CertificationResponse>,
    pub exceptions: Vec<GateExceptionResponse>,
}

impl From<&TrainingRecord> for TrainingRecordResponse {
    fn from(r: &TrainingRecord) -> Self {
        Self {
            user_id: r.user.id.to_string(),
            name: r.user.display_name.clone(),
            role: r.user.role.as_str().into(),
            site_ids: r.user.site_ids.iter().map(ToString::to_string).collect(),
            standing: r.standing.as_str().into(),
            enrolments: r
                .enrolments
                .iter()
                .map(|(e, c)| EnrolmentResponse::new(e, c))
                .collect(),
            certifications: r.certifications.iter().map(Into::into).collect(),
            exceptions: r.exceptions.iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingRecordList {
    pub records: Vec<TrainingRecordResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentResponse {
    pub id: String,
    /// pre or post
    pub kind: String,
    pub answers: Vec<usize>,
    pub score_pct: i64,
    pub passed: bool,
    pub submitted_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentDetail {
    pub enrolment: EnrolmentResponse,
    pub course: CourseResponse,
    pub assessments: Vec<AssessmentResponse>,
}

/// A test's answers: for each question, in order, the index of the chosen answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[schema(example = json!([1, 1, 1, 0, 1, 1, 1, 1]))]
    pub answers: Vec<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestResultResponse {
    pub score_pct: i64,
    pub passed: bool,
    pub enrolment: EnrolmentResponse,
    pub certification: Option<CertificationResponse>,
    /// The remedial enrolment made when the post-test was failed.
    pub remedial_enrolment_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GateExceptionRequest {
    pub clinician_id: String,
    /// Why the clinician may take virtual visits without a current certification (audited).
    #[schema(example = "Locum cover until the March course; certified elsewhere")]
    pub reason: String,
    /// When the exception ends (RFC 3339; at most 90 days ahead).
    #[schema(example = "2026-12-31T00:00:00Z")]
    pub until: String,
}

/// Courses of the organization (questions without their answers).
#[utoipa::path(get, path = "/api/v1/training/courses", tag = "training",
    responses((status = 200, body = CourseList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_courses(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<CourseList>> {
    let courses = training::list_courses(state.ctx(), &actor).await?;
    Ok(Json(CourseList {
        courses: courses.into_iter().map(Into::into).collect(),
    }))
}

/// Write a course (program managers, organization administrators): everyone of its roles is
/// enrolled at once.
#[utoipa::path(post, path = "/api/v1/training/courses", tag = "training",
    request_body = CourseRequest,
    responses((status = 201, body = CourseResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create_course(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<CourseRequest>,
) -> ApiResult<(StatusCode, Json<CourseResponse>)> {
    let course = training::create_course(state.ctx(), &actor, &body.into()).await?;
    Ok((StatusCode::CREATED, Json(course.into())))
}

/// The signed-in person's training: enrolments, certifications, standing.
#[utoipa::path(get, path = "/api/v1/training/me", tag = "training",
    responses((status = 200, body = TrainingRecordResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn mine(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<TrainingRecordResponse>> {
    let record = training::mine(state.ctx(), &actor).await?;
    Ok(Json((&record).into()))
}

/// Everyone's training and standing (program managers, organization administrators).
#[utoipa::path(get, path = "/api/v1/training/records", tag = "training",
    responses((status = 200, body = TrainingRecordList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn records(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<TrainingRecordList>> {
    let records = training::records(state.ctx(), &actor).await?;
    Ok(Json(TrainingRecordList {
        records: records.iter().map(Into::into).collect(),
    }))
}

fn detail(
    e: &Enrolment,
    course: Course,
    assessments: Vec<domain::training::Assessment>,
) -> EnrolmentDetail {
    EnrolmentDetail {
        enrolment: EnrolmentResponse::new(e, &course),
        course: course.into(),
        assessments: assessments
            .into_iter()
            .map(|a| AssessmentResponse {
                id: a.id.to_string(),
                kind: a.kind.as_str().into(),
                answers: a.answers,
                score_pct: a.score_pct,
                passed: a.passed,
                submitted_at: a.submitted_at.to_string(),
            })
            .collect(),
    }
}

/// One of the signed-in person's enrolments, with its course and submitted tests.
#[utoipa::path(get, path = "/api/v1/training/enrolments/{id}", tag = "training",
    params(("id" = String, Path, description = "Enrolment id")),
    responses((status = 200, body = EnrolmentDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn get_enrolment(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<EnrolmentId>,
) -> ApiResult<Json<EnrolmentDetail>> {
    let (e, course, assessments) = training::enrolment(state.ctx(), &actor, id).await?;
    Ok(Json(detail(&e, course, assessments)))
}

/// Mark one module of the course as done.
#[utoipa::path(post, path = "/api/v1/training/enrolments/{id}/modules/{index}", tag = "training",
    params(("id" = String, Path, description = "Enrolment id"),
        ("index" = usize, Path, description = "Module number, from 0")),
    responses((status = 200, body = EnrolmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn complete_module(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, index)): ApiPath<(EnrolmentId, usize)>,
) -> ApiResult<Json<EnrolmentResponse>> {
    let ctx = state.ctx();
    let e = training::complete_module(ctx, &actor, id, index).await?;
    let (_, course, _) = training::enrolment(ctx, &actor, id).await?;
    Ok(Json(EnrolmentResponse::new(&e, &course)))
}

/// Take the pre-test (before the modules) or the post-test (after every module). Each is taken
/// once; the post-test completes the enrolment: a pass certifies (certifying courses), a fail
/// enrols the person in remedial training.
#[utoipa::path(post, path = "/api/v1/training/enrolments/{id}/tests/{kind}", tag = "training",
    params(("id" = String, Path, description = "Enrolment id"),
        ("kind" = String, Path, description = "pre or post")),
    request_body = TestRequest,
    responses((status = 200, body = TestResultResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn submit_test(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, kind)): ApiPath<(EnrolmentId, String)>,
    ApiJson(body): ApiJson<TestRequest>,
) -> ApiResult<Json<TestResultResponse>> {
    let kind = TestKind::parse("kind", &kind)?;
    let ctx = state.ctx();
    let outcome = training::submit_test(ctx, &actor, id, kind, &body.answers).await?;
    let (_, course, _) = training::enrolment(ctx, &actor, id).await?;
    Ok(Json(result_of(&outcome, &course)))
}

pub fn result_of(o: &TestOutcome, course: &Course) -> TestResultResponse {
    TestResultResponse {
        score_pct: o.assessment.score_pct,
        passed: o.assessment.passed,
        enrolment: EnrolmentResponse::new(&o.enrolment, course),
        certification: o.certification.as_ref().map(Into::into),
        remedial_enrolment_id: o.remedial.as_ref().map(|e| e.id.to_string()),
    }
}

/// Let an uncertified clinician take virtual visits until a date, for a written reason
/// (program managers, organization administrators; audited).
#[utoipa::path(post, path = "/api/v1/certification-exceptions", tag = "training",
    request_body = GateExceptionRequest,
    responses((status = 201, body = GateExceptionResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn grant_exception(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<GateExceptionRequest>,
) -> ApiResult<(StatusCode, Json<GateExceptionResponse>)> {
    let clinician: UserId = body
        .clinician_id
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid("clinician_id", "is not a user id"))?;
    let until: Timestamp = body.until.trim().parse().map_err(|_| {
        DomainError::invalid(
            "until",
            "must be an RFC 3339 time such as 2026-12-31T00:00:00Z",
        )
    })?;
    let e = training::grant_exception(state.ctx(), &actor, clinician, &body.reason, until).await?;
    Ok((StatusCode::CREATED, Json((&e).into())))
}
