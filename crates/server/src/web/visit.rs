//! The live visit page (`/visits/{id}`) for its participants: the patient's waiting room, then the
//! call (video in `assets/visit.js`), and for the clinician the patient's location with the
//! emergency action, guests and ending the visit. Each action is a form that posts and
//! redirects; the page's script sends the same forms in the background so a call is not
//! interrupted.
//!
//! Without JavaScript the waiting room reloads itself and shows where the visit stands.

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use domain::DomainError;
use domain::identity::service::patients;
use domain::ids::{AppointmentId, InviteId};
use domain::visits::service::guests::{self, InviteInput};
use domain::visits::service::room::{self, Pass, Who};
use domain::visits::service::{alerts, call};
use domain::visits::{GuestRelation, Invite, ParticipantRole, VisitOutcome, VisitState};

use crate::auth::actor::{SessionState, SignedIn, session_state};
use crate::auth::secrets::{random_token, sha256_hex};
use crate::auth::sessions::{self, cookie_value};
use crate::signaling::connection::GUEST_COOKIE;
use crate::state::AppState;

use super::appointment_view::state_label;
use super::check_in_answers::CheckInAnswers;
use super::form::{Field, FormData, FormErrors, Outcome, PageQuery, Radios, Select};
use super::page::{PageError, PageResult, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::visit_link::{Linked, check_bound, linked};

/// Who opens a visit page: a signed-in person, the patient's browser holding the visit's join
/// link, or a guest's browser holding an invitation.
pub enum Viewer {
    Member(Box<SignedIn>),
    Linked(Box<Linked>),
    Guest(Box<Invite>),
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_state(parts, state).await {
            Ok(SessionState::Full(signed_in)) => return Ok(Self::Member(signed_in)),
            Ok(SessionState::Pending(..)) => return Err(see_other("/signin/code")),
            Ok(_) => {}
            Err(e) => return Err(PageError::from(e).into_response()),
        }
        if let Some(linked) = linked(parts, state).await? {
            return Ok(Self::Linked(Box::new(linked)));
        }
        if let Some(token) = cookie_value(&parts.headers, GUEST_COOKIE) {
            match guests::by_session(state.ctx(), &sha256_hex(&token)).await {
                Ok(Some(invite)) => return Ok(Self::Guest(Box::new(invite))),
                Ok(None) => {
                    return Err(PageError::Gone(
                        "This invitation has expired. Ask the person who invited you for a new link."
                            .into(),
                    )
                    .into_response());
                }
                Err(e) => return Err(PageError::from(e).into_response()),
            }
        }
        if sessions::token_from_headers(&parts.headers).is_some() {
            return Err(see_other("/signin?expired=1"));
        }
        Err(see_other("/signin"))
    }
}

impl Viewer {
    fn who(&self) -> Who {
        match self {
            Viewer::Member(me) => Who::Member(me.actor.clone()),
            Viewer::Linked(l) => Who::Member(l.actor.clone()),
            Viewer::Guest(invite) => Who::Guest(invite.as_ref().clone()),
        }
    }
}

/// Where a participant who is done with the visit goes next.
pub struct Over {
    pub title: &'static str,
    pub message: String,
    pub href: Option<String>,
    pub link: &'static str,
}

pub struct GuestRow {
    pub name: String,
    pub relation: &'static str,
    pub status: &'static str,
    pub admit_action: Option<String>,
}

pub struct ClinicianPanel {
    pub patient_name: String,
    pub location_state: String,
    pub location_text: String,
    pub flags: Vec<String>,
    /// What the patient told us at check-in.
    pub answers: Option<CheckInAnswers>,
    /// Shown while the patient waits.
    pub admit_action: Option<String>,
    pub emergency_action: String,
    pub reason: Field,
    pub end_action: String,
    pub outcome: Radios,
    pub record_href: String,
}

pub struct InviteForm {
    pub action: String,
    pub name: Field,
    pub relation: Select,
    pub email: Field,
}

/// The link just created for a guest, shown once.
pub struct NewLink {
    pub name: String,
    pub link: String,
    pub emailed: bool,
}

#[derive(Template)]
#[template(path = "pages/visit.html")]
struct VisitPage {
    /// The portal's frame; none for guests, who see only the call.
    shell: Option<Shell>,
    notice: Option<&'static str>,
    csrf: String,
    visit_id: String,
    role: &'static str,
    name: String,
    state: &'static str,
    admitted: bool,
    audio_only: bool,
    /// The waiting room's message.
    waiting_text: String,
    wait: String,
    over: Option<Over>,
    clinician: Option<ClinicianPanel>,
    guests: Vec<GuestRow>,
    invite: Option<InviteForm>,
    new_link: Option<NewLink>,
    errors: FormErrors,
    back_href: &'static str,
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "emergency" => "Emergency recorded. The site's staff have been alerted.",
        "guest_admitted" => "The guest is let in.",
        "admitted" => "The patient is let in.",
        "ended" => "The visit has ended.",
        _ => return None,
    })
}

fn parse_id(raw: &str) -> Result<AppointmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

fn wait_text(minutes: Option<i64>) -> String {
    match minutes {
        None => String::new(),
        Some(0) => "Any moment now.".into(),
        Some(1) => "About 1 minute.".into(),
        Some(m) => format!("About {m} minutes."),
    }
}

/// What the page shows for where a participant stands: what they are told, and where an ended
/// or cancelled visit leads.
fn over_for(pass: &Pass, member: bool) -> Option<Over> {
    let id = pass.visit.appointment_id;
    match pass.visit.state {
        VisitState::Cancelled => Some(Over {
            title: "This visit was cancelled",
            message: "This visit was cancelled, so the waiting room is closed. Your appointments page shows what happens next; book a new visit if you still need one.".into(),
            href: member.then(|| format!("/appointments/{id}")),
            link: "See the appointment",
        }),
        VisitState::Ended => Some(Over {
            title: "The visit has ended",
            message: "The visit has ended. Thank you.".into(),
            href: match (member, pass.role) {
                (true, ParticipantRole::Clinician) => Some(format!("/visits/{id}/record")),
                (true, _) => Some(format!("/appointments/{id}")),
                _ => None,
            },
            link: if pass.role == ParticipantRole::Clinician {
                "See the visit's record"
            } else {
                "Back to the appointment"
            },
        }),
        _ => None,
    }
}

fn guest_rows(
    invites: &[Invite],
    now: jiff::Timestamp,
    clinician: bool,
    id: AppointmentId,
) -> Vec<GuestRow> {
    invites
        .iter()
        .map(|i| {
            let status = i.status(now);
            GuestRow {
                name: i.name.clone(),
                relation: i.relation.label(),
                status: match status {
                    "admitted" => "In the call",
                    "waiting" => "Waiting to be let in",
                    "expired" => "Link expired",
                    _ => "Invited, not joined yet",
                },
                admit_action: (clinician && status == "waiting")
                    .then(|| format!("/visits/{id}/guests/{}/admit", i.id)),
            }
        })
        .collect()
}

pub struct Entered {
    pub reason: String,
    pub outcome: String,
    pub guest_name: String,
    pub relation: String,
    pub email: String,
}

impl Entered {
    pub(super) fn from_form(form: &FormData) -> Self {
        Self {
            reason: form.get("reason").into(),
            outcome: form.get("outcome").into(),
            guest_name: form.get("name").into(),
            relation: form.get("relation").into(),
            email: form.get("email").into(),
        }
    }

    fn blank() -> Self {
        Self::from_form(&FormData::default())
    }
}

async fn show_page(
    state: &AppState,
    viewer: &Viewer,
    id: AppointmentId,
    new_link: Option<NewLink>,
    outcome: Outcome<'_, Entered>,
) -> PageResult {
    let Outcome {
        entered,
        errors,
        done,
        status,
    } = outcome;
    let ctx = state.ctx();
    if let Viewer::Linked(l) = viewer {
        check_bound(l, id)?;
    }
    let who = viewer.who();
    let pass = room::join(ctx, &who, id).await?;
    let member = matches!(viewer, Viewer::Member(_));
    let now = state.clock.now();
    let v = &pass.visit;
    let clinician = pass.role == ParticipantRole::Clinician;
    let invites = match viewer {
        Viewer::Member(me) => guests::list(ctx, &me.actor, id).await?,
        Viewer::Linked(_) | Viewer::Guest(_) => Vec::new(),
    };
    let wait = if v.state == VisitState::Waiting {
        room::estimate_wait(ctx, v).await.ok()
    } else {
        None
    };
    let over = over_for(&pass, member);
    let panel = match viewer {
        Viewer::Member(me) if clinician => {
            let patient_name = patients::get(ctx, &me.actor, v.patient_id)
                .await
                .map_or_else(|_| "The patient".to_string(), |p| p.full_name());
            Some(ClinicianPanel {
                patient_name,
                location_state: state_label(v.location_state),
                location_text: v.location_text.clone(),
                flags: v.flags(),
                answers: CheckInAnswers::for_role(v, me.user.role),
                admit_action: (v.state == VisitState::Waiting)
                    .then(|| format!("/visits/{id}/admit")),
                emergency_action: format!("/visits/{id}/emergency"),
                reason: Field::new("reason", "What is happening?", entered.reason.clone())
                    .kind("textarea")
                    .hint("Recorded with the time and the patient's location; the site's staff are alerted at once.")
                    .errors(&errors),
                end_action: format!("/visits/{id}/end"),
                outcome: Radios::new(
                    "outcome",
                    "How did the visit end?",
                    [
                        ("completed", "Completed"),
                        ("patient_left", "The patient left"),
                        ("technical_failure", "Technical failure"),
                    ]
                    .map(|(v, l)| (v.to_string(), l.to_string())),
                    if entered.outcome.is_empty() {
                        "completed"
                    } else {
                        &entered.outcome
                    },
                )
                .errors(&errors),
                record_href: format!("/visits/{id}/record"),
            })
        }
        _ => None,
    };
    let invite = (member && pass.role != ParticipantRole::Guest && !v.state.is_over()).then(|| {
        InviteForm {
            action: format!("/visits/{id}/invites"),
            name: Field::new("name", "Guest's name", entered.guest_name.clone())
                .autocomplete("off")
                .errors(&errors),
            relation: Select::new(
                "relation",
                "Who are they?",
                GuestRelation::ALL
                    .iter()
                    .map(|r| (r.as_str().to_string(), r.label().to_string())),
                if entered.relation.is_empty() {
                    "interpreter"
                } else {
                    &entered.relation
                },
                None,
            )
            .errors(&errors),
            email: Field::new("email", "Their email", entered.email.clone())
                .kind("email")
                .optional()
                .hint("We email them the link. Without an email, you get the link to pass on yourself.")
                .errors(&errors),
        }
    });
    let (shell, csrf, back_href) = match viewer {
        Viewer::Member(me) => {
            let section = if clinician {
                Section::WaitingRoom
            } else {
                Section::MyAppointments
            };
            (
                Some(Shell::new(me, section)),
                me.session.csrf_token.clone(),
                if clinician {
                    "/waiting-room"
                } else {
                    "/appointments"
                },
            )
        }
        Viewer::Linked(l) => (None, l.csrf.clone(), ""),
        Viewer::Guest(_) => (None, String::new(), ""),
    };
    let waiting_text = match pass.role {
        ParticipantRole::Patient => {
            "You are checked in. The clinician will let you in: keep this page open, there is nothing to press.".to_string()
        }
        ParticipantRole::Guest => {
            "The clinician will let you into the call: keep this page open.".to_string()
        }
        ParticipantRole::Clinician => "The patient is in the waiting room.".to_string(),
    };
    let page = VisitPage {
        shell,
        notice: notice(done),
        csrf,
        visit_id: id.to_string(),
        role: pass.role.as_str(),
        name: pass.name.clone(),
        state: v.state.as_str(),
        admitted: pass.admitted,
        audio_only: v.audio_only,
        waiting_text,
        wait: wait_text(wait),
        over,
        clinician: panel,
        guests: if member {
            guest_rows(&invites, now, clinician, id)
        } else {
            Vec::new()
        },
        invite,
        new_link,
        errors,
        back_href,
    };
    Ok(render(status, &page))
}

/// `GET /visits/{id}`: the waiting room and the call.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<ShowParams>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let blank = Entered::blank();
    let outcome = Outcome::fresh(&blank, params.done.as_deref());
    show_page(&state, &viewer, id, None, outcome).await
}

const LABELS: [(&str, &str); 5] = [
    ("reason", "The reason"),
    ("outcome", "How the visit ended"),
    ("name", "The guest's name"),
    ("relation", "Who they are"),
    ("email", "Their email"),
];

/// A refused action shown on the visit page, with what was typed.
async fn refused(
    state: &AppState,
    me: SignedIn,
    id: AppointmentId,
    form: &FormData,
    err: DomainError,
) -> PageResult {
    let (errors, status) = FormErrors::refusal(err, &LABELS)?;
    let entered = Entered::from_form(form);
    let outcome = Outcome::refused(&entered, errors, status);
    show_page(state, &Viewer::Member(Box::new(me)), id, None, outcome).await
}

/// `POST /visits/{id}/admit`: the clinician lets the waiting patient in and goes to the call.
pub async fn admit(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    match call::admit(state.ctx(), &me.actor, id).await {
        Ok(_) => Ok(see_other(&format!("/visits/{id}"))),
        Err(err) => refused(&state, me, id, &form, err).await,
    }
}

/// `POST /visits/{id}/end`: the clinician ends the visit, saying how it ended.
pub async fn end(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let outcome = match VisitOutcome::parse("outcome", form.get("outcome")) {
        Ok(o) => o,
        Err(err) => return refused(&state, me, id, &form, err).await,
    };
    match call::end(state.ctx(), &me.actor, id, outcome).await {
        Ok(_) => Ok(see_other(&format!("/visits/{id}?done=ended"))),
        Err(err) => refused(&state, me, id, &form, err).await,
    }
}

/// `POST /visits/{id}/emergency`: records an emergency and alerts the site's staff.
pub async fn emergency(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    match alerts::raise_emergency(state.ctx(), &me.actor, id, form.get("reason")).await {
        Ok(_) => Ok(see_other(&format!("/visits/{id}?done=emergency"))),
        Err(err) => refused(&state, me, id, &form, err).await,
    }
}

/// `POST /visits/{id}/invites`: invites a guest. The link is shown on the page that answers (not
/// after a redirect): only its hash is kept, so it cannot be shown again.
pub async fn invite(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let token = random_token();
    let input = InviteInput {
        name: form.get("name").to_string(),
        relation: form.get("relation").to_string(),
        email: form.optional("email"),
    };
    let invite = match guests::invite(state.ctx(), &me.actor, id, &input, &sha256_hex(&token)).await
    {
        Ok(invite) => invite,
        Err(err) => return refused(&state, me, id, &form, err).await,
    };
    let link = format!("{}/join/{token}", state.config.public_base());
    let delivery = crate::api::visits::deliver_invite(&state, &invite, &link).await;
    let new_link = NewLink {
        name: invite.name.clone(),
        link,
        emailed: delivery == domain::visits::InviteDelivery::Emailed,
    };
    let blank = Entered::blank();
    let outcome = Outcome {
        status: StatusCode::CREATED,
        ..Outcome::fresh(&blank, None)
    };
    show_page(
        &state,
        &Viewer::Member(Box::new(me)),
        id,
        Some(new_link),
        outcome,
    )
    .await
}

/// `POST /visits/{id}/guests/{invite}/admit`: the clinician lets a guest into the call.
pub async fn admit_guest(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path((raw, raw_invite)): Path<(String, String)>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let invite: InviteId = raw_invite.parse().map_err(|_| PageError::NotFound)?;
    match guests::admit(state.ctx(), &me.actor, id, invite).await {
        Ok(_) => Ok(see_other(&format!("/visits/{id}?done=guest_admitted"))),
        Err(err) => refused(&state, me, id, &form, err).await,
    }
}

/// A "return to your visit" banner of the patient's portal: a visit waiting or in progress.
pub struct ReturnLink {
    pub href: String,
    pub title: &'static str,
    pub text: &'static str,
}

/// The signed-in patient's visits they can go back to (closing the tab or pressing Back never
/// ends one). Empty for everyone else.
pub async fn return_links(
    state: &AppState,
    actor: &domain::Actor,
) -> Result<Vec<ReturnLink>, PageError> {
    let open = domain::visits::service::record::open_for_patient(state.ctx(), actor).await?;
    Ok(open
        .iter()
        .map(|v| ReturnLink {
            href: format!("/visits/{}", v.appointment_id),
            title: if v.state == VisitState::Waiting {
                "You are checked in for a video visit"
            } else {
                "Your video visit is in progress"
            },
            text: if v.state == VisitState::Waiting {
                "The clinician will let you in from the waiting room."
            } else {
                "You left the call, but the visit goes on. You can go back to it now."
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_reads_as_a_sentence() {
        assert_eq!(wait_text(None), "");
        assert_eq!(wait_text(Some(0)), "Any moment now.");
        assert_eq!(wait_text(Some(1)), "About 1 minute.");
        assert_eq!(wait_text(Some(12)), "About 12 minutes.");
    }
}
