//! Administration: users (site and organization administrators) and sites (organization administrators).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use domain::access;
use domain::identity::service::org::{self, SiteInput};
use domain::identity::service::user_admin;
use domain::identity::service::users::{self, LicenseInput, UserInput};
use domain::identity::{Role, Site, UsState};
use domain::ids::{SiteId, UserId};
use domain::{DomainError, Permission};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::form::{Checkboxes, Field, FormData, FormErrors, PageQuery, Select};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::patients::site_names;
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};

/// How many license rows the user form offers at least (an edit offers one more than the
/// clinician holds).
const LICENSE_ROWS: usize = 3;
/// License rows a form may send at most (one per state and territory).
const MAX_LICENSE_ROWS: usize = 60;

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
    /// The account's edit page, where the viewer may change it.
    pub edit: Option<String>,
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
    q: Field,
    role: Select,
    searched: bool,
    rows: Vec<UserRow>,
}

fn users_notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("created") => Some(
            "Account created. Staff set up their authenticator app the first time they sign in.",
        ),
        Some("updated") => Some("Account updated. Its sessions see the change at once."),
        Some("enabled") => Some("Account enabled."),
        Some("disabled") => Some("Account disabled. Its sessions end at their next request."),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub struct UsersParams {
    done: Option<String>,
    q: Option<String>,
    role: Option<String>,
}

pub async fn users(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<UsersParams>,
) -> PageResult {
    let actor = &me.actor;
    let q = params.q.clone().unwrap_or_default();
    let role_raw = params.role.clone().unwrap_or_default();
    // An unknown role in the address lists everyone rather than nobody.
    let role = Role::parse("role", &role_raw).ok();
    let found = user_admin::find(state.ctx(), actor, &q, role).await?;
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
                edit: user_admin::may_manage(actor, &u).then(|| format!("/admin/users/{}", u.id)),
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
        q: Field::new("q", "Name or email", q.clone()).optional(),
        role: Select::new(
            "role",
            "Role",
            Role::ALL.map(|r| (r.as_str().to_string(), r.label().to_string())),
            role.map_or("", Role::as_str),
            Some("Any role"),
        )
        .optional(),
        searched: !q.trim().is_empty() || role.is_some(),
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
pub(super) struct UserFormPage {
    shell: Shell,
    errors: FormErrors,
    form: UserForm,
    /// Set on the edit page: whose account, and where its forms post.
    pub(super) editing: Option<Editing>,
}

impl UserFormPage {
    pub(super) fn with_notice(self, notice: Option<&'static str>) -> Self {
        Self {
            shell: self.shell.notice(notice),
            ..self
        }
    }
}

/// The account an edit page is about.
pub struct Editing {
    pub name: String,
    pub email: String,
    pub action: String,
    pub second_factor_action: Option<String>,
    pub password_reset_action: String,
    /// A reset link to hand over when this server sends no email.
    pub reset_link: Option<String>,
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

pub(super) fn labels() -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = [
        ("email", "Email address"),
        ("display_name", "Full name"),
        ("role", "Role"),
        ("password", "Password"),
        ("site_ids", "Sites"),
        ("patient_id", "Patient record"),
        ("npi", "NPI"),
        ("specialties", "Specialties"),
        ("languages", "Languages"),
    ]
    .iter()
    .map(|(f, l)| (f.to_string(), l.to_string()))
    .collect();
    for i in 0..MAX_LICENSE_ROWS {
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

pub(super) async fn user_form_page(
    state: &AppState,
    me: &SignedIn,
    form: &FormData,
    errors: FormErrors,
    editing: Option<Editing>,
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
    let sent_rows = (0..MAX_LICENSE_ROWS)
        .filter(|i| !form.get(&format!("licenses[{i}].state")).is_empty())
        .max()
        .map_or(0, |i| i + 2);
    let licenses = (0..sent_rows.max(LICENSE_ROWS))
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
        patient_id: text("patient_id", "Patient record")
            .optional()
            .hint("Patient accounts only: the patient's name or MRN (or the record's id)."),
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
        editing,
    })
}

pub async fn new_user_form(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    access::require(&me.actor, Permission::ManageUsers)?;
    let page = user_form_page(
        &state,
        &me,
        &FormData::default(),
        FormErrors::default(),
        None,
    )
    .await?;
    Ok(ok(&page))
}

/// Builds the use case's input; `rows[k]` is the form row of the k-th license sent.
pub(super) fn user_input(form: &FormData) -> (UserInput, Vec<usize>) {
    let mut licenses = Vec::new();
    let mut rows = Vec::new();
    for i in 0..MAX_LICENSE_ROWS {
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
pub(super) fn to_form_field(err: DomainError, rows: &[usize]) -> DomainError {
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
            let errors = user_form_errors(err, &rows)?;
            let page = user_form_page(&state, &me, &form, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

/// A refusal of the user form as errors beside its fields.
pub(super) fn user_form_errors(err: DomainError, rows: &[usize]) -> Result<FormErrors, PageError> {
    let labels = labels();
    let refs: Vec<(&str, &str)> = labels
        .iter()
        .map(|(f, l)| (f.as_str(), l.as_str()))
        .collect();
    let err = match err {
        DomainError::InvalidFields(fields) => DomainError::InvalidFields(
            fields
                .into_iter()
                .map(
                    |f| match to_form_field(DomainError::Invalid(f.clone()), rows) {
                        DomainError::Invalid(f) => f,
                        _ => f,
                    },
                )
                .collect(),
        ),
        other => to_form_field(other, rows),
    };
    let mut errors = FormErrors::from_domain(err, &refs)?;
    // Checkbox errors name one box (`site_ids[1]`); the group shows them.
    for item in &mut errors.items {
        if item.field.starts_with("site_ids[") {
            item.target = "#f-site_ids".into();
        }
    }
    Ok(errors)
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
    pub edit: String,
}

#[derive(Template)]
#[template(path = "pages/sites.html")]
struct SitesPage {
    shell: Shell,
    rows: Vec<SiteRow>,
    errors: FormErrors,
    form: SiteForm,
}

/// A site's fields, on the add form and the edit page.
pub struct SiteForm {
    name: Field,
    state: Select,
    time_zone: Select,
}

#[derive(Template)]
#[template(path = "pages/site_edit.html")]
struct SiteEditPage {
    shell: Shell,
    errors: FormErrors,
    title: String,
    action: String,
    form: SiteForm,
}

/// The time zones of the United States and its territories, as offered in the site form (the
/// JSON API accepts any IANA name).
const TIME_ZONES: [(&str, &str); 9] = [
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Mountain, no daylight saving (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
    ("America/Puerto_Rico", "Atlantic (Puerto Rico)"),
    ("Pacific/Guam", "Chamorro (Guam)"),
];

const SITE_LABELS: [(&str, &str); 3] = [
    ("name", "Site name"),
    ("state", "State"),
    ("time_zone", "Time zone"),
];

fn site_form(form: &FormData, errors: &FormErrors) -> SiteForm {
    let current = form.get("time_zone");
    let mut zones: Vec<(String, String)> = TIME_ZONES
        .iter()
        .map(|(tz, label)| (tz.to_string(), format!("{label}, {tz}")))
        .collect();
    // A zone set through the API stays choosable.
    if !current.is_empty() && !zones.iter().any(|(tz, _)| tz == current) {
        zones.push((current.to_string(), current.to_string()));
    }
    SiteForm {
        name: Field::new("name", "Site name", form.get("name")).errors(errors),
        state: Select::new(
            "state",
            "State",
            UsState::all()
                .iter()
                .map(|s| (s.to_string(), s.to_string())),
            form.get("state"),
            Some("Choose…"),
        )
        .errors(errors),
        time_zone: Select::new("time_zone", "Time zone", zones, current, Some("Choose…"))
            .hint("Appointment times at this site are shown in this zone.")
            .errors(errors),
    }
}

fn site_input(form: &FormData) -> SiteInput {
    SiteInput {
        name: form.get("name").to_string(),
        state: form.get("state").to_string(),
        time_zone: form.get("time_zone").to_string(),
    }
}

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
        shell: Shell::new(me, Section::Sites).notice(match done {
            Some("created") => Some("Site added."),
            Some("updated") => Some("Site updated."),
            _ => None,
        }),
        rows: sites
            .into_iter()
            .map(|s| SiteRow {
                edit: format!("/admin/sites/{}", s.id),
                name: s.name,
                state: s.state.code().to_string(),
                time_zone: s.time_zone.as_str().to_string(),
            })
            .collect(),
        form: site_form(form, &errors),
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
    match org::create_site(state.ctx(), actor, actor.org()?, &site_input(&form)).await {
        Ok(_) => Ok(see_other("/admin/sites?done=created")),
        Err(err) => {
            let errors = FormErrors::from_domain(err, &SITE_LABELS)?;
            let page = sites_page(&state, &me, &form, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

async fn site_of(state: &AppState, me: &SignedIn, raw: &str) -> Result<Site, PageError> {
    access::require(&me.actor, Permission::ManageSites)?;
    let id: SiteId = raw.parse().map_err(|_| PageError::NotFound)?;
    org::list_sites(state.ctx(), &me.actor, me.actor.org()?)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(PageError::NotFound)
}

fn site_edit_page(me: &SignedIn, site: &Site, form: &FormData, errors: FormErrors) -> SiteEditPage {
    SiteEditPage {
        shell: Shell::new(me, Section::Sites),
        title: format!("Edit {}", site.name),
        action: format!("/admin/sites/{}", site.id),
        form: site_form(form, &errors),
        errors,
    }
}

pub async fn edit_site_form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let site = site_of(&state, &me, &raw).await?;
    let form = FormData::from_pairs(&[
        ("name", site.name.clone()),
        ("state", site.state.code().to_string()),
        ("time_zone", site.time_zone.as_str().to_string()),
    ]);
    Ok(ok(&site_edit_page(
        &me,
        &site,
        &form,
        FormErrors::default(),
    )))
}

pub async fn update_site(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let site = site_of(&state, &me, &raw).await?;
    match org::update_site(state.ctx(), &me.actor, site.id, &site_input(&form)).await {
        Ok(_) => Ok(see_other("/admin/sites?done=updated")),
        Err(err @ (DomainError::Invalid(_) | DomainError::InvalidFields(_))) => {
            let errors = FormErrors::from_domain(err, &SITE_LABELS)?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &site_edit_page(&me, &site, &form, errors),
            ))
        }
        Err(other) => Err(other.into()),
    }
}
