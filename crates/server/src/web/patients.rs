//! Patients: search, register, open (with emergency access when outside the care team), change.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use domain::access::{self, PatientAccess};
use domain::identity::service::org;
use domain::identity::service::patients::{self, PatientInput};
use domain::identity::{Patient, PatientQuery, Role, UsState};
use domain::ids::{PatientId, SiteId};
use domain::{DomainError, Permission};

use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Select};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};

const PAGE_SIZE: i64 = 50;

/// A patient as the profile pages show it.
pub struct PatientView {
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub sex: &'static str,
    pub email: String,
    pub phone: String,
    pub address_lines: Vec<String>,
    pub preferred_language: String,
    pub site: String,
}

fn sex_label(sex: &str) -> &'static str {
    match sex {
        "female" => "Female",
        "male" => "Male",
        "other" => "Other",
        _ => "Unknown",
    }
}

impl PatientView {
    pub fn new(p: &Patient, sites: &HashMap<SiteId, String>) -> Self {
        let a = &p.address;
        let mut address_lines = vec![a.line1.clone()];
        address_lines.extend(a.line2.clone());
        address_lines.push(format!("{}, {} {}", a.city, a.state.code(), a.postal_code));
        Self {
            name: p.full_name(),
            mrn: p.mrn.clone(),
            birth_date: p.birth_date.to_string(),
            sex: sex_label(p.sex.as_str()),
            email: p
                .email
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            phone: p.phone.clone().unwrap_or_default(),
            address_lines,
            preferred_language: super::appointment_view::language_name(&p.preferred_language),
            site: sites
                .get(&p.primary_site_id)
                .cloned()
                .unwrap_or_else(|| "Unknown site".into()),
        }
    }
}

/// One row of the search results.
pub struct PatientRow {
    pub href: String,
    pub name: String,
    pub mrn: String,
    pub birth_date: String,
    pub site: String,
}

#[derive(Template)]
#[template(path = "pages/patients.html")]
struct PatientsPage {
    shell: Shell,
    q: String,
    rows: Vec<PatientRow>,
    showing: String,
    prev_href: Option<String>,
    next_href: Option<String>,
    can_create: bool,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    offset: Option<i64>,
}

fn list_href(q: &str, offset: i64) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if !q.is_empty() {
        pairs.push(("q", q.to_string()));
    }
    if offset > 0 {
        pairs.push(("offset", offset.to_string()));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(query) if !query.is_empty() => format!("/patients?{query}"),
        _ => "/patients".into(),
    }
}

/// Search results, fifty to a page.
pub async fn list(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<ListParams>,
) -> PageResult {
    let actor = &me.actor;
    access::require(actor, Permission::ListPatients)?;
    let q = params.q.unwrap_or_default().trim().to_string();
    let offset = params.offset.unwrap_or(0).max(0);
    // One more than a page tells whether a next page exists.
    let query = PatientQuery {
        text: Some(q.clone()).filter(|t| !t.is_empty()),
        limit: PAGE_SIZE + 1,
        offset,
        ..PatientQuery::default()
    };
    let mut found = patients::list(state.ctx(), actor, query).await?;
    let more = found.len() as i64 > PAGE_SIZE;
    found.truncate(PAGE_SIZE as usize);
    let sites = site_names(&state, actor).await?;
    let showing = match found.len() {
        0 if q.is_empty() => "No patients yet.".to_string(),
        0 => format!("No patients match “{q}”."),
        n => format!(
            "Showing {} to {} {}",
            offset + 1,
            offset + n as i64,
            if q.is_empty() {
                String::new()
            } else {
                format!("matching “{q}”")
            }
        )
        .trim_end()
        .to_string(),
    };
    let rows = found
        .iter()
        .map(|p| PatientRow {
            href: format!("/patients/{}", p.id),
            name: format!("{}, {}", p.family_name, p.given_name),
            mrn: p.mrn.clone(),
            birth_date: p.birth_date.to_string(),
            site: sites.get(&p.primary_site_id).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(ok(&PatientsPage {
        shell: Shell::new(&me, Section::Patients),
        prev_href: (offset > 0).then(|| list_href(&q, (offset - PAGE_SIZE).max(0))),
        next_href: more.then(|| list_href(&q, offset + PAGE_SIZE)),
        q,
        rows,
        showing,
        can_create: access::require(actor, Permission::WritePatient).is_ok(),
    }))
}

const LABELS: [(&str, &str); 14] = [
    ("mrn", "Medical record number"),
    ("given_name", "Given name"),
    ("family_name", "Family name"),
    ("birth_date", "Date of birth"),
    ("sex", "Sex"),
    ("email", "Email address"),
    ("phone", "Phone number"),
    ("address_line1", "Address line 1"),
    ("address_line2", "Address line 2"),
    ("city", "City"),
    ("state", "State"),
    ("postal_code", "ZIP code"),
    ("preferred_language", "Preferred language"),
    ("primary_site_id", "Clinic"),
];

fn label(name: &str) -> &'static str {
    LABELS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, l)| l)
}

/// The patient form's fields, filled with what was entered (or stored) and any errors.
pub struct PatientForm {
    pub mrn: Field,
    pub given_name: Field,
    pub family_name: Field,
    pub birth_date: Field,
    pub sex: Select,
    pub email: Field,
    pub phone: Field,
    pub address_line1: Field,
    pub address_line2: Field,
    pub city: Field,
    pub state: Select,
    pub postal_code: Field,
    pub preferred_language: Field,
    pub primary_site_id: Select,
}

impl PatientForm {
    fn new(input: &PatientInput, sites: &[(String, String)], errors: &FormErrors) -> Self {
        let text = |name: &str, value: &str| Field::new(name, label(name), value).errors(errors);
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            mrn: text("mrn", &input.mrn).hint("Letters, digits and dashes, such as RH-001234."),
            given_name: text("given_name", &input.given_name).autocomplete("off"),
            family_name: text("family_name", &input.family_name),
            birth_date: text("birth_date", &input.birth_date)
                .kind("date")
                .hint("For example 1984-03-27."),
            sex: Select::new(
                "sex",
                label("sex"),
                ["female", "male", "other", "unknown"]
                    .map(|s| (s.to_string(), sex_label(s).to_string())),
                &input.sex,
                Some("Choose…"),
            )
            .errors(errors),
            email: text("email", &opt(&input.email)).kind("email").optional(),
            phone: text("phone", &opt(&input.phone)).kind("tel").optional(),
            address_line1: text("address_line1", &input.address_line1),
            address_line2: text("address_line2", &opt(&input.address_line2)).optional(),
            city: text("city", &input.city),
            state: Select::new(
                "state",
                label("state"),
                UsState::all()
                    .iter()
                    .map(|s| (s.to_string(), s.to_string())),
                &input.state.trim().to_ascii_uppercase(),
                Some("Choose…"),
            )
            .errors(errors),
            postal_code: text("postal_code", &input.postal_code)
                .inputmode("numeric")
                .hint("Five digits, or five plus four such as 10001-1234."),
            preferred_language: text("preferred_language", &input.preferred_language)
                .hint("A language tag such as en, es or zh."),
            primary_site_id: Select::new(
                "primary_site_id",
                label("primary_site_id"),
                sites.iter().cloned(),
                &input.primary_site_id,
                Some("Choose a clinic…"),
            )
            .hint("The clinic that cares for this patient.")
            .errors(errors),
        }
    }
}

pub(super) fn input_from(form: &FormData) -> PatientInput {
    let get = |name: &str| form.get(name).to_string();
    PatientInput {
        mrn: get("mrn"),
        given_name: get("given_name"),
        family_name: get("family_name"),
        birth_date: get("birth_date"),
        sex: get("sex"),
        email: form.optional("email"),
        phone: form.optional("phone"),
        address_line1: get("address_line1"),
        address_line2: form.optional("address_line2"),
        city: get("city"),
        state: get("state"),
        postal_code: get("postal_code"),
        preferred_language: get("preferred_language"),
        primary_site_id: get("primary_site_id"),
    }
}

fn input_of(p: &Patient) -> PatientInput {
    PatientInput {
        mrn: p.mrn.clone(),
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        birth_date: p.birth_date.to_string(),
        sex: p.sex.as_str().to_string(),
        email: p.email.as_ref().map(ToString::to_string),
        phone: p.phone.clone(),
        address_line1: p.address.line1.clone(),
        address_line2: p.address.line2.clone(),
        city: p.address.city.clone(),
        state: p.address.state.code().to_string(),
        postal_code: p.address.postal_code.clone(),
        preferred_language: p.preferred_language.clone(),
        primary_site_id: p.primary_site_id.to_string(),
    }
}

#[derive(Template)]
#[template(path = "pages/patient_form.html")]
struct PatientFormPage {
    shell: Shell,
    heading: String,
    action: String,
    cancel_href: String,
    submit_label: &'static str,
    errors: FormErrors,
    form: PatientForm,
}

/// The clinics a patient may be registered at: the actor's own, or all for organization-wide roles.
async fn site_choices(
    state: &AppState,
    actor: &domain::Actor,
) -> Result<Vec<(String, String)>, PageError> {
    let sites =
        domain::identity::service::org::list_sites(state.ctx(), actor, actor.org()?).await?;
    let everywhere = actor.role == Some(Role::OrgAdmin);
    Ok(sites
        .into_iter()
        .filter(|s| everywhere || actor.site_ids.contains(&s.id))
        .map(|s| (s.id.to_string(), format!("{} ({})", s.name, s.state.code())))
        .collect())
}

async fn new_page(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    input: &PatientInput,
    errors: FormErrors,
) -> Result<PatientFormPage, PageError> {
    let sites = site_choices(state, &me.actor).await?;
    Ok(PatientFormPage {
        shell: Shell::new(me, Section::Patients),
        heading: "Register a patient".into(),
        action: "/patients/new".into(),
        cancel_href: "/patients".into(),
        submit_label: "Register patient",
        form: PatientForm::new(input, &sites, &errors),
        errors,
    })
}

pub async fn new_form(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    access::require(&me.actor, Permission::WritePatient)?;
    let input = PatientInput {
        preferred_language: "en".into(),
        ..PatientInput::default()
    };
    let page = new_page(&state, &me, &input, FormErrors::default()).await?;
    Ok(ok(&page))
}

pub async fn create(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let actor = &me.actor;
    access::require(actor, Permission::WritePatient)?;
    let input = input_from(&form);
    match patients::create(state.ctx(), actor, actor.org()?, &input).await {
        Ok(patient) => Ok(see_other(&format!("/patients/{}?done=created", patient.id))),
        Err(err) => {
            let errors = FormErrors::from_domain(err, &LABELS)?;
            let page = new_page(&state, &me, &input, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

fn parse_id(raw: &str) -> Result<PatientId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

#[derive(Template)]
#[template(path = "pages/patient.html")]
struct PatientPage {
    shell: Shell,
    patient: PatientView,
    emergency: bool,
    edit_href: Option<String>,
    /// Staff who manage appointments book for the patient and see their visits.
    book_href: Option<String>,
    appointments_href: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/break_glass.html")]
struct BreakGlassPage {
    shell: Shell,
    action: String,
    errors: FormErrors,
    reason: Field,
}

impl BreakGlassPage {
    fn new(
        me: &crate::auth::actor::SignedIn,
        id: PatientId,
        reason: &str,
        errors: FormErrors,
    ) -> Self {
        Self {
            shell: Shell::new(me, Section::Patients),
            action: format!("/patients/{id}/break-glass"),
            reason: Field::new("reason", "Why do you need this record now?", reason)
                .kind("textarea")
                .hint("At least 10 characters. Your reason is recorded with your name and reviewed by an auditor.")
                .errors(&errors),
            errors,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ShowParams {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("created") => Some("Patient registered."),
        Some("saved") => Some("Changes saved."),
        _ => None,
    }
}

/// A patient's profile; outside the care team, the emergency access form instead.
pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<ShowParams>,
) -> PageResult {
    let id = parse_id(&raw)?;
    let actor = &me.actor;
    let (patient, how) = match patients::get_with_access(state.ctx(), actor, id).await {
        Ok(found) => found,
        Err(DomainError::BreakGlassRequired) => {
            let page = BreakGlassPage::new(&me, id, "", FormErrors::default());
            return Ok(render(StatusCode::FORBIDDEN, &page));
        }
        Err(other) => return Err(other.into()),
    };
    // This read went through emergency access (and was flagged): the page says so.
    let emergency = how == PatientAccess::BreakGlass;
    let sites = site_names(&state, actor).await?;
    let can_edit =
        me.user.role != Role::Patient && access::require(actor, Permission::WritePatient).is_ok();
    let can_book = me.user.role != Role::Patient
        && access::require(actor, Permission::ManageAppointments).is_ok();
    Ok(ok(&PatientPage {
        shell: Shell::new(&me, Section::Patients).notice(notice(params.done.as_deref())),
        patient: PatientView::new(&patient, &sites),
        emergency,
        edit_href: can_edit.then(|| format!("/patients/{id}/edit")),
        book_href: can_book.then(|| format!("/book?patient={id}")),
        appointments_href: can_book.then(|| format!("/appointments?patient={id}")),
    }))
}

/// Requests emergency access with a reason, then returns to the record.
pub async fn break_glass(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let reason = form.get("reason");
    match patients::break_glass(state.ctx(), &me.actor, id, reason).await {
        Ok(_) => Ok(see_other(&format!("/patients/{id}"))),
        Err(DomainError::Invalid(f)) if f.field == "reason" => {
            let mut errors = FormErrors::default();
            errors.field(
                "reason",
                format!("Your reason {}.", f.message.trim_end_matches('.')),
            );
            let page = BreakGlassPage::new(&me, id, reason, errors);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}

async fn edit_page(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    id: PatientId,
    input: &PatientInput,
    errors: FormErrors,
) -> Result<PatientFormPage, PageError> {
    let sites =
        domain::identity::service::org::list_sites(state.ctx(), &me.actor, me.actor.org()?).await?;
    let choices: Vec<(String, String)> = sites
        .into_iter()
        .map(|s| (s.id.to_string(), format!("{} ({})", s.name, s.state.code())))
        .collect();
    Ok(PatientFormPage {
        shell: Shell::new(me, Section::Patients),
        heading: format!("Change {} {}", input.given_name, input.family_name),
        action: format!("/patients/{id}/edit"),
        cancel_href: format!("/patients/{id}"),
        submit_label: "Save changes",
        form: PatientForm::new(input, &choices, &errors),
        errors,
    })
}

pub async fn edit_form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    if me.user.role == Role::Patient {
        return Err(PageError::NotFound);
    }
    access::require(&me.actor, Permission::WritePatient)?;
    let patient = match patients::get(state.ctx(), &me.actor, id).await {
        Ok(patient) => patient,
        Err(DomainError::BreakGlassRequired) => {
            return Ok(see_other(&format!("/patients/{id}")));
        }
        Err(other) => return Err(other.into()),
    };
    let page = edit_page(&state, &me, id, &input_of(&patient), FormErrors::default()).await?;
    Ok(ok(&page))
}

pub async fn update(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_id(&raw)?;
    let input = input_from(&form);
    match patients::update(state.ctx(), &me.actor, id, &input).await {
        Ok(_) => Ok(see_other(&format!("/patients/{id}?done=saved"))),
        Err(err @ (DomainError::Invalid(_) | DomainError::Conflict { .. })) => {
            let errors = FormErrors::from_domain(err, &LABELS)?;
            let page = edit_page(&state, &me, id, &input, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}

/// Site names of the actor's organization, by id.
pub async fn site_names(
    state: &AppState,
    actor: &domain::Actor,
) -> Result<HashMap<SiteId, String>, PageError> {
    let sites = org::list_sites(state.ctx(), actor, actor.org()?).await?;
    Ok(sites.into_iter().map(|s| (s.id, s.name)).collect())
}
