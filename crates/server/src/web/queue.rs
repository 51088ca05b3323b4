//! Urgent care on demand: a patient joins the queue and waits on a page that keeps itself up to
//! date with a script (a "Check again" button without one); a clinician sees who waits and takes
//! the next patient.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use domain::identity::Role;
use domain::identity::service::patients;
use domain::ids::QueueEntryId;
use domain::scheduling::service::queue::{self, JoinQueueInput};
use domain::scheduling::service::{appointments, consent};
use domain::scheduling::{AppointmentStatus, QueueStatus};
use domain::{DomainError, ErrorKind, Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::{state_choices, state_name};
use super::consent::{ConsentBox, accepted_version, consent_box, missing_consent};
use super::form::{Field, FormData, FormErrors, PageQuery, Select};
use super::page::{PageError, PageResult, capitalise, ok, render, see_other, status_of};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

pub struct JoinForm {
    pub patient_state: Select,
    pub reason: Field,
    pub consent: Option<ConsentBox>,
}

pub struct Waiting {
    pub entry_id: String,
    pub position: i64,
    pub ahead: String,
    pub wait: String,
    pub joined: String,
}

#[derive(Template)]
#[template(path = "pages/urgent_care.html")]
struct UrgentCarePage {
    shell: Shell,
    errors: FormErrors,
    waiting: Option<Waiting>,
    /// A clinician has taken the patient: their visit.
    ready_href: Option<String>,
    join: Option<JoinForm>,
}

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

fn patient_only(me: &SignedIn) -> Result<(), PageError> {
    if me.user.role == Role::Patient {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "Urgent care on demand is where patients wait for a clinician. Clinicians take patients from the Queue page."
                .into(),
        ))
    }
}

async fn urgent_care_page(
    state: &AppState,
    me: &SignedIn,
    entered: &FormData,
    errors: FormErrors,
    done: Option<&str>,
    status: StatusCode,
) -> PageResult {
    patient_only(me)?;
    let actor = &me.actor;
    let ctx = state.ctx();
    let shell = Shell::new(me, Section::UrgentCare).notice(match done {
        Some("left") => Some("You left the queue."),
        _ => None,
    });
    let place = queue::my_place(ctx, actor, None).await?;
    let mut waiting = None;
    let mut ready_href = None;
    if let Some(p) = &place {
        match p.entry.status {
            QueueStatus::Waiting => {
                let tz = super::appointment_view::Directory::load(state, actor)
                    .await?
                    .home_zone();
                waiting = Some(Waiting {
                    entry_id: p.entry.id.to_string(),
                    position: p.position,
                    ahead: match p.position - 1 {
                        0 => "You are next.".to_string(),
                        1 => "1 person is ahead of you.".to_string(),
                        n => format!("{n} people are ahead of you."),
                    },
                    wait: match p.estimated_wait_minutes {
                        Some(m) if m <= 1 => "About a minute".to_string(),
                        Some(m) => format!("About {}", when::minutes(m)),
                        None => format!(
                            "We cannot estimate it right now: no clinician licensed in {} is on duty yet. You keep your place.",
                            state_name(p.entry.patient_state.code())
                        ),
                    },
                    joined: when::when(p.entry.joined_at, &tz),
                });
            }
            QueueStatus::Taken => {
                if let Some(id) = p.entry.appointment_id {
                    let (a, _) = appointments::get(ctx, actor, id).await?;
                    if matches!(
                        a.status,
                        AppointmentStatus::CheckedIn | AppointmentStatus::InVisit
                    ) {
                        ready_href = Some(format!("/appointments/{id}"));
                    }
                }
            }
            QueueStatus::Left => {}
        }
    }
    let join = if waiting.is_none() && ready_href.is_none() {
        let own = actor.own_patient.ok_or(PageError::NotFound)?;
        let state_now = match entered.get("patient_state") {
            "" => patients::get(ctx, actor, own)
                .await?
                .address
                .state
                .code()
                .to_string(),
            entered => entered.to_string(),
        };
        Some(JoinForm {
            patient_state: Select::new(
                "patient_state",
                "State you are in right now",
                state_choices(),
                &state_now,
                None,
            )
            .hint("Only clinicians licensed in that state can see you.")
            .errors(&errors),
            reason: Field::new(
                "reason",
                "What do you need help with?",
                entered.get("reason"),
            )
            .kind("textarea")
            .optional()
            .hint("A few words for the clinician. If this is an emergency, call 911.")
            .errors(&errors),
            consent: consent_box(
                state,
                actor,
                own,
                accepted_version(entered).is_some(),
                &errors,
            )
            .await?,
        })
    } else {
        None
    };
    let page = UrgentCarePage {
        shell,
        errors,
        waiting,
        ready_href,
        join,
    };
    Ok(render(status, &page))
}

/// The join form, the waiting room, or the way into a visit once a clinician is ready.
pub async fn urgent_care(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    urgent_care_page(
        &state,
        &me,
        &FormData::default(),
        FormErrors::default(),
        params.done.as_deref(),
        StatusCode::OK,
    )
    .await
}

const JOIN_LABELS: [(&str, &str); 3] = [
    ("patient_state", "The state"),
    ("reason", "The reason"),
    ("service_line", "Urgent care"),
];

pub async fn join(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    patient_only(&me)?;
    let actor = &me.actor;
    let ctx = state.ctx();
    let own = actor.own_patient.ok_or(PageError::NotFound)?;
    // Agreeing is recorded on its own: it stands even if joining fails for another reason.
    if let Some(version) = accepted_version(&form) {
        let (doc, given) = consent::status(ctx, actor, own).await?;
        if doc.version == version && !given.iter().any(|c| c.version == version) {
            consent::give(ctx, actor, own, version).await?;
        }
    }
    let input = JoinQueueInput {
        patient_state: form.get("patient_state").to_string(),
        reason: form.optional("reason"),
        ..JoinQueueInput::default()
    };
    let errors = match queue::join(ctx, actor, &input).await {
        Ok(_) => return Ok(see_other("/urgent-care")),
        // Already waiting (another tab): the waiting room is where they belong.
        Err(DomainError::Conflict { .. }) => return Ok(see_other("/urgent-care")),
        Err(DomainError::ConsentRequired(_)) => {
            let mut errors = FormErrors::default();
            missing_consent(&mut errors, false);
            errors
        }
        Err(err) => FormErrors::from_domain(err, &JOIN_LABELS)?,
    };
    urgent_care_page(
        &state,
        &me,
        &form,
        errors,
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub async fn leave(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    patient_only(&me)?;
    let id: QueueEntryId = form
        .get("entry")
        .trim()
        .parse()
        .map_err(|_| PageError::NotFound)?;
    match queue::leave(state.ctx(), &me.actor, id).await {
        Ok(_) => Ok(see_other("/urgent-care?done=left")),
        // Taken by a clinician a moment ago: show them the way into the visit.
        Err(DomainError::Conflict { .. }) => Ok(see_other("/urgent-care")),
        Err(other) => Err(other.into()),
    }
}

pub struct WaitingRow {
    pub position: i64,
    pub state: String,
    pub service: &'static str,
    pub waited: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "pages/queue.html")]
struct QueuePage {
    shell: Shell,
    rows: Vec<WaitingRow>,
    can_take: bool,
    /// Why "Take next patient" gave no patient.
    problem: Option<String>,
}

/// Patients waiting now, oldest first, and the button that takes the next one.
pub async fn waiting(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let notice = match params.done.as_deref() {
        Some("empty") => Some("Nobody is waiting whom you can see (licensed in their state)."),
        _ => None,
    };
    Ok(ok(&queue_page(&state, &me, notice, None).await?))
}

async fn queue_page(
    state: &AppState,
    me: &SignedIn,
    notice: Option<&'static str>,
    problem: Option<String>,
) -> Result<QueuePage, PageError> {
    let actor = &me.actor;
    let places = queue::waiting(state.ctx(), actor).await?;
    let now = state.clock.now();
    let rows = places
        .iter()
        .map(|p| WaitingRow {
            position: p.position,
            state: p.entry.patient_state.code().to_string(),
            service: p.entry.service_line.label(),
            waited: when::minutes(now.duration_since(p.entry.joined_at).as_mins().max(0)),
            reason: p.entry.reason.clone().unwrap_or_default(),
        })
        .collect();
    Ok(QueuePage {
        shell: Shell::new(me, Section::Queue).notice(notice),
        rows,
        can_take: access::require(actor, Permission::TakeFromQueue).is_ok(),
        problem,
    })
}

/// Takes the longest-waiting patient the clinician may see, and opens the visit.
pub async fn take(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    match queue::take_next(state.ctx(), &me.actor, None).await {
        Ok(Some(a)) => Ok(see_other(&format!("/appointments/{}?done=taken", a.id))),
        Ok(None) => Ok(see_other("/queue?done=empty")),
        // Refused (a visit of their own at this time, no current certification...): the queue
        // again with the reason; nobody was taken, so the patient stays first in line.
        Err(err) if err.class().kind == ErrorKind::Refusal => {
            let status = status_of(&err);
            let problem = match err {
                DomainError::ClinicianBusy => "You already have a visit at this time. Finish or \
                     end it from your day's schedule, then take the next patient."
                    .to_string(),
                other => capitalise(&other.to_string()),
            };
            let page = queue_page(&state, &me, None, Some(problem)).await?;
            Ok(render(status, &page))
        }
        Err(err) => Err(err.into()),
    }
}
