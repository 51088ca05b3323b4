//! Telehealth consent: the text and tick box shown wherever a patient must agree first, and the
//! organization administrator's page that publishes a new version.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use domain::compliance::{ConsentDocument, check_consent};
use domain::identity::Role;
use domain::ids::PatientId;
use domain::scheduling::service::consent;
use domain::{Actor, DomainError, Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Tick};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};
use super::when;

/// The consent text to read and the box to tick, when the patient has not agreed to this version.
pub struct ConsentBox {
    pub version: i64,
    pub paragraphs: Vec<String>,
    pub tick: Tick,
}

/// Paragraphs of a text, split at blank lines.
fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The consent box for `patient`, or `None` when they agreed to the current version already.
pub async fn consent_box(
    state: &AppState,
    actor: &Actor,
    patient: PatientId,
    ticked: bool,
    errors: &FormErrors,
) -> Result<Option<ConsentBox>, PageError> {
    let (doc, given) = match consent::status(state.ctx(), actor, patient).await {
        Ok(found) => found,
        // Staff outside the patient's care team cannot record consent for them; the step they
        // try is refused by the domain with its own message, so the page still shows.
        Err(DomainError::Forbidden { .. } | DomainError::BreakGlassRequired) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    if check_consent(&doc, &given).is_ok() {
        return Ok(None);
    }
    let label = if actor.role == Some(Role::Patient) {
        "I have read the telehealth consent and I agree to it"
    } else {
        "The patient has read or heard this consent and agrees to it (recorded in your name)"
    };
    Ok(Some(ConsentBox {
        version: doc.version,
        paragraphs: paragraphs(&doc.text),
        tick: Tick::new("consent_version", doc.version.to_string(), label, ticked).errors(errors),
    }))
}

/// The consent version a form accepted, if its box was ticked.
pub fn accepted_version(form: &FormData) -> Option<i64> {
    form.get("consent_version").trim().parse().ok()
}

/// A refusal for want of consent, as an error on the tick box.
pub fn missing_consent(errors: &mut FormErrors, staff: bool) {
    errors.field(
        "consent_version",
        if staff {
            "Tick the box once the patient agrees to the telehealth consent."
        } else {
            "Tick the box to agree to the telehealth consent, or choose an in-person visit."
        },
    );
}

/// The two pages of scheduling setup, as tabs.
pub fn setup_tabs(visit_types: bool) -> Vec<NavLink> {
    vec![
        NavLink {
            href: "/admin/visit-types",
            label: "Visit types",
            current: visit_types,
        },
        NavLink {
            href: "/admin/consent",
            label: "Telehealth consent",
            current: !visit_types,
        },
    ]
}

#[derive(Template)]
#[template(path = "pages/consent_admin.html")]
struct ConsentAdminPage {
    shell: Shell,
    version: i64,
    published: String,
    paragraphs: Vec<String>,
    errors: FormErrors,
    text: Field,
    tabs: Vec<NavLink>,
}

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

async fn admin_page(
    state: &AppState,
    me: &SignedIn,
    entered: Option<&str>,
    errors: FormErrors,
    done: Option<&str>,
) -> Result<ConsentAdminPage, PageError> {
    let actor = &me.actor;
    access::require(actor, Permission::ConfigureScheduling)?;
    let doc: ConsentDocument = consent::current(state.ctx(), actor.org()?).await?;
    let published = if doc.version == 1 && doc.published_at == jiff::Timestamp::UNIX_EPOCH {
        "Built in: your organization has not published its own text yet.".to_string()
    } else {
        when::when(doc.published_at, &jiff::tz::TimeZone::UTC)
    };
    Ok(ConsentAdminPage {
        shell: Shell::new(me, Section::SchedulingSetup).notice(
            (done == Some("published")).then_some(
                "New version published. Patients agree to it before their next virtual visit.",
            ),
        ),
        version: doc.version,
        published,
        paragraphs: paragraphs(&doc.text),
        tabs: setup_tabs(false),
        text: Field::new(
            "text",
            "Text of the next version",
            entered.unwrap_or(&doc.text),
        )
        .kind("textarea")
        .hint("Separate paragraphs with a blank line. At least 40 characters.")
        .errors(&errors),
        errors,
    })
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let page = admin_page(
        &state,
        &me,
        None,
        FormErrors::default(),
        params.done.as_deref(),
    )
    .await?;
    Ok(ok(&page))
}

pub async fn publish(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let text = form.get("text");
    match consent::publish(state.ctx(), &me.actor, text).await {
        Ok(_) => Ok(see_other("/admin/consent?done=published")),
        Err(err @ DomainError::Invalid(_)) => {
            let errors = FormErrors::from_domain(err, &[("text", "The consent text")])?;
            let page = admin_page(&state, &me, Some(text), errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}
