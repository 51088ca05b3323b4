//! Visit types (organization administrators): what patients and staff can book.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use domain::ids::VisitTypeId;
use domain::scheduling::service::visit_types::{self, VisitTypeInput};
use domain::scheduling::{Modality, PatientKind, ServiceLine, VisitType};
use domain::{Permission, access};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::consent::setup_tabs;
use super::form::{Field, FormData, FormErrors, PageQuery, Select, Tick, choices};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{NavLink, Section, Shell};
use super::when;

pub struct VisitTypeRow {
    pub name: String,
    pub service_line: &'static str,
    pub modality: &'static str,
    pub patient_kind: &'static str,
    pub duration: String,
    pub bookable: &'static str,
    pub active: bool,
    pub edit_href: String,
}

pub struct VisitTypeForm {
    pub name: Field,
    pub service_line: Select,
    pub modality: Select,
    pub patient_kind: Select,
    pub duration_minutes: Field,
    pub patient_bookable: Tick,
    /// Only when changing one: retiring it keeps past appointments readable.
    pub active: Option<Tick>,
}

#[derive(Template)]
#[template(path = "pages/visit_types.html")]
struct VisitTypesPage {
    shell: Shell,
    tabs: Vec<NavLink>,
    rows: Vec<VisitTypeRow>,
    errors: FormErrors,
    form: VisitTypeForm,
}

#[derive(Template)]
#[template(path = "pages/visit_type_form.html")]
struct EditPage {
    shell: Shell,
    heading: String,
    action: String,
    errors: FormErrors,
    form: VisitTypeForm,
}

const LABELS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("service_line", "Service"),
    ("modality", "How patient and clinician meet"),
    ("patient_kind", "For whom"),
    ("duration_minutes", "Length"),
];

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

fn visit_type_form(entered: &FormData, editing: bool, errors: &FormErrors) -> VisitTypeForm {
    VisitTypeForm {
        name: Field::new("name", "Name", entered.get("name"))
            .hint("As patients see it, such as “Video follow-up”.")
            .errors(errors),
        service_line: Select::new(
            "service_line",
            "Service",
            choices(ServiceLine::ALL, ServiceLine::as_str, ServiceLine::label),
            entered.get("service_line"),
            Some("Choose…"),
        )
        .errors(errors),
        modality: Select::new(
            "modality",
            "How patient and clinician meet",
            choices(Modality::ALL, Modality::as_str, Modality::label),
            entered.get("modality"),
            Some("Choose…"),
        )
        .errors(errors),
        patient_kind: Select::new(
            "patient_kind",
            "For whom",
            choices(PatientKind::ALL, PatientKind::as_str, PatientKind::label),
            entered.get("patient_kind"),
            None,
        )
        .errors(errors),
        duration_minutes: Field::new(
            "duration_minutes",
            "Length in minutes",
            entered.get("duration_minutes"),
        )
        .kind("number")
        .inputmode("numeric")
        .hint("A multiple of 5, from 5 to 240.")
        .errors(errors),
        patient_bookable: Tick::new(
            "patient_bookable",
            "true",
            "Patients can book it themselves",
            entered.get("patient_bookable") == "true",
        ),
        active: editing.then(|| {
            Tick::new(
                "active",
                "true",
                "Offered for booking (untick to retire it; booked visits stay)",
                entered.get("active") == "true",
            )
        }),
    }
}

fn values_of(v: &VisitType) -> FormData {
    let flag = |b: bool| if b { "true" } else { "" }.to_string();
    FormData::from_pairs(&[
        ("name", v.name.clone()),
        ("service_line", v.service_line.as_str().to_string()),
        ("modality", v.modality.as_str().to_string()),
        ("patient_kind", v.patient_kind.as_str().to_string()),
        ("duration_minutes", v.duration_minutes.to_string()),
        ("patient_bookable", flag(v.patient_bookable)),
        ("active", flag(v.active)),
    ])
}

/// The use case's input; a length that is not a number is an error on its field.
pub(super) fn input_from(form: &FormData, editing: bool) -> Result<VisitTypeInput, FormErrors> {
    let duration_minutes = form.get("duration_minutes").trim().parse().map_err(|_| {
        let mut errors = FormErrors::default();
        errors.field(
            "duration_minutes",
            "Length must be a whole number of minutes, such as 20.",
        );
        errors
    })?;
    Ok(VisitTypeInput {
        name: form.get("name").to_string(),
        service_line: form.get("service_line").to_string(),
        modality: form.get("modality").to_string(),
        patient_kind: form.optional("patient_kind"),
        duration_minutes,
        patient_bookable: form.get("patient_bookable") == "true",
        active: editing.then(|| form.get("active") == "true"),
    })
}

async fn list_page(
    state: &AppState,
    me: &SignedIn,
    entered: &FormData,
    errors: FormErrors,
    done: Option<&str>,
) -> Result<VisitTypesPage, PageError> {
    let actor = &me.actor;
    access::require(actor, Permission::ConfigureScheduling)?;
    let mut all = visit_types::list(state.ctx(), actor).await?;
    all.sort_by(|a, b| (!a.active, &a.name).cmp(&(!b.active, &b.name)));
    let rows = all
        .iter()
        .map(|v| VisitTypeRow {
            name: v.name.clone(),
            service_line: v.service_line.label(),
            modality: v.modality.label(),
            patient_kind: v.patient_kind.label(),
            duration: when::minutes(v.duration_minutes),
            bookable: if v.patient_bookable {
                "Patients and staff"
            } else {
                "Staff only"
            },
            active: v.active,
            edit_href: format!("/admin/visit-types/{}", v.id),
        })
        .collect();
    Ok(VisitTypesPage {
        shell: Shell::new(me, Section::SchedulingSetup).notice(match done {
            Some("created") => Some("Visit type added."),
            Some("saved") => Some("Visit type saved."),
            _ => None,
        }),
        tabs: setup_tabs(true),
        rows,
        form: visit_type_form(entered, false, &errors),
        errors,
    })
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let blank = FormData::from_pairs(&[
        ("duration_minutes", "20".into()),
        ("patient_bookable", "true".into()),
    ]);
    let page = list_page(
        &state,
        &me,
        &blank,
        FormErrors::default(),
        params.done.as_deref(),
    )
    .await?;
    Ok(ok(&page))
}

pub async fn create(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let errors = match input_from(&form, false) {
        Ok(input) => match visit_types::create(state.ctx(), &me.actor, &input).await {
            Ok(_) => return Ok(see_other("/admin/visit-types?done=created")),
            Err(err) => FormErrors::from_domain(err, &LABELS)?,
        },
        Err(errors) => errors,
    };
    let page = list_page(&state, &me, &form, errors, None).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

fn parse_id(raw: &str) -> Result<VisitTypeId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

fn edit_page(
    me: &SignedIn,
    id: VisitTypeId,
    name: &str,
    entered: &FormData,
    errors: FormErrors,
) -> EditPage {
    EditPage {
        shell: Shell::new(me, Section::SchedulingSetup),
        heading: format!("Change “{name}”"),
        action: format!("/admin/visit-types/{id}"),
        form: visit_type_form(entered, true, &errors),
        errors,
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id = parse_id(&raw)?;
    access::require(&me.actor, Permission::ConfigureScheduling)?;
    let v = visit_types::get(state.ctx(), &me.actor, id).await?;
    let page = edit_page(&me, id, &v.name, &values_of(&v), FormErrors::default());
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
    let errors = match input_from(&form, true) {
        Ok(input) => match visit_types::update(state.ctx(), &me.actor, id, &input).await {
            Ok(_) => return Ok(see_other("/admin/visit-types?done=saved")),
            Err(err) => FormErrors::from_domain(err, &LABELS)?,
        },
        Err(errors) => errors,
    };
    let current = visit_types::get(state.ctx(), &me.actor, id).await?;
    let page = edit_page(&me, id, &current.name, &form, errors);
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
