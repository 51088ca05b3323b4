//! Training pages: one's own courses (modules to mark done, the pre-test and the post-test as
//! plain forms), and the program manager's records: who is certified, expiring or not, per
//! site, with the form that grants a certification exception and a CSV export.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;

use domain::DomainError;
use domain::identity::Role;
use domain::ids::{EnrolmentId, UserId};
use domain::training::service::{self as training, TrainingRecord};
use domain::training::{Assessment, CertificationStanding, Course, Enrolment, TestKind};

use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Radios};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};

fn day(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d").to_string()
}

pub struct EnrolmentRow {
    pub href: String,
    pub course: String,
    pub reason: &'static str,
    pub status: &'static str,
    pub progress: String,
    pub score: String,
    pub open: bool,
}

fn enrolment_row(e: &Enrolment, c: &Course) -> EnrolmentRow {
    EnrolmentRow {
        href: format!("/training/enrolments/{}", e.id),
        course: c.title.clone(),
        reason: e.reason.label(),
        status: e.status.label(),
        progress: format!("{} of {} modules", e.modules_done.len(), c.modules.len()),
        score: e
            .post_score_pct
            .map(|s| format!("{s}% (pass mark {}%)", c.pass_mark_pct))
            .unwrap_or_else(|| "-".into()),
        open: e.status.is_open(),
    }
}

#[derive(Template)]
#[template(path = "pages/training.html")]
struct MyTrainingPage {
    shell: Shell,
    standing: &'static str,
    certified: bool,
    certification: Option<String>,
    exception: Option<String>,
    rows: Vec<EnrolmentRow>,
    manages: bool,
}

pub async fn mine(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    let record = training::mine(state.ctx(), &me.actor).await?;
    let now = state.clock.now();
    let latest = record
        .certifications
        .iter()
        .filter(|c| c.valid_at(now))
        .max_by_key(|c| c.expires_at);
    let exception = record.exceptions.iter().find(|e| e.covers(now));
    let page = MyTrainingPage {
        shell: Shell::new(&me, Section::Training),
        standing: record.standing.label(),
        certified: matches!(
            record.standing,
            CertificationStanding::Certified | CertificationStanding::Expiring
        ),
        certification: latest.map(|c| format!("valid until {}", day(c.expires_at))),
        exception: exception.map(|e| format!("until {}: {}", day(e.until), e.reason)),
        rows: record
            .enrolments
            .iter()
            .rev()
            .map(|(e, c)| enrolment_row(e, c))
            .collect(),
        manages: domain::access::role_allows(me.user.role, domain::Permission::ManageTraining),
    };
    Ok(ok(&page))
}

pub struct ModuleView {
    pub index: usize,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub link: Option<String>,
    pub done: bool,
}

pub struct TestView {
    pub kind: &'static str,
    pub title: &'static str,
    pub intro: String,
    pub questions: Vec<Radios>,
}

pub struct ResultView {
    pub title: &'static str,
    pub score: i64,
    pub passed: bool,
}

#[derive(Template)]
#[template(path = "pages/training_enrolment.html")]
struct EnrolmentPage {
    shell: Shell,
    id: String,
    course: String,
    summary: String,
    status: &'static str,
    reason: &'static str,
    pass_mark: i64,
    certifies: bool,
    modules: Vec<ModuleView>,
    modules_open: bool,
    test: Option<TestView>,
    results: Vec<ResultView>,
    errors: FormErrors,
}

/// Which test the person may take now, if any: the pre-test before any module, the post-test
/// once every module is done.
fn test_due(e: &Enrolment, c: &Course) -> Option<TestKind> {
    if !e.status.is_open() {
        return None;
    }
    if e.modules_done.len() == c.modules.len() {
        Some(TestKind::Post)
    } else if e.pre_score_pct.is_none() && e.modules_done.is_empty() {
        Some(TestKind::Pre)
    } else {
        None
    }
}

fn enrolment_page(
    me: &crate::auth::actor::SignedIn,
    e: &Enrolment,
    c: &Course,
    assessments: &[Assessment],
    form: Option<&FormData>,
    errors: FormErrors,
) -> EnrolmentPage {
    let test = test_due(e, c).map(|kind| TestView {
        kind: kind.as_str(),
        title: kind.label(),
        intro: if kind == TestKind::Pre {
            "What do you know already? This test never fails anyone; take it before the modules."
                .into()
        } else {
            format!(
                "Answer every question. {}% right passes{}; you take it once.",
                c.pass_mark_pct,
                if c.certifies {
                    " and certifies you for video visits"
                } else {
                    ""
                }
            )
        },
        questions: c
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let name = format!("q{i}");
                let current = form.map(|f| f.get(&name).to_string()).unwrap_or_default();
                Radios::new(
                    &name,
                    &format!("{}. {}", i + 1, q.prompt),
                    q.choices
                        .iter()
                        .enumerate()
                        .map(|(j, choice)| (j.to_string(), choice.clone())),
                    &current,
                )
                .errors(&errors)
            })
            .collect(),
    });
    EnrolmentPage {
        shell: Shell::new(me, Section::Training),
        id: e.id.to_string(),
        course: c.title.clone(),
        summary: c.summary.clone(),
        status: e.status.label(),
        reason: e.reason.label(),
        pass_mark: c.pass_mark_pct,
        certifies: c.certifies,
        modules: c
            .modules
            .iter()
            .enumerate()
            .map(|(i, m)| ModuleView {
                index: i,
                title: m.title.clone(),
                paragraphs: m
                    .body
                    .split("\n\n")
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
                link: m.link.clone(),
                done: e.modules_done.contains(&i),
            })
            .collect(),
        modules_open: e.status.is_open()
            && (e.pre_score_pct.is_some() || !e.modules_done.is_empty()),
        test,
        results: assessments
            .iter()
            .map(|a| ResultView {
                title: a.kind.label(),
                score: a.score_pct,
                passed: a.passed,
            })
            .collect(),
        errors,
    }
}

fn enrolment_id(raw: &str) -> Result<EnrolmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(id): Path<String>,
) -> PageResult {
    let (e, c, assessments) =
        training::enrolment(state.ctx(), &me.actor, enrolment_id(&id)?).await?;
    Ok(ok(&enrolment_page(
        &me,
        &e,
        &c,
        &assessments,
        None,
        FormErrors::default(),
    )))
}

pub async fn complete_module(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path((id, index)): Path<(String, usize)>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = enrolment_id(&id)?;
    training::complete_module(state.ctx(), &me.actor, id, index).await?;
    Ok(see_other(&format!(
        "/training/enrolments/{id}#module-{}",
        index + 1
    )))
}

pub async fn submit_test(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path((id, kind)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = enrolment_id(&id)?;
    let kind = TestKind::parse("kind", &kind).map_err(|_| PageError::NotFound)?;
    let (e, c, assessments) = training::enrolment(state.ctx(), &me.actor, id).await?;
    let mut errors = FormErrors::default();
    let mut answers = Vec::with_capacity(c.questions.len());
    for (i, q) in c.questions.iter().enumerate() {
        let name = format!("q{i}");
        match form.get(&name).trim().parse::<usize>() {
            Ok(a) if a < q.choices.len() => answers.push(a),
            _ => errors.field(&name, "Choose an answer."),
        }
    }
    if !errors.is_empty() {
        let page = enrolment_page(&me, &e, &c, &assessments, Some(&form), errors);
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
    }
    training::submit_test(state.ctx(), &me.actor, id, kind, &answers).await?;
    Ok(see_other(&format!("/training/enrolments/{id}#results")))
}

pub struct RecordRow {
    pub name: String,
    pub role: &'static str,
    pub sites: String,
    pub standing: &'static str,
    pub standing_class: &'static str,
    pub until: String,
    pub courses: String,
}

pub struct SiteCoverage {
    pub name: String,
    pub certified: usize,
    pub staff: usize,
    pub percent: usize,
}

#[derive(Template)]
#[template(path = "pages/training_records.html")]
struct RecordsPage {
    shell: Shell,
    rows: Vec<RecordRow>,
    coverage: Vec<SiteCoverage>,
    clinicians: Vec<(String, String)>,
    errors: FormErrors,
    clinician: String,
    reason: Field,
    until: Field,
}

fn current(r: &TrainingRecord) -> bool {
    matches!(
        r.standing,
        CertificationStanding::Certified | CertificationStanding::Expiring
    )
}

async fn records_page(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    form: Option<&FormData>,
    errors: FormErrors,
    done: bool,
) -> Result<RecordsPage, PageError> {
    let records = training::records(state.ctx(), &me.actor).await?;
    let sites =
        domain::identity::service::org::list_sites(state.ctx(), &me.actor, me.actor.org()?).await?;
    let now = state.clock.now();
    let rows = records
        .iter()
        .map(|r| {
            let until = match r.standing {
                CertificationStanding::Certified | CertificationStanding::Expiring => r
                    .certifications
                    .iter()
                    .filter(|c| c.valid_at(now))
                    .map(|c| c.expires_at)
                    .max()
                    .map(day),
                CertificationStanding::Excepted => r
                    .exceptions
                    .iter()
                    .filter(|e| e.covers(now))
                    .map(|e| e.until)
                    .max()
                    .map(|t| format!("{} (exception)", day(t))),
                CertificationStanding::Uncertified => None,
            };
            RecordRow {
                name: r.user.display_name.clone(),
                role: r.user.role.label(),
                sites: sites
                    .iter()
                    .filter(|s| r.user.site_ids.contains(&s.id))
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                standing: r.standing.label(),
                standing_class: match r.standing {
                    CertificationStanding::Certified => "badge",
                    CertificationStanding::Expiring | CertificationStanding::Excepted => {
                        "badge badge-flag"
                    }
                    CertificationStanding::Uncertified => "badge badge-off",
                },
                until: until.unwrap_or_else(|| "-".into()),
                courses: r
                    .enrolments
                    .iter()
                    .map(|(e, c)| format!("{}: {}", c.title, e.status.label()))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
        .collect();
    let coverage = sites
        .iter()
        .map(|s| {
            let here: Vec<&TrainingRecord> = records
                .iter()
                .filter(|r| {
                    r.user.site_ids.contains(&s.id)
                        && matches!(r.user.role, Role::Clinician | Role::Nurse)
                })
                .collect();
            let certified = here.iter().filter(|r| current(r)).count();
            SiteCoverage {
                name: s.name.clone(),
                certified,
                staff: here.len(),
                percent: (certified * 100).checked_div(here.len()).unwrap_or(0),
            }
        })
        .collect();
    let clinicians = records
        .iter()
        .filter(|r| r.user.role == Role::Clinician && !current(r))
        .map(|r| (r.user.id.to_string(), r.user.display_name.clone()))
        .collect();
    let get = |name: &str| form.map(|f| f.get(name).to_string()).unwrap_or_default();
    Ok(RecordsPage {
        shell: Shell::new(me, Section::TrainingRecords)
            .notice(done.then_some("Exception granted. It is in the audit trail.")),
        rows,
        coverage,
        clinicians,
        clinician: get("clinician_id"),
        reason: Field::new("reason", "Reason", get("reason"))
            .kind("textarea")
            .hint("Why this clinician may take video visits without a current certification. Kept in the audit trail.")
            .errors(&errors),
        until: Field::new("until", "Until (date)", get("until"))
            .kind("date")
            .hint("At most 90 days from today.")
            .errors(&errors),
        errors,
    })
}

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

pub async fn records(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let page = records_page(
        &state,
        &me,
        None,
        FormErrors::default(),
        params.done.is_some(),
    )
    .await?;
    Ok(ok(&page))
}

pub async fn grant_exception(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let mut errors = FormErrors::default();
    let clinician: Option<UserId> = form.get("clinician_id").trim().parse().ok();
    if clinician.is_none() {
        errors.field("clinician_id", "Choose a clinician.");
    }
    // The exception lasts to the end of the chosen day (UTC).
    let until = jiff::civil::Date::strptime("%Y-%m-%d", form.get("until").trim())
        .ok()
        .and_then(|d| d.tomorrow().ok())
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp());
    if until.is_none() {
        errors.field("until", "Enter a date such as 2026-12-31.");
    }
    if let (Some(clinician), Some(until)) = (clinician, until) {
        match training::grant_exception(
            state.ctx(),
            &me.actor,
            clinician,
            form.get("reason"),
            until,
        )
        .await
        {
            Ok(_) => return Ok(see_other("/training/records?done=exception")),
            Err(err @ DomainError::Invalid(_)) => {
                errors = FormErrors::from_domain(
                    err,
                    &[("reason", "The reason"), ("until", "The date")],
                )?;
            }
            Err(DomainError::NotFound { .. }) => {
                errors.field("clinician_id", "Choose a clinician.")
            }
            Err(other) => return Err(other.into()),
        }
    }
    let page = records_page(&state, &me, Some(&form), errors, false).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// `GET /training/records.csv`: every enrolment of every person, with scores and certification.
pub async fn export(
    State(state): State<AppState>,
    PageUser(me): PageUser,
) -> Result<Response, PageError> {
    let records = training::records(state.ctx(), &me.actor).await?;
    let mut out = super::csv_export::line(
        &[
            "name",
            "email",
            "role",
            "standing",
            "course",
            "reason",
            "status",
            "modules_done",
            "pre_score_pct",
            "post_score_pct",
            "enrolled_at",
            "completed_at",
            "certified_until",
        ]
        .map(String::from),
    );
    let now = state.clock.now();
    for r in &records {
        let until = r
            .certifications
            .iter()
            .filter(|c| c.valid_at(now))
            .map(|c| c.expires_at)
            .max()
            .map(day)
            .unwrap_or_default();
        let base = [
            r.user.display_name.clone(),
            r.user.email.as_str().to_string(),
            r.user.role.as_str().to_string(),
            r.standing.as_str().to_string(),
        ];
        if r.enrolments.is_empty() {
            let mut row = base.to_vec();
            row.extend(std::iter::repeat_n(String::new(), 8));
            row.push(until.clone());
            out.push_str(&super::csv_export::line(&row));
        }
        for (e, c) in &r.enrolments {
            let mut row = base.to_vec();
            row.extend([
                c.title.clone(),
                e.reason.as_str().to_string(),
                e.status.as_str().to_string(),
                format!("{}/{}", e.modules_done.len(), c.modules.len()),
                e.pre_score_pct.map(|s| s.to_string()).unwrap_or_default(),
                e.post_score_pct.map(|s| s.to_string()).unwrap_or_default(),
                e.enrolled_at.to_string(),
                e.completed_at.map(|t| t.to_string()).unwrap_or_default(),
                until.clone(),
            ]);
            out.push_str(&super::csv_export::line(&row));
        }
    }
    Ok(super::csv_export::download("training-records.csv", out))
}
