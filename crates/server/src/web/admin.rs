//! Administration: users (site and organization administrators) and sites (organization administrators).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use domain::access;
use domain::identity::service::org::{self, SiteInput};
use domain::identity::service::users::{self, LicenseInput, UserInput};
use domain::identity::{Role, UsState};
use domain::ids::UserId;
use domain::{DomainError, Permission};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Checkboxes, Field, FormData, FormErrors, PageQuery, Select};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::patients::site_names;
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};

/// How many license rows the new-user form offers.
const LICENSE_ROWS: usize = 3;

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

/// A button that turns an account off or on again.
pub struct Toggle {
    pub action: String,
    pub value: &'static str,
    pub label: &'static str,
}

pub struct UserRow {
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub sites: String,
    pub status: &'static str,
    pub active: bool,
    pub toggle: Option<Toggle>,
}

#[derive(Template)]
#[template(path = "pages/users.html")]
struct UsersPage {
    shell: Shell,
    rows: Vec<UserRow>,
}

fn users_notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("created") => Some(
            "Account created. Staff set up their authenticator app the first time they sign in.",
        ),
        Some("enabled") => Some("Account enabled."),
        Some("disabled") => Some("Account disabled. Its sessions end at their next request."),
        _ => None,
    }
}

pub async fn users(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let actor = &me.actor;
    let found = users::list(state.ctx(), actor, None).await?;
    let names = site_names(&state, actor).await?;
    let rows = found
        .into_iter()
        .map(|u| {
            let toggle = (u.id != me.user.id).then(|| Toggle {
                action: format!("/admin/users/{}/active", u.id),
                value: if u.active { "false" } else { "true" },
                label: if u.active { "Disable" } else { "Enable" },
            });
            UserRow {
                sites: u
                    .site_ids
                    .iter()
                    .filter_map(|id| names.get(id).cloned())
                    .collect::<Vec<_>>()
                    .join(", "),
                name: u.display_name,
                email: u.email.to_string(),
                role: u.role.label(),
                status: if u.active { "Active" } else { "Disabled" },
                active: u.active,
                toggle,
            }
        })
        .collect();
    Ok(ok(&UsersPage {
        shell: Shell::new(&me, Section::Users).notice(users_notice(params.done.as_deref())),
        rows,
    }))
}

/// One row of state licenses on the new-user form.
pub struct LicenseRow {
    pub number: usize,
    pub state: Select,
    pub license: Field,
    pub expires_on: Field,
}

pub struct UserForm {
    pub email: Field,
    pub display_name: Field,
    pub role: Select,
    pub password: Field,
    pub sites: Checkboxes,
    pub patient_id: Field,
    pub npi: Field,
    pub specialties: Field,
    pub languages: Field,
    pub licenses: Vec<LicenseRow>,
}

#[derive(Template)]
#[template(path = "pages/user_form.html")]
struct UserFormPage {
    shell: Shell,
    errors: FormErrors,
    form: UserForm,
}

/// The roles an administrator may hand out; the domain refuses anything else anyway.
fn assignable_roles(actor_role: Option<Role>) -> Vec<(String, String)> {
    Role::ALL
        .into_iter()
        .filter(|r| {
            actor_role != Some(Role::SiteAdmin)
                || !matches!(r, Role::OrgAdmin | Role::Auditor | Role::ProgramManager)
        })
        .map(|r| (r.as_str().to_string(), r.label().to_string()))
        .collect()
}

fn labels() -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = [
        ("email", "Email address"),
        ("display_name", "Full name"),
        ("role", "Role"),
        ("password", "Password"),
        ("site_ids", "Sites"),
        ("patient_id", "Patient record id"),
        ("npi", "NPI"),
        ("specialties", "Specialties"),
        ("languages", "Languages"),
    ]
    .iter()
    .map(|(f, l)| (f.to_string(), l.to_string()))
    .collect();
    for i in 0..LICENSE_ROWS {
        let n = i + 1;
        labels.push((format!("licenses[{i}].state"), format!("License {n} state")));
        labels.push((
            format!("licenses[{i}].number"),
            format!("License {n} number"),
        ));
        labels.push((
            format!("licenses[{i}].expires_on"),
            format!("License {n} expiry date"),
        ));
    }
    labels
}

async fn user_form_page(
    state: &AppState,
    me: &SignedIn,
    form: &FormData,
    errors: FormErrors,
) -> Result<UserFormPage, PageError> {
    let actor = &me.actor;
    let sites = org::list_sites(state.ctx(), actor, actor.org()?).await?;
    let site_choices = sites
        .into_iter()
        .filter(|s| actor.role != Some(Role::SiteAdmin) || actor.site_ids.contains(&s.id))
        .map(|s| (s.id.to_string(), format!("{} ({})", s.name, s.state.code())));
    let states = || {
        UsState::all()
            .iter()
            .map(|s| (s.to_string(), s.to_string()))
    };
    let text = |name: &str, label: &str| Field::new(name, label, form.get(name)).errors(&errors);
    let licenses = (0..LICENSE_ROWS)
        .map(|i| {
            let n = i + 1;
            let state_name = format!("licenses[{i}].state");
            let number_name = format!("licenses[{i}].number");
            let expiry_name = format!("licenses[{i}].expires_on");
            LicenseRow {
                number: n,
                state: Select::new(
                    &state_name,
                    &format!("License {n} state"),
                    states(),
                    form.get(&state_name),
                    Some("None"),
                )
                .optional()
                .errors(&errors),
                license: text(&number_name, &format!("License {n} number")).optional(),
                expires_on: text(&expiry_name, &format!("License {n} expiry date"))
                    .kind("date")
                    .optional(),
            }
        })
        .collect();
    let user_form = UserForm {
        email: text("email", "Email address")
            .kind("email")
            .hint("They sign in with this address."),
        display_name: text("display_name", "Full name")
            .hint("As colleagues and patients should see it, such as Dr. Maya Adams."),
        role: Select::new(
            "role",
            "Role",
            assignable_roles(actor.role),
            form.get("role"),
            Some("Choose a role…"),
        )
        .errors(&errors),
        password: Field::new("password", "Initial password", "")
            .kind("password")
            .autocomplete("new-password")
            .hint("At least 12 characters. Share it with the person securely.")
            .errors(&errors),
        sites: Checkboxes::new("site_ids", "Sites", site_choices, &form.all("site_ids"))
            .hint("Staff see the patients of these sites.")
            .errors(&errors),
        patient_id: text("patient_id", "Patient record id")
            .optional()
            .hint("Patient accounts only: the id shown in the address of the patient's page."),
        npi: text("npi", "NPI")
            .optional()
            .inputmode("numeric")
            .hint("Clinicians only: the 10-digit National Provider Identifier."),
        specialties: text("specialties", "Specialties")
            .optional()
            .hint("Clinicians only. Separate several with commas."),
        languages: text("languages", "Languages").optional().hint(
            "Clinicians only: languages they hold visits in, such as en, es. English when empty.",
        ),
        licenses,
    };
    Ok(UserFormPage {
        shell: Shell::new(me, Section::Users),
        errors,
        form: user_form,
    })
}

pub async fn new_user_form(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    access::require(&me.actor, Permission::ManageUsers)?;
    let page = user_form_page(&state, &me, &FormData::default(), FormErrors::default()).await?;
    Ok(ok(&page))
}

/// Builds the use case's input; `rows[k]` is the form row of the k-th license sent.
pub(super) fn user_input(form: &FormData) -> (UserInput, Vec<usize>) {
    let mut licenses = Vec::new();
    let mut rows = Vec::new();
    for i in 0..LICENSE_ROWS {
        let license = LicenseInput {
            state: form.get(&format!("licenses[{i}].state")).to_string(),
            number: form.get(&format!("licenses[{i}].number")).to_string(),
            expires_on: form.get(&format!("licenses[{i}].expires_on")).to_string(),
        };
        let blank = [&license.state, &license.number, &license.expires_on]
            .iter()
            .all(|v| v.trim().is_empty());
        if !blank {
            licenses.push(license);
            rows.push(i);
        }
    }
    let input = UserInput {
        email: form.get("email").to_string(),
        display_name: form.get("display_name").to_string(),
        role: form.get("role").to_string(),
        password: form.get("password").to_string(),
        site_ids: form.all("site_ids"),
        patient_id: form.optional("patient_id"),
        npi: form.optional("npi"),
        specialties: form
            .get("specialties")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        licenses,
        languages: form
            .get("languages")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    };
    (input, rows)
}

/// Points an error about the k-th license sent, or the k-th specialty, at the form field it came from.
fn to_form_field(err: DomainError, rows: &[usize]) -> DomainError {
    let DomainError::Invalid(mut f) = err else {
        return err;
    };
    if f.field.starts_with("specialties[") {
        f.field = "specialties".into();
    } else if f.field.starts_with("languages[") {
        f.field = "languages".into();
    } else if let Some(rest) = f.field.strip_prefix("licenses[")
        && let Some((k, tail)) = rest.split_once(']')
        && let Some(row) = k.parse::<usize>().ok().and_then(|k| rows.get(k))
    {
        f.field = format!("licenses[{row}]{tail}");
    }
    DomainError::Invalid(f)
}

pub async fn create_user(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let actor = &me.actor;
    access::require(actor, Permission::ManageUsers)?;
    let (input, rows) = user_input(&form);
    let created = users::create(state.ctx(), &state, actor, actor.org()?, &input, false).await;
    match created {
        Ok(_) => Ok(see_other("/admin/users?done=created")),
        Err(err) => {
            let labels = labels();
            let refs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(f, l)| (f.as_str(), l.as_str()))
                .collect();
            let mut errors = FormErrors::from_domain(to_form_field(err, &rows), &refs)?;
            // Checkbox errors name one box (`site_ids[1]`); the group shows them.
            for item in &mut errors.items {
                if item.field.starts_with("site_ids[") {
                    item.target = "#f-site_ids".into();
                }
            }
            let page = user_form_page(&state, &me, &form, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub async fn set_active(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: UserId = raw.parse().map_err(|_| PageError::NotFound)?;
    let active = form.get("active") == "true";
    users::set_active(state.ctx(), &me.actor, id, active).await?;
    Ok(see_other(if active {
        "/admin/users?done=enabled"
    } else {
        "/admin/users?done=disabled"
    }))
}

pub struct SiteRow {
    pub name: String,
    pub state: String,
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "pages/sites.html")]
struct SitesPage {
    shell: Shell,
    rows: Vec<SiteRow>,
    errors: FormErrors,
    name: Field,
    state: Select,
    time_zone: Field,
    time_zones: [&'static str; 9],
}

/// Common US time zones, offered as suggestions (any IANA name is accepted).
const TIME_ZONES: [&str; 9] = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "Pacific/Guam",
];

const SITE_LABELS: [(&str, &str); 3] = [
    ("name", "Site name"),
    ("state", "State"),
    ("time_zone", "Time zone"),
];

async fn sites_page(
    state: &AppState,
    me: &SignedIn,
    form: &FormData,
    errors: FormErrors,
    done: Option<&str>,
) -> Result<SitesPage, PageError> {
    let actor = &me.actor;
    let sites = org::list_sites(state.ctx(), actor, actor.org()?).await?;
    Ok(SitesPage {
        shell: Shell::new(me, Section::Sites)
            .notice((done == Some("created")).then_some("Site added.")),
        rows: sites
            .into_iter()
            .map(|s| SiteRow {
                name: s.name,
                state: s.state.code().to_string(),
                time_zone: s.time_zone.as_str().to_string(),
            })
            .collect(),
        name: Field::new("name", "Site name", form.get("name")).errors(&errors),
        state: Select::new(
            "state",
            "State",
            UsState::all()
                .iter()
                .map(|s| (s.to_string(), s.to_string())),
            form.get("state"),
            Some("Choose…"),
        )
        .errors(&errors),
        time_zone: Field::new("time_zone", "Time zone", form.get("time_zone"))
            .hint("An IANA time zone name such as America/New_York.")
            .datalist("time-zones")
            .errors(&errors),
        time_zones: TIME_ZONES,
        errors,
    })
}

pub async fn sites(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    access::require(&me.actor, Permission::ManageSites)?;
    let page = sites_page(
        &state,
        &me,
        &FormData::default(),
        FormErrors::default(),
        params.done.as_deref(),
    )
    .await?;
    Ok(ok(&page))
}

pub async fn create_site(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let actor = &me.actor;
    access::require(actor, Permission::ManageSites)?;
    let input = SiteInput {
        name: form.get("name").to_string(),
        state: form.get("state").to_string(),
        time_zone: form.get("time_zone").to_string(),
    };
    match org::create_site(state.ctx(), actor, actor.org()?, &input).await {
        Ok(_) => Ok(see_other("/admin/sites?done=created")),
        Err(err) => {
            let errors = FormErrors::from_domain(err, &SITE_LABELS)?;
            let page = sites_page(&state, &me, &form, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}
