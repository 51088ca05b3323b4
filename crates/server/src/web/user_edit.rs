//! An administrator edits someone's account (name, role, sites, clinician profile), sends them a
//! password reset link, or clears their authenticator.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use domain::identity::service::user_admin::{self, UserEdit};
use domain::identity::service::users;
use domain::identity::{ResetPolicy, User};
use domain::ids::UserId;
use domain::{DomainError, Permission, access};

use crate::auth::{actor::SignedIn, secrets};
use crate::state::AppState;

use super::admin::{Editing, UserFormPage, user_form_errors, user_form_page, user_input};
use super::form::{FormData, FormErrors, PageQuery};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::password_reset::{reset_link, send_reset_link};
use super::session::{PageUser, check_csrf};

fn parse_id(raw: &str) -> Result<UserId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

/// The account, if the viewer may change it.
async fn managed(state: &AppState, me: &SignedIn, id: UserId) -> Result<User, PageError> {
    access::require(&me.actor, Permission::ManageUsers)?;
    let user = users::get(state.ctx(), &me.actor, id).await?;
    if !user_admin::may_manage(&me.actor, &user) {
        return Err(DomainError::Forbidden {
            action: "change an account whose role is not below your own",
        }
        .into());
    }
    Ok(user)
}

/// The form as the account stands.
fn filled(user: &User) -> FormData {
    let mut pairs = vec![
        ("display_name".to_string(), user.display_name.clone()),
        ("role".to_string(), user.role.as_str().to_string()),
    ];
    pairs.extend(
        user.site_ids
            .iter()
            .map(|s| ("site_ids".to_string(), s.to_string())),
    );
    if let Some(c) = &user.clinician {
        pairs.push(("npi".into(), c.npi.clone()));
        pairs.push(("specialties".into(), c.specialties.join(", ")));
        pairs.push(("languages".into(), c.languages.join(", ")));
        for (i, l) in c.licenses.iter().enumerate() {
            pairs.push((format!("licenses[{i}].state"), l.state.to_string()));
            pairs.push((format!("licenses[{i}].number"), l.number.clone()));
            pairs.push((
                format!("licenses[{i}].expires_on"),
                l.expires_on.to_string(),
            ));
        }
    }
    FormData::from_owned(pairs)
}

fn editing(user: &User, reset_link: Option<String>) -> Editing {
    Editing {
        name: user.display_name.clone(),
        email: user.email.to_string(),
        action: format!("/admin/users/{}", user.id),
        second_factor_action: user
            .role
            .is_staff()
            .then(|| format!("/admin/users/{}/second-factor", user.id)),
        password_reset_action: format!("/admin/users/{}/password-reset", user.id),
        reset_link,
    }
}

/// The edit page of `user`, with `form`'s values, `errors` beside them and, when this server
/// sends no email, a reset link to hand over.
async fn edit_page(
    state: &AppState,
    me: &SignedIn,
    user: &User,
    form: &FormData,
    errors: FormErrors,
    reset_link: Option<String>,
) -> Result<UserFormPage, PageError> {
    user_form_page(state, me, form, errors, Some(editing(user, reset_link))).await
}

#[derive(Debug, serde::Deserialize)]
pub struct EditParams {
    done: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<EditParams>,
) -> PageResult {
    let user = managed(&state, &me, parse_id(&raw)?).await?;
    let page = edit_page(&state, &me, &user, &filled(&user), FormErrors::default(), None)
        .await?
        .with_notice(match params.done.as_deref() {
        Some("second-factor") => Some(
            "Authenticator cleared and every session ended. They set up a new one at their next sign-in.",
        ),
        Some("reset-sent") => Some("Reset link sent. It works once, for 30 minutes."),
        _ => None,
    });
    Ok(ok(&page))
}

pub async fn update(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let user = managed(&state, &me, parse_id(&raw)?).await?;
    let (input, rows) = user_input(&form);
    let edit = UserEdit {
        display_name: input.display_name,
        role: input.role,
        site_ids: input.site_ids,
        npi: input.npi,
        specialties: input.specialties,
        licenses: input.licenses,
        languages: input.languages,
    };
    match user_admin::update(state.ctx(), &me.actor, user.id, &edit).await {
        Ok(_) => Ok(see_other("/admin/users?done=updated")),
        Err(err @ (DomainError::Invalid(_) | DomainError::InvalidFields(_))) => {
            let errors = user_form_errors(err, &rows)?;
            let page = edit_page(&state, &me, &user, &form, errors, None).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn reset_second_factor(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let user = managed(&state, &me, parse_id(&raw)?).await?;
    user_admin::reset_second_factor(state.ctx(), &me.actor, user.id).await?;
    Ok(see_other(&format!(
        "/admin/users/{}?done=second-factor",
        user.id
    )))
}

pub async fn send_password_reset(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let user = managed(&state, &me, parse_id(&raw)?).await?;
    let token = secrets::random_token();
    let policy = ResetPolicy::default();
    let sent = user_admin::send_password_reset(
        state.ctx(),
        &me.actor,
        user.id,
        &secrets::sha256_hex(&token),
        policy,
    )
    .await;
    match sent {
        Ok(_) => {}
        Err(err @ DomainError::Invalid(_)) => {
            let mut errors = FormErrors::default();
            errors.form(err.to_string());
            let page = edit_page(&state, &me, &user, &filled(&user), errors, None).await?;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        Err(other) => return Err(other.into()),
    }
    if !send_reset_link(&state, &user, &token, policy) {
        // No email from this server: the administrator hands the link over.
        let link = reset_link(&state, &token);
        let page = edit_page(
            &state,
            &me,
            &user,
            &filled(&user),
            FormErrors::default(),
            Some(link),
        )
        .await?;
        return Ok(ok(&page));
    }
    Ok(see_other(&format!(
        "/admin/users/{}?done=reset-sent",
        user.id
    )))
}
