//! Entry points for the fuzz harness (`crates/server/tests/it/fuzz/`): each takes bytes as a
//! browser could send them and runs them through the same parsing and conversion as the page
//! handlers, without a store. The parsers stay private to their pages; only these are public.
//! A panic in any of them is a bug (it would be a 500 for whoever sent the bytes).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use domain::DomainError;
use domain::notes::NoteTemplate;
use domain::visits::QuestionnaireKind;
use serde::de::DeserializeOwned;

use super::form::{FormData, FormErrors};
use super::page::{PageError, see_other};

/// The fields every form target reads, for the harness's dictionary of names.
pub const FIELD_NAMES: &[&str] = &[
    "csrf",
    "back",
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "preferred_language",
    "primary_site_id",
    "consent_version",
    "phase_id",
    "title",
    "kind",
    "owner_id",
    "starts_on",
    "due_on",
    "status",
    "depends_on",
    "category",
    "likelihood",
    "impact",
    "mitigation",
    "next_review_on",
    "complaint",
    "days",
    "fever",
    "chest_pain",
    "trouble_breathing",
    "pain",
    "notes",
    "phq9_0",
    "phq9_8",
    "subjective",
    "objective",
    "assessment",
    "plan",
    "instructions",
    "warning_signs",
    "risk_assessment",
    "acuity",
    "disposition",
    "diagnoses[0]",
    "follow_up_days",
    "follow_up_modality",
    "name",
    "service_line",
    "modality",
    "patient_kind",
    "duration_minutes",
    "patient_bookable",
    "active",
    "display_name",
    "role",
    "password",
    "site_ids",
    "patient_id",
    "npi",
    "specialties",
    "licenses[0].state",
    "licenses[0].number",
    "licenses[0].expires_on",
    "visit_type_id",
    "patient_state",
    "language",
    "from",
    "to",
    "slot",
    "day",
    "site",
    "clinician",
    "reason",
    "outcome",
    "relation",
];

/// A form body (`application/x-www-form-urlencoded`) read as the page handlers read it, then
/// turned into every use case input a form builds. Returns how many inputs the domain accepted.
pub fn form_body(bytes: &[u8]) -> usize {
    let form = FormData::from_encoded(bytes);
    convert_form(&form)
}

/// A `multipart/form-data` body: `content_type` is the request's header. Returns the number of
/// text fields and files read.
pub fn multipart_body(content_type: &str, bytes: &[u8]) -> usize {
    let form = match super::multipart::boundary_of(content_type) {
        Some(boundary) => super::multipart::parse(bytes, &boundary).unwrap_or_default(),
        None => super::multipart::MultipartForm {
            form: FormData::from_encoded(bytes),
            files: Vec::new(),
        },
    };
    for file in &form.files {
        let _ = domain::messaging::rules::check_attachment(
            &file.field,
            &file.file_name,
            &file.bytes,
            usize::MAX,
        );
    }
    form.files.len() + convert_form(&form.form)
}

fn convert_form(form: &FormData) -> usize {
    let today = jiff::civil::date(2026, 12, 7);
    let mut accepted = 0;
    let mut count = |outcome: Result<(), DomainError>| match outcome {
        Ok(()) => accepted += 1,
        Err(err) => refusal(err),
    };
    count(
        super::patients::input_from(form)
            .validate(today)
            .map(|_| ()),
    );
    count(super::program_tasks::task_command(form, true).map(|_| ()));
    count(super::program_tasks::task_command(form, false).map(|_| ()));
    let _ = super::program_risks::risk_input(form);
    let _ = super::account::contact_from(form);
    let _ = super::admin::user_input(form);
    let _ = super::consent::accepted_version(form);
    let _ = super::visit::Entered::from_form(form);
    let _ = super::availability_edit::clinician_of(form);
    let mut errors = FormErrors::default();
    let _ = super::availability_edit::minutes_field(form, "slot_minutes", "Slot", &mut errors);
    for kind in [
        QuestionnaireKind::Phq9,
        QuestionnaireKind::UrgentSymptoms,
        QuestionnaireKind::ReasonOnly,
    ] {
        count(
            super::visit_check_in::questionnaire_input(form, kind)
                .check(kind)
                .map(|_| ()),
        );
    }
    let note = super::notes::input_from(form);
    for template in NoteTemplate::ALL {
        count(note.check(*template).map(|_| ()));
    }
    for editing in [false, true] {
        if let Ok(input) = super::visit_types::input_from(form, editing) {
            count(input.validate().map(|_| ()));
        }
    }
    count(super::booking::Choice::from_form(form).search().map(|_| ()));
    let _ = super::session::check_csrf("0123456789abcdef", form);
    if let Ok(Some(back)) = return_address(form.get("back")) {
        accepted += usize::from(!back.is_empty());
    }
    accepted
}

/// What a refusal becomes on a page: form errors beside their fields, or an error page.
fn refusal(err: DomainError) {
    let labels = [("title", "Title"), ("mrn", "Medical record number")];
    if let Err(page) = FormErrors::from_domain(err, &labels) {
        let _ = page.into_response();
    }
}

/// The `back=` return address of the appointment forms, checked as the handlers check it; an
/// accepted one is followed by a redirect with a notice, as after a step.
pub fn return_address(raw: &str) -> Result<Option<String>, PageError> {
    let back = super::appointments::return_address(raw)?;
    if let Some(back) = &back {
        let joiner = if back.contains('?') { '&' } else { '?' };
        let response = see_other(&format!("{back}{joiner}done=cancelled"));
        let location = response.headers().get(header::LOCATION);
        if location.and_then(|v| v.to_str().ok()) != Some(&format!("{back}{joiner}done=cancelled"))
        {
            return Err(PageError::BadRequest(
                "the redirect lost its address".into(),
            ));
        }
    }
    Ok(back)
}

/// A `Cookie` header: the session, CSRF and visit-link cookies read from it, and the CSRF check
/// of the password-reset form against a form body.
pub fn cookie_header(value: &[u8], form: &[u8]) -> usize {
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return 0;
    };
    let mut headers = HeaderMap::new();
    headers.append(header::COOKIE, value);
    let mut found = 0;
    for name in [
        crate::auth::sessions::COOKIE,
        super::signin::CSRF_COOKIE,
        "",
        "telemed_visit",
    ] {
        found += usize::from(crate::auth::sessions::cookie_value(&headers, name).is_some());
    }
    found += usize::from(crate::auth::sessions::token_from_headers(&headers).is_some());
    let form = FormData::from_encoded(form);
    found + usize::from(super::password_reset::form_cookie_ok(&headers, &form).is_some())
}

fn page_params<T: DeserializeOwned>(query: &str) -> Option<T> {
    serde_urlencoded::from_str::<T>(query).ok()
}

/// A page's query string, read into every parameter type the pages read (as `PageQuery`
/// reads it); the slot search's choice is turned into its search, and the appointment page's
/// `back` is checked as a return address. Returns how many types read it.
pub fn page_query(query: &str) -> usize {
    let mut read = 0;
    let mut count = |ok: bool| read += usize::from(ok);
    count(page_params::<super::availability::AvailabilityParams>(query).is_some());
    count(page_params::<super::front_desk::DeskParams>(query).is_some());
    count(page_params::<super::queue::DoneParams>(query).is_some());
    count(page_params::<super::appointments::ListParams>(query).is_some());
    count(page_params::<super::home::MeParams>(query).is_some());
    count(page_params::<super::messages::NewParams>(query).is_some());
    count(page_params::<super::notes::NoteParams>(query).is_some());
    count(page_params::<super::program::Notice>(query).is_some());
    count(page_params::<super::waiting_room::Params>(query).is_some());
    count(page_params::<super::calendar::ScheduleParams>(query).is_some());
    count(page_params::<super::signin::SignInParams>(query).is_some());
    count(page_params::<super::messages::ThreadParams>(query).is_some());
    count(page_params::<super::inbox::InboxParams>(query).is_some());
    if let Some(choice) = page_params::<super::booking::Choice>(query) {
        if let Err(err) = choice.search() {
            refusal(err);
        }
        count(true);
    }
    if let Some(show) = page_params::<super::appointments::ShowParams>(query) {
        count(return_address(show.back.as_deref().unwrap_or_default()).is_ok());
    }
    read
}
