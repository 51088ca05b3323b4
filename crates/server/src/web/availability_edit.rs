//! The forms that change a clinician's availability: weekly hours added and ended, leave and
//! extra hours added. Each posts and redirects back to the availability page, or shows it again
//! with the refusal beside the field.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use domain::ids::{TemplateId, UserId};
use domain::scheduling::ExceptionKind;
use domain::scheduling::availability::TemplateInput;
use domain::scheduling::service::availability::{self, ExceptionInput};
use domain::{DomainError, FieldError};

use crate::state::AppState;

use super::availability::{EXCEPTION_LABELS, HOURS_LABELS, availability_page, defaults};
use super::form::{FormData, FormErrors, Outcome};
use super::page::{PageError, PageResult, href, see_other};
use super::session::{PageUser, check_csrf};
use super::when;

/// A whole number of minutes from a form, or an error on that field.
pub(super) fn minutes_field(
    form: &FormData,
    name: &str,
    label: &str,
    errors: &mut FormErrors,
) -> i64 {
    match form.get(name).trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            errors.field(name, format!("{label} must be a whole number of minutes."));
            0
        }
    }
}

/// Points a use case's error about a field at the form field that carries it.
fn renamed(err: DomainError, names: &[(&str, &str)]) -> DomainError {
    match err {
        DomainError::Invalid(f) => {
            let base = f.field.split('[').next().unwrap_or_default().to_string();
            match names.iter().find(|(from, _)| *from == base) {
                Some((_, to)) => DomainError::Invalid(FieldError::new(*to, f.message)),
                None => DomainError::Invalid(FieldError::new(base, f.message)),
            }
        }
        other => other,
    }
}

pub(super) fn clinician_of(form: &FormData) -> Result<UserId, PageError> {
    form.get("clinician")
        .trim()
        .parse()
        .map_err(|_| PageError::NotFound)
}

fn page_href(clinician: UserId, extra: &[(&str, String)]) -> String {
    let mut pairs = vec![("clinician", clinician.to_string())];
    pairs.extend(extra.iter().cloned());
    href("/schedule/availability", &pairs)
}

/// Adds weekly hours; overlapping hours anywhere are refused with the domain's message.
pub async fn add_hours(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let clinician = clinician_of(&form)?;
    let mut errors = FormErrors::default();
    let slot_minutes = minutes_field(&form, "slot_minutes", "Slot length", &mut errors);
    let buffer_minutes = minutes_field(
        &form,
        "buffer_minutes",
        "Break after each slot",
        &mut errors,
    );
    let status = if errors.is_empty() {
        let input = TemplateInput {
            site_id: form.get("site_id").to_string(),
            weekday: form.get("weekday").to_string(),
            start_time: form.get("start_time").to_string(),
            end_time: form.get("end_time").to_string(),
            slot_minutes,
            buffer_minutes,
            service_lines: form.all("service_lines"),
            valid_from: form.get("valid_from").to_string(),
            valid_until: form.optional("valid_until"),
        };
        match availability::add_template(state.ctx(), &me.actor, clinician, &input).await {
            Ok(_) => {
                return Ok(see_other(&page_href(
                    clinician,
                    &[("done", "hours_added".into())],
                )));
            }
            Err(err) => {
                let (found, status) = FormErrors::refusal(renamed(err, &[]), &HOURS_LABELS)?;
                errors = found;
                status
            }
        }
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let today = when::date_at(state.clock.now(), &jiff::tz::TimeZone::UTC);
    let entered = form.with_defaults(&defaults(today));
    availability_page(
        &state,
        &me,
        Some(clinician),
        None,
        Outcome::refused(&entered, errors, status),
    )
    .await
}

/// Ends weekly hours after a last day.
pub async fn end_hours(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: TemplateId = raw.parse().map_err(|_| PageError::NotFound)?;
    let clinician = clinician_of(&form)?;
    match availability::end_template(state.ctx(), &me.actor, id, form.get("last_day")).await {
        Ok(_) => Ok(see_other(&page_href(
            clinician,
            &[("done", "hours_ended".into())],
        ))),
        Err(err) => {
            let (mut errors, status) = FormErrors::refusal(err, &[("last_day", "The last day")])?;
            // Every row has a last day: the message stands for the form as a whole.
            for item in &mut errors.items {
                item.target.clear();
                item.field.clear();
            }
            let today = when::date_at(state.clock.now(), &jiff::tz::TimeZone::UTC);
            let entered = FormData::from_pairs(&defaults(today));
            availability_page(
                &state,
                &me,
                Some(clinician),
                None,
                Outcome::refused(&entered, errors, status),
            )
            .await
        }
    }
}

/// Adds leave or extra hours; after leave, the page lists the booked visits it falls on.
pub async fn add_exception(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let clinician = clinician_of(&form)?;
    let extra = form.get("kind") == ExceptionKind::ExtraHours.as_str();
    let mut errors = FormErrors::default();
    let (slot_minutes, buffer_minutes) = if extra {
        (
            Some(minutes_field(
                &form,
                "extra_slot_minutes",
                "Slot length",
                &mut errors,
            )),
            Some(minutes_field(
                &form,
                "extra_buffer_minutes",
                "Break after each slot",
                &mut errors,
            )),
        )
    } else {
        (None, None)
    };
    let status = if errors.is_empty() {
        let input = ExceptionInput {
            kind: form.get("kind").to_string(),
            site_id: if extra {
                form.optional("extra_site_id")
            } else {
                None
            },
            start: form.get("start").to_string(),
            end: form.get("end").to_string(),
            slot_minutes,
            buffer_minutes,
            service_lines: if extra {
                form.all("extra_service_lines")
            } else {
                Vec::new()
            },
            reason: form.optional("reason"),
        };
        match availability::add_exception(state.ctx(), &me.actor, clinician, &input).await {
            Ok(outcome) if outcome.exception.kind == ExceptionKind::Leave => {
                return Ok(see_other(&page_href(
                    clinician,
                    &[
                        ("leave", outcome.exception.id.to_string()),
                        ("done", "leave_added".into()),
                    ],
                )));
            }
            Ok(_) => {
                return Ok(see_other(&page_href(
                    clinician,
                    &[("done", "extra_added".into())],
                )));
            }
            Err(err) => {
                let names = [
                    ("site_id", "extra_site_id"),
                    ("slot_minutes", "extra_slot_minutes"),
                    ("buffer_minutes", "extra_buffer_minutes"),
                    ("service_lines", "extra_service_lines"),
                ];
                let (found, status) = FormErrors::refusal(renamed(err, &names), &EXCEPTION_LABELS)?;
                errors = found;
                status
            }
        }
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let today = when::date_at(state.clock.now(), &jiff::tz::TimeZone::UTC);
    let entered = form.with_defaults(&defaults(today));
    availability_page(
        &state,
        &me,
        Some(clinician),
        None,
        Outcome::refused(&entered, errors, status),
    )
    .await
}
