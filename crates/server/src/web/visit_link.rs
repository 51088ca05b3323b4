//! Patients' join links. Staff send one from an appointment (`/appointments/{id}/join-link`):
//! emailed, and shown once with a text message ready to send. The patient opens `/v/{token}`:
//! GET only shows a Continue button (mail scanners fetch links ahead of people); the POST uses
//! the link once, gives this browser a session bound to that visit, and leads to check-in, then
//! the waiting room. That session opens the visit's check-in and live pages and nothing else.

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use domain::access::Actor;
use domain::ids::AppointmentId;
use domain::scheduling::service::appointments;
use domain::visits::service::visit_link::{self, VisitLinkInput};
use domain::visits::{InviteDelivery, VisitLink};

use crate::auth::actor::{SessionState, SignedIn, client_ip, session_state};
use crate::auth::secrets::{random_token, sha256_hex};
use crate::mail::Email;
use crate::signaling::connection::VISIT_LINK_COOKIE;
use crate::state::AppState;

use super::appointment_view::Directory;
use super::form::{Field, FormData, FormErrors};
use super::page::{PageError, PageResult, ok, render, with_cookie};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

/// A browser holding an opened join link: the visit's patient, on that visit only.
pub struct Linked {
    pub link: VisitLink,
    pub actor: Actor,
    /// Derived from the session's own token (which only this browser holds), so nothing more is
    /// stored for it.
    pub csrf: String,
}

/// The join link session of a request: `None` without the cookie; the "link no longer works"
/// page when the cookie's session expired or a newer link replaced it.
pub async fn linked(parts: &Parts, state: &AppState) -> Result<Option<Linked>, Response> {
    let Some(token) = crate::auth::sessions::cookie_value(&parts.headers, VISIT_LINK_COOKIE) else {
        return Ok(None);
    };
    match visit_link::session_actor(state.ctx(), &sha256_hex(&token), client_ip(parts)).await {
        Ok(Some((link, actor))) => Ok(Some(Linked {
            link,
            actor,
            csrf: sha256_hex(&format!("csrf:{token}")),
        })),
        Ok(None) => Err(PageError::Gone(
            "This visit link has expired or was replaced by a newer one. Use the latest link the clinic sent you, or ask them for a new one."
                .into(),
        )
        .into_response()),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

/// Who may open a visit's check-in: a signed-in person, or the patient holding its join link.
pub enum Attendee {
    Member(Box<SignedIn>),
    Linked(Box<Linked>),
}

impl FromRequestParts<AppState> for Attendee {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Ok(SessionState::Full(signed_in)) = session_state(parts, state).await {
            return Ok(Self::Member(signed_in));
        }
        if let Some(linked) = linked(parts, state).await? {
            return Ok(Self::Linked(Box::new(linked)));
        }
        // No session of either kind: the signed-in pages' answer (sign in, or the next step).
        let PageUser(me) = PageUser::from_request_parts(parts, state).await?;
        Ok(Self::Member(Box::new(me)))
    }
}

impl Attendee {
    pub fn actor(&self) -> &Actor {
        match self {
            Self::Member(me) => &me.actor,
            Self::Linked(l) => &l.actor,
        }
    }

    pub fn csrf(&self) -> &str {
        match self {
            Self::Member(me) => &me.session.csrf_token,
            Self::Linked(l) => &l.csrf,
        }
    }

    /// Staff acting for the patient (the pages then speak of "the patient").
    pub fn staff(&self) -> bool {
        match self {
            Self::Member(me) => me.user.role != domain::identity::Role::Patient,
            Self::Linked(_) => false,
        }
    }

    /// The portal's frame; none for a join link, which opens this visit only.
    pub fn shell(&self, section: Section) -> Option<Shell> {
        match self {
            Self::Member(me) => Some(Shell::new(me, section)),
            Self::Linked(_) => None,
        }
    }

    /// A join link's session works on its own visit only: any other answers a page saying so.
    pub fn check_visit(&self, id: AppointmentId) -> Result<(), PageError> {
        match self {
            Self::Member(_) => Ok(()),
            Self::Linked(l) => check_bound(l, id),
        }
    }
}

/// Refuses a join link's session on another visit than its own.
pub fn check_bound(linked: &Linked, id: AppointmentId) -> Result<(), PageError> {
    visit_link::bound_to(&linked.link, id).map_err(|_| {
        PageError::Forbidden(
            "Your visit link opens only the visit it was sent for. For another visit, use the link the clinic sent for it."
                .into(),
        )
    })
}

pub struct SentRow {
    pub when: String,
    pub how: &'static str,
    pub status: &'static str,
}

/// The link just made, shown once (only its hash is kept).
pub struct NewLink {
    pub link: String,
    /// A text message ready to send from the clinic's phone.
    pub sms: String,
    pub emailed_to: Option<String>,
    pub email_failed: bool,
}

#[derive(Template)]
#[template(path = "pages/visit_link.html")]
struct SendPage {
    shell: Shell,
    heading: String,
    when: String,
    clinician: String,
    back_href: String,
    errors: FormErrors,
    action: String,
    email: Field,
    sent: Vec<SentRow>,
    new_link: Option<NewLink>,
}

const LABELS: [(&str, &str); 1] = [("email", "The patient's email")];

fn parse_id(raw: &str) -> Result<AppointmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

async fn send_page(
    state: &AppState,
    me: &SignedIn,
    id: AppointmentId,
    email: &str,
    errors: FormErrors,
    new_link: Option<NewLink>,
    status: StatusCode,
) -> PageResult {
    let ctx = state.ctx();
    let (a, _) = appointments::get(ctx, &me.actor, id).await?;
    let links = visit_link::list(ctx, &me.actor, id).await?;
    let dir = Directory::load(state, &me.actor).await?;
    let tz = dir.zone(a.site_id);
    let now = state.clock.now();
    let sent = links
        .iter()
        .map(|l| SentRow {
            when: when::when(l.created_at, &tz),
            how: match (&l.email, l.delivery) {
                (_, InviteDelivery::EmailFailed) => "Email failed",
                (Some(_), _) => "Emailed",
                (None, _) => "Shown to send by text",
            },
            status: match l.status(now) {
                "replaced" => "Replaced by a newer link",
                "expired" => "Expired",
                "opened" => "Opened by the patient",
                _ => "Not opened yet",
            },
        })
        .collect();
    let page = SendPage {
        shell: Shell::new(me, Section::FrontDesk),
        heading: dir.visit_type_name(&a),
        when: when::when(a.start_at, &tz),
        clinician: dir.clinician_name(a.clinician_id),
        back_href: format!("/appointments/{id}"),
        errors: errors.clone(),
        action: format!("/appointments/{id}/join-link"),
        email: Field::new("email", "The patient's email", email)
            .kind("email")
            .autocomplete("off")
            .optional()
            .hint("We email the link there. Leave it empty to get the link and a text message to send to the patient's phone yourself.")
            .errors(&errors),
        sent,
        new_link,
    };
    Ok(render(status, &page))
}

/// `GET /appointments/{id}/join-link`: the form, and the links sent so far.
pub async fn form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    send_page(
        &state,
        &me,
        id,
        "",
        FormErrors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

/// `POST /appointments/{id}/join-link`: makes a new link (replacing earlier ones), emails it
/// when an address is given, and shows it once on the page that answers.
pub async fn send(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let ctx = state.ctx();
    let token = random_token();
    let input = VisitLinkInput {
        email: form.optional("email"),
    };
    let link = match visit_link::issue(ctx, &me.actor, id, &input, &sha256_hex(&token)).await {
        Ok(link) => link,
        Err(err @ domain::DomainError::Invalid(_)) => {
            let errors = FormErrors::from_domain(err, &LABELS)?;
            return send_page(
                &state,
                &me,
                id,
                form.get("email"),
                errors,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(err) => return Err(err.into()),
    };
    let url = format!("{}/v/{token}", state.config.public_base());
    let (a, _) = appointments::get(ctx, &me.actor, id).await?;
    let dir = Directory::load(&state, &me.actor).await?;
    let visit = format!(
        "with {} on {}",
        dir.clinician_name(a.clinician_id),
        when::when(a.start_at, &dir.zone(a.site_id))
    );
    let delivery = deliver(&state, &link, &url, &visit).await;
    let new_link = NewLink {
        sms: format!(
            "Your video visit {visit}: join here, no account or app needed (the link works once, on one device): {url}"
        ),
        link: url,
        emailed_to: (delivery == InviteDelivery::Emailed)
            .then(|| link.email.as_ref().map(|e| e.as_str().to_string()))
            .flatten(),
        email_failed: delivery == InviteDelivery::EmailFailed,
    };
    send_page(
        &state,
        &me,
        id,
        "",
        FormErrors::default(),
        Some(new_link),
        StatusCode::CREATED,
    )
    .await
}

/// Emails the link if an address was given (and mail is configured), and records how it went.
async fn deliver(state: &AppState, link: &VisitLink, url: &str, visit: &str) -> InviteDelivery {
    let (Some(to), Some(mailer)) = (&link.email, &state.mailer) else {
        return InviteDelivery::LinkShown;
    };
    let email = Email {
        to: to.as_str().to_string(),
        subject: "Your video visit: how to join".into(),
        text: format!(
            "Hello,\n\nYour video visit {visit} is ready for you to join. Open this link \
             shortly before it starts (it works once, on one device):\n\n{url}\n\n\
             No account and nothing to install: you say where you are, answer a few questions, \
             check your camera and microphone, and wait until the clinician lets you in.\n"
        ),
        calendar: None,
    };
    let delivery = match mailer.send(&email).await {
        Ok(()) => InviteDelivery::Emailed,
        Err(e) => {
            tracing::warn!(link = %link.id, error = %e, "join link email failed");
            InviteDelivery::EmailFailed
        }
    };
    if let Err(e) = visit_link::delivered(state.ctx(), link, delivery).await {
        tracing::warn!(link = %link.id, error = %e, "join link delivery not recorded");
    }
    delivery
}

#[derive(Template)]
#[template(path = "pages/visit_link_open.html")]
struct OpenPage {
    action: String,
}

/// Where a browser that already opened this very link goes back to (the patient closed the tab
/// and followed the link again): its visit, while the session holds.
async fn reopened(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    token: &str,
) -> Option<Response> {
    let session = crate::auth::sessions::cookie_value(headers, VISIT_LINK_COOKIE)?;
    let (link, _) = visit_link::session_actor(state.ctx(), &sha256_hex(&session), None)
        .await
        .ok()??;
    (link.token_hash == sha256_hex(token))
        .then(|| super::page::see_other(&format!("/visits/{}/check-in", link.appointment_id)))
}

/// `GET /v/{token}`: the Continue button. Nothing is used up, and nothing about the patient or
/// the visit is shown to whoever fetches the link.
pub async fn show(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    if let Some(back) = reopened(&state, &headers, &token).await {
        return Ok(back);
    }
    // A used, expired, replaced or finished link is `InviteUnusable`: the 410 page.
    visit_link::peek(state.ctx(), &sha256_hex(&token)).await?;
    Ok(ok(&OpenPage {
        action: format!("/v/{token}"),
    }))
}

/// `POST /v/{token}`: uses the link (once) and opens the visit's check-in in this browser.
pub async fn open(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> PageResult {
    if !super::join::from_our_page(&headers) {
        return Err(PageError::Csrf);
    }
    if let Some(back) = reopened(&state, &headers, &token).await {
        return Ok(back);
    }
    let session = random_token();
    let link = visit_link::open(state.ctx(), &sha256_hex(&token), &sha256_hex(&session)).await?;
    let cookie =
        crate::auth::sessions::visit_cookie(&state, VISIT_LINK_COOKIE, &session, link.expires_at);
    Ok(with_cookie(
        super::page::see_other(&format!("/visits/{}/check-in", link.appointment_id)),
        &cookie,
    ))
}
