//! The signed-in person's own account: a patient's contact details and language
//! (`/me/contact`), and changing one's password (`/me/password`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

use domain::DomainError;
use domain::identity::service::account::{self, ContactInput, LockoutPolicy};

use crate::auth::sessions;
use crate::state::AppState;

use super::appointment_view::{language_choices, state_choices};
use super::form::{Field, FormData, FormErrors, Select};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};

const CONTACT_LABELS: [(&str, &str); 8] = [
    ("email", "Email address"),
    ("phone", "Phone number"),
    ("address_line1", "Address line 1"),
    ("address_line2", "Address line 2"),
    ("city", "City"),
    ("state", "State"),
    ("postal_code", "ZIP code"),
    ("preferred_language", "Preferred language"),
];

fn label(name: &str) -> &'static str {
    CONTACT_LABELS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, l)| l)
}

#[derive(Template)]
#[template(path = "pages/me_contact.html")]
struct ContactPage {
    shell: Shell,
    errors: FormErrors,
    email: Field,
    phone: Field,
    address_line1: Field,
    address_line2: Field,
    city: Field,
    state: Select,
    postal_code: Field,
    preferred_language: Select,
}

impl ContactPage {
    fn new(shell: Shell, input: &ContactInput, errors: FormErrors) -> Self {
        let text = |name: &str, value: &str| Field::new(name, label(name), value).errors(&errors);
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        Self {
            shell,
            email: text("email", &opt(&input.email))
                .kind("email")
                .autocomplete("email")
                .optional()
                .hint("Where your clinic sends reminders and notices. Signing in still uses your account's address."),
            phone: text("phone", &opt(&input.phone))
                .kind("tel")
                .autocomplete("tel")
                .optional(),
            address_line1: text("address_line1", &input.address_line1)
                .autocomplete("address-line1"),
            address_line2: text("address_line2", &opt(&input.address_line2))
                .autocomplete("address-line2")
                .optional(),
            city: text("city", &input.city).autocomplete("address-level2"),
            state: Select::new(
                "state",
                label("state"),
                state_choices(),
                &input.state.trim().to_ascii_uppercase(),
                Some("Choose…"),
            )
            .errors(&errors),
            postal_code: text("postal_code", &input.postal_code)
                .inputmode("numeric")
                .autocomplete("postal-code")
                .hint("Five digits, or five plus four such as 10001-1234."),
            preferred_language: Select::new(
                "preferred_language",
                label("preferred_language"),
                language_choices(&input.preferred_language),
                &input.preferred_language.trim().to_ascii_lowercase(),
                None,
            )
            .hint("Visits with a clinician who speaks it are offered first; an interpreter can join otherwise.")
            .errors(&errors),
            errors,
        }
    }
}

pub(super) fn contact_from(form: &FormData) -> ContactInput {
    ContactInput {
        email: form.optional("email"),
        phone: form.optional("phone"),
        address_line1: form.get("address_line1").to_string(),
        address_line2: form.optional("address_line2"),
        city: form.get("city").to_string(),
        state: form.get("state").to_string(),
        postal_code: form.get("postal_code").to_string(),
        preferred_language: form.get("preferred_language").to_string(),
    }
}

/// The patient's contact form, filled with their record's details (an audited read).
pub async fn contact_form(State(state): State<AppState>, PageUser(me): PageUser) -> PageResult {
    let own = me.actor.own_patient.ok_or(PageError::NotFound)?;
    let patient = domain::identity::service::patients::get(state.ctx(), &me.actor, own).await?;
    let shell = Shell::new(&me, Section::Profile);
    Ok(ok(&ContactPage::new(
        shell,
        &ContactInput::of(&patient),
        FormErrors::default(),
    )))
}

pub async fn contact_submit(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    if me.actor.own_patient.is_none() {
        return Err(PageError::NotFound);
    }
    let input = contact_from(&form);
    match account::update_own_contact(state.ctx(), &me.actor, &input).await {
        Ok(_) => Ok(see_other("/me?done=contact")),
        Err(err @ DomainError::Invalid(_)) => {
            let errors = FormErrors::from_domain(err, &CONTACT_LABELS)?;
            let page = ContactPage::new(Shell::new(&me, Section::Profile), &input, errors);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "pages/me_password.html")]
struct PasswordPage {
    shell: Shell,
    errors: FormErrors,
    current_password: Field,
    new_password: Field,
    confirm_password: Field,
    staff: bool,
}

impl PasswordPage {
    fn new(me: &crate::auth::actor::SignedIn, errors: FormErrors) -> Self {
        let field = |name: &str, label: &str, autocomplete| {
            Field::new(name, label, "")
                .kind("password")
                .autocomplete(autocomplete)
                .errors(&errors)
        };
        Self {
            shell: Shell::new(me, Section::Profile),
            current_password: field("current_password", "Current password", "current-password"),
            new_password: field("new_password", "New password", "new-password")
                .hint("At least 12 characters. A few unrelated words make a good one."),
            confirm_password: field("confirm_password", "New password again", "new-password"),
            staff: me.user.role.is_staff(),
            errors,
        }
    }
}

const PASSWORD_LABELS: [(&str, &str); 3] = [
    ("current_password", "Current password"),
    ("new_password", "New password"),
    ("confirm_password", "New password again"),
];

pub async fn password_form(PageUser(me): PageUser) -> PageResult {
    Ok(ok(&PasswordPage::new(&me, FormErrors::default())))
}

pub async fn password_submit(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let refuse = |errors: FormErrors| {
        Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage::new(&me, errors),
        ))
    };
    if form.get("new_password") != form.get("confirm_password") {
        let mut errors = FormErrors::default();
        errors.field(
            "confirm_password",
            "The two new passwords are not the same.",
        );
        return refuse(errors);
    }
    let policy = LockoutPolicy {
        max_failed: state.config.max_failed_sign_ins,
        lockout_minutes: state.config.lockout_minutes,
    };
    let current = form.get("current_password").to_string();
    let new = form.get("new_password").to_string();
    let keep = me.session.token_hash.clone();
    let state2 = state.clone();
    let actor = me.actor.clone();
    // Argon2 is slow on purpose: off the async threads.
    let changed = tokio::task::spawn_blocking(move || {
        tokio::runtime::Handle::current().block_on(account::change_password(
            state2.ctx(),
            &state2,
            &actor,
            &current,
            &new,
            Some(&keep),
            policy,
        ))
    })
    .await
    .map_err(|_| PageError::Internal)?;
    match changed {
        Ok(()) => Ok(see_other("/me?done=password")),
        Err(err @ DomainError::Invalid(_)) => {
            refuse(FormErrors::from_domain(err, &PASSWORD_LABELS)?)
        }
        Err(DomainError::AccountLocked) => {
            // Too many wrong current passwords: the account is locked, this session too.
            sessions::end_hashed(&state, &me.session.token_hash).await?;
            Ok(see_other("/signin?locked=1"))
        }
        Err(other) => Err(other.into()),
    }
}
