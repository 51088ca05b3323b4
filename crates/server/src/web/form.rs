//! Form bodies, and the view structs that render form fields with their labels, hints and errors.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use domain::{DomainError, ErrorKind};
use serde::de::DeserializeOwned;

use super::page::PageError;

/// A `application/x-www-form-urlencoded` body as name/value pairs (names may repeat: checkboxes).
///
/// A body that does not parse is treated as empty, so the CSRF check refuses it with the 403 page.
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(req, state).await.map_err(|_| {
            PageError::BadRequest("The form could not be read; it may be too large.".into())
                .into_response()
        })?;
        Ok(Self(
            serde_urlencoded::from_bytes(&bytes).unwrap_or_default(),
        ))
    }
}

impl FormData {
    /// The first value of a field, or "" when it was not sent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value sent under a name.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// An `application/x-www-form-urlencoded` body; one that does not parse is empty.
    pub fn from_encoded(bytes: &[u8]) -> Self {
        Self(serde_urlencoded::from_bytes(bytes).unwrap_or_default())
    }

    /// Fields read by another parser (a multipart form's text fields).
    pub fn from_owned(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// A form filled in by the server: the starting values of a blank form.
    pub fn from_pairs(pairs: &[(&str, String)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    /// Adds starting values for the fields this form did not send (another form on the page).
    pub fn with_defaults(mut self, defaults: &[(&str, String)]) -> Self {
        for (name, value) in defaults {
            if !self.0.iter().any(|(k, _)| k == name) {
                self.0.push((name.to_string(), value.clone()));
            }
        }
        self
    }

    /// The value, or `None` when it is blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        Some(self.get(name).trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// Query parameters; ones that do not parse answer with the 400 page rather than plain text.
pub struct PageQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for PageQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|_| {
                PageError::BadRequest(
                    "The address has a parameter this page does not understand.".into(),
                )
                .into_response()
            })
    }
}

/// `(value, label)` pairs for a select over an enum's values (stages, statuses, service lines...).
pub fn choices<T: Copy>(
    all: &[T],
    value: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> Vec<(String, String)> {
    all.iter()
        .map(|v| (value(*v).to_string(), label(*v).to_string()))
        .collect()
}

/// The HTML id of a field: domain field names such as `licenses[0].state` become `f-licenses-0-state`.
pub fn field_id(name: &str) -> String {
    let mut id = String::from("f-");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_string()
}

/// The id of a field in a form that appears more than once on a page (a row's form, or two forms
/// with a field of the same name): `f-<scope>-<name>`; no scope is [`field_id`].
pub fn scoped_id(scope: &str, name: &str) -> String {
    let id = field_id(name);
    if scope.is_empty() {
        return id;
    }
    format!(
        "f-{}-{}",
        field_id(scope).trim_start_matches("f-"),
        id.trim_start_matches("f-")
    )
}

/// One problem with a form: shown in the summary at the top, linked to its field, and beside it.
#[derive(Debug, Clone)]
pub struct ErrorItem {
    pub field: String,
    /// `#id` of the field, or empty for a problem with the form as a whole.
    pub target: String,
    pub message: String,
}

/// How a page with a form is shown: fresh (perhaps after a redirect saying what was done), or
/// back with what was typed, what was wrong and the status the error table gives it.
pub struct Outcome<'a, E> {
    pub entered: &'a E,
    pub errors: FormErrors,
    pub done: Option<&'a str>,
    pub status: StatusCode,
}

impl<'a, E> Outcome<'a, E> {
    pub fn fresh(entered: &'a E, done: Option<&'a str>) -> Self {
        Self {
            entered,
            errors: FormErrors::default(),
            done,
            status: StatusCode::OK,
        }
    }

    pub fn refused(entered: &'a E, errors: FormErrors, status: StatusCode) -> Self {
        Self {
            entered,
            errors,
            done: None,
            status,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub items: Vec<ErrorItem>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn field(&mut self, field: &str, message: impl Into<String>) {
        self.items.push(ErrorItem {
            field: field.to_string(),
            target: format!("#{}", field_id(field)),
            message: message.into(),
        });
    }

    pub fn form(&mut self, message: impl Into<String>) {
        self.items.push(ErrorItem {
            field: String::new(),
            target: String::new(),
            message: message.into(),
        });
    }

    /// The same problems for a form whose fields carry a scope (see [`scoped_id`]): the summary's
    /// links lead to the scoped fields.
    pub fn scoped(mut self, scope: &str) -> Self {
        for e in &mut self.items {
            if !e.target.is_empty() {
                e.target = format!("#{}", scoped_id(scope, &e.field));
            }
        }
        self
    }

    pub fn get(&self, field: &str) -> Option<String> {
        self.items
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.clone())
    }

    /// A use case's error on a form page, with the status the error table gives it: a field's
    /// error beside the field, a refusal (the slot was taken, the note is signed...) at the top
    /// of the form; errors that are not about the form (not found, sign-in) stay errors.
    pub fn refusal(
        err: DomainError,
        labels: &[(&str, &str)],
    ) -> Result<(Self, StatusCode), PageError> {
        let status = super::page::status_of(&err);
        let about_a_field = matches!(err, DomainError::Conflict { field: Some(_), .. });
        if err.class().kind == ErrorKind::Refusal && !about_a_field {
            let mut errors = Self::default();
            errors.form(super::page::capitalise(&err.to_string()));
            return Ok((errors, status));
        }
        Ok((Self::from_domain(err, labels)?, status))
    }

    /// Turns a use case's refusal into form errors; errors that are not about the form stay errors.
    ///
    /// `labels` maps the form's field names to their labels, so messages read as sentences.
    pub fn from_domain(err: DomainError, labels: &[(&str, &str)]) -> Result<Self, PageError> {
        let mut errors = Self::default();
        let problems = match err {
            err @ (DomainError::Invalid(_) | DomainError::InvalidFields(_)) => err
                .field_errors()
                .into_iter()
                .map(|f| (f.field, f.message))
                .collect(),
            DomainError::Conflict { field, message } => vec![(field.unwrap_or_default(), message)],
            DomainError::Forbidden { action } => {
                errors.form(format!("You do not have permission to {action}."));
                return Ok(errors);
            }
            other => return Err(other.into()),
        };
        for (field, message) in problems {
            match labels.iter().find(|(name, _)| *name == field) {
                Some((_, label)) => errors.field(&field, sentence(label, &message)),
                None => errors.form(sentence("", &message)),
            }
        }
        Ok(errors)
    }
}

/// "must not be empty" with "Family name" becomes "Family name must not be empty."
fn sentence(label: &str, message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    let starts_with_verb = ["must ", "is ", "may ", "a ", "an ", "only "]
        .iter()
        .any(|w| message.starts_with(w));
    let text = if label.is_empty() {
        capitalised(message)
    } else if starts_with_verb {
        format!("{label} {message}")
    } else {
        format!("{label}: {message}")
    };
    format!("{text}.")
}

/// Capitalises a leading plain word ("you may" → "You may"), leaving names and quotes alone.
fn capitalised(message: &str) -> String {
    let first_word = message.split(' ').next().unwrap_or_default();
    if !first_word.is_empty() && first_word.chars().all(|c| c.is_ascii_lowercase()) {
        let mut chars = message.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    } else {
        message.to_string()
    }
}

/// A text-like input (`text`, `email`, `password`, `date`, `search`) or a textarea.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: String,
    pub name: String,
    pub label: String,
    pub value: String,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub inputmode: &'static str,
    /// Id of a `<datalist>` of suggestions, or empty.
    pub list: &'static str,
    pub hint: String,
    pub optional: bool,
    pub error: Option<String>,
}

impl Field {
    pub fn new(name: &str, label: &str, value: impl Into<String>) -> Self {
        Self {
            id: field_id(name),
            name: name.to_string(),
            label: label.to_string(),
            value: value.into(),
            kind: "text",
            autocomplete: "off",
            inputmode: "",
            list: "",
            hint: String::new(),
            optional: false,
            error: None,
        }
    }

    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// For a form that appears more than once on a page (see [`scoped_id`]).
    pub fn scope(mut self, scope: &str) -> Self {
        self.id = scoped_id(scope, &self.name);
        self
    }

    pub fn autocomplete(mut self, autocomplete: &'static str) -> Self {
        self.autocomplete = autocomplete;
        self
    }

    pub fn inputmode(mut self, inputmode: &'static str) -> Self {
        self.inputmode = inputmode;
        self
    }

    pub fn datalist(mut self, id: &'static str) -> Self {
        self.list = id;
        self
    }

    pub fn hint(mut self, hint: &str) -> Self {
        self.hint = hint.to_string();
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn errors(mut self, errors: &FormErrors) -> Self {
        self.error = errors.get(&self.name);
        self
    }

    /// Ids of the hint and error, for `aria-describedby`.
    pub fn described_by(&self) -> String {
        described_by(&self.id, !self.hint.is_empty(), self.error.is_some())
    }
}

fn described_by(id: &str, hint: bool, error: bool) -> String {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{id}-hint"));
    }
    if error {
        ids.push(format!("{id}-error"));
    }
    ids.join(" ")
}

/// An option of a select, or one checkbox of a group.
#[derive(Debug, Clone)]
pub struct Choice {
    pub id: String,
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Debug, Clone)]
pub struct Select {
    pub id: String,
    pub name: String,
    pub label: String,
    pub options: Vec<Choice>,
    pub hint: String,
    pub optional: bool,
    pub error: Option<String>,
}

impl Select {
    /// A select over `(value, label)` pairs with `current` selected; `blank` adds a first empty option.
    pub fn new(
        name: &str,
        label: &str,
        choices: impl IntoIterator<Item = (String, String)>,
        current: &str,
        blank: Option<&str>,
    ) -> Self {
        let id = field_id(name);
        let mut options = Vec::new();
        if let Some(text) = blank {
            options.push(Choice {
                id: String::new(),
                value: String::new(),
                label: text.to_string(),
                selected: current.is_empty(),
            });
        }
        options.extend(choices.into_iter().map(|(value, label)| Choice {
            id: String::new(),
            selected: value == current,
            value,
            label,
        }));
        Self {
            id,
            name: name.to_string(),
            label: label.to_string(),
            options,
            hint: String::new(),
            optional: false,
            error: None,
        }
    }

    pub fn hint(mut self, hint: &str) -> Self {
        self.hint = hint.to_string();
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// For a form that appears more than once on a page (see [`scoped_id`]).
    pub fn scope(mut self, scope: &str) -> Self {
        self.id = scoped_id(scope, &self.name);
        self
    }

    pub fn errors(mut self, errors: &FormErrors) -> Self {
        self.error = errors.get(&self.name);
        self
    }

    pub fn described_by(&self) -> String {
        described_by(&self.id, !self.hint.is_empty(), self.error.is_some())
    }
}

/// A group of checkboxes sharing one name.
#[derive(Debug, Clone)]
pub struct Checkboxes {
    pub id: String,
    pub name: String,
    pub legend: String,
    pub options: Vec<Choice>,
    pub hint: String,
    /// Said when there is nothing to choose from.
    pub empty: String,
    pub error: Option<String>,
}

impl Checkboxes {
    pub fn new(
        name: &str,
        legend: &str,
        choices: impl IntoIterator<Item = (String, String)>,
        checked: &[String],
    ) -> Self {
        let id = field_id(name);
        let options = choices
            .into_iter()
            .enumerate()
            .map(|(i, (value, label))| Choice {
                id: format!("{id}-{i}"),
                selected: checked.contains(&value),
                value,
                label,
            })
            .collect();
        Self {
            id,
            name: name.to_string(),
            legend: legend.to_string(),
            options,
            hint: String::new(),
            empty: "There are no sites to choose from yet.".into(),
            error: None,
        }
    }

    pub fn hint(mut self, hint: &str) -> Self {
        self.hint = hint.to_string();
        self
    }

    pub fn when_empty(mut self, text: &str) -> Self {
        self.empty = text.to_string();
        self
    }

    /// Errors about any one of the boxes (`site_ids[2]`) are shown on the group.
    pub fn errors(mut self, errors: &FormErrors) -> Self {
        self.error = errors
            .items
            .iter()
            .find(|e| e.field == self.name || e.field.starts_with(&format!("{}[", self.name)))
            .map(|e| e.message.clone());
        self
    }
}

/// One checkbox that answers a yes/no question ("I agree to ...").
#[derive(Debug, Clone)]
pub struct Tick {
    pub id: String,
    pub name: String,
    pub value: String,
    pub label: String,
    pub hint: String,
    pub checked: bool,
    pub error: Option<String>,
}

impl Tick {
    pub fn new(name: &str, value: impl Into<String>, label: &str, checked: bool) -> Self {
        Self {
            id: field_id(name),
            name: name.to_string(),
            value: value.into(),
            label: label.to_string(),
            hint: String::new(),
            checked,
            error: None,
        }
    }

    pub fn hint(mut self, hint: &str) -> Self {
        self.hint = hint.to_string();
        self
    }

    pub fn errors(mut self, errors: &FormErrors) -> Self {
        self.error = errors.get(&self.name);
        self
    }

    pub fn described_by(&self) -> String {
        described_by(&self.id, !self.hint.is_empty(), self.error.is_some())
    }
}

/// Radio buttons: one choice of a few, all visible (better than a select on a phone).
#[derive(Debug, Clone)]
pub struct Radios {
    pub id: String,
    pub name: String,
    pub legend: String,
    pub options: Vec<Choice>,
    pub hint: String,
    pub error: Option<String>,
}

impl Radios {
    pub fn new(
        name: &str,
        legend: &str,
        choices: impl IntoIterator<Item = (String, String)>,
        current: &str,
    ) -> Self {
        let id = field_id(name);
        let options = choices
            .into_iter()
            .enumerate()
            .map(|(i, (value, label))| Choice {
                id: if i == 0 {
                    id.clone()
                } else {
                    format!("{id}-{i}")
                },
                selected: value == current,
                value,
                label,
            })
            .collect();
        Self {
            id,
            name: name.to_string(),
            legend: legend.to_string(),
            options,
            hint: String::new(),
            error: None,
        }
    }

    pub fn errors(mut self, errors: &FormErrors) -> Self {
        self.error = errors.get(&self.name);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ids_are_safe_for_html() {
        assert_eq!(field_id("licenses[0].state"), "f-licenses-0-state");
        assert_eq!(field_id("given_name"), "f-given_name");
        assert_eq!(scoped_id("goal", "site_id"), "f-goal-site_id");
        assert_eq!(scoped_id("", "site_id"), "f-site_id");
        let mut errors = FormErrors::default();
        errors.field("site_id", "Choose a site.");
        errors.form("The program changed meanwhile.");
        let errors = errors.scoped("goal");
        assert_eq!(errors.items[0].target, "#f-goal-site_id");
        assert_eq!(errors.items[1].target, "");
    }

    #[test]
    fn domain_messages_become_sentences_about_the_field() {
        let errors = FormErrors::from_domain(
            DomainError::invalid("family_name", "must not be empty"),
            &[("family_name", "Family name")],
        )
        .unwrap_or_default();
        assert_eq!(
            errors.get("family_name").as_deref(),
            Some("Family name must not be empty.")
        );
        assert_eq!(errors.items[0].target, "#f-family_name");
    }

    #[test]
    fn every_field_error_of_a_refusal_is_shown_beside_its_field() {
        let errors = FormErrors::from_domain(
            DomainError::InvalidFields(vec![
                domain::FieldError::new("likelihood", "must be between 1 and 5"),
                domain::FieldError::new("title", "must not be empty"),
            ]),
            &[("likelihood", "Likelihood"), ("title", "Risk")],
        )
        .unwrap_or_default();
        assert_eq!(
            errors.get("likelihood").as_deref(),
            Some("Likelihood must be between 1 and 5.")
        );
        assert_eq!(
            errors.get("title").as_deref(),
            Some("Risk must not be empty.")
        );
        assert_eq!(errors.items.len(), 2);
    }

    #[test]
    fn a_conflict_names_its_field() {
        let errors = FormErrors::from_domain(
            DomainError::conflict_on("email", "ann@example.org is already registered"),
            &[("email", "Email")],
        )
        .unwrap_or_default();
        assert_eq!(
            errors.get("email").as_deref(),
            Some("Email: ann@example.org is already registered.")
        );
    }
}
