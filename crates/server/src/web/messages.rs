//! Secure messages in the browser: `/messages` (a patient's threads, or the staff inbox in
//! `inbox.rs`), `/messages/new` (write to the care team, or staff to a patient), a thread at
//! `/messages/{id}` with its reply form (files attached without JavaScript, as multipart
//! forms), staff actions (assign, close, reopen), and `/attachments/{id}` downloads.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::tz::TimeZone;
use serde::Deserialize;

use domain::DomainError;
use domain::identity::Role;
use domain::ids::{AttachmentId, ThreadId, UserId};
use domain::messaging::service::{self as messaging, NewThread, Reply, ThreadAction, Upload};
use domain::messaging::{Thread, ThreadStatus};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::Directory;
use super::form::{Field, FormData, FormErrors, PageQuery, Select, Tick};
use super::inbox::status_class;
use super::multipart::MultipartForm;
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

const LABELS: &[(&str, &str)] = &[
    ("site_id", "Clinic"),
    ("clinician_id", "Clinician"),
    ("patient_id", "Patient"),
    ("subject", "Subject"),
    ("body", "Message"),
    ("files", "Files"),
    ("files[0]", "File 1"),
    ("files[1]", "File 2"),
    ("files[2]", "File 3"),
    ("files[3]", "File 4"),
    ("files[4]", "File 5"),
    ("staff_only", "Staff-only note"),
    ("assigned_to", "Assigned to"),
];

/// How a thread's state reads to its patient.
pub fn patient_status(t: &Thread) -> &'static str {
    match t.status {
        ThreadStatus::Open => "Waiting for your care team",
        ThreadStatus::WaitingOnPatient => "Answered",
        ThreadStatus::Closed => "Closed",
    }
}

fn uploads(files: Vec<super::multipart::FilePart>) -> Vec<Upload> {
    files
        .into_iter()
        .map(|f| Upload {
            file_name: f.file_name,
            bytes: f.bytes,
        })
        .collect()
}

pub struct ThreadRow {
    pub href: String,
    pub subject: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub when: String,
    pub unread: i64,
}

#[derive(Template)]
#[template(path = "pages/messages.html")]
struct MessagesPage {
    shell: Shell,
    rows: Vec<ThreadRow>,
}

/// `GET /messages`: the patient's threads; staff get their site's inbox.
pub async fn list(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<super::inbox::InboxParams>,
) -> PageResult {
    if me.user.role != Role::Patient {
        return super::inbox::show(&state, &me, params).await;
    }
    let threads = messaging::my_threads(state.ctx(), &me.actor).await?;
    let dir = Directory::load(&state, &me.actor).await?;
    Ok(ok(&MessagesPage {
        shell: Shell::new(&me, Section::Messages),
        rows: threads
            .iter()
            .map(|t| ThreadRow {
                href: format!("/messages/{}", t.id),
                subject: t.subject.clone(),
                status: patient_status(t),
                status_class: status_class(t.status),
                when: when::when(t.last_message_at, &dir.zone(t.site_id)),
                unread: t.patient_unread,
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "pages/message_new.html")]
struct NewPage {
    shell: Shell,
    for_patient: bool,
    patient_id: String,
    patient_name: String,
    site: Select,
    clinician: Option<Select>,
    subject: Field,
    body: Field,
    files_error: Option<String>,
    max_mb: u64,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    /// Staff: the patient to write to.
    pub patient_id: Option<String>,
}

async fn new_page(
    state: &AppState,
    me: &SignedIn,
    form: &FormData,
    errors: FormErrors,
) -> Result<NewPage, PageError> {
    let for_patient = me.user.role == Role::Patient;
    let (sites, clinician, patient_name) = if for_patient {
        let r = messaging::recipients(state.ctx(), &me.actor).await?;
        let sites: Vec<(String, String)> = r
            .sites
            .iter()
            .map(|s| (s.id.to_string(), format!("Care team at {}", s.name)))
            .collect();
        let clinician = (!r.clinicians.is_empty()).then(|| {
            Select::new(
                "clinician_id",
                "To one clinician",
                r.clinicians
                    .iter()
                    .map(|(id, name)| (id.to_string(), name.clone())),
                form.get("clinician_id"),
                Some("Anyone on the care team"),
            )
            .hint("Choose a clinician who saw you, or leave it to the team.")
            .errors(&errors)
        });
        (sites, clinician, String::new())
    } else {
        let dir = Directory::load(state, &me.actor).await?;
        let sites = dir
            .sites()
            .filter(|s| me.user.role == Role::OrgAdmin || me.user.site_ids.contains(&s.id))
            .map(|s| (s.id.to_string(), s.name.clone()))
            .collect();
        let patient_id = form.get("patient_id").trim().to_string();
        let name = match patient_id.parse() {
            Ok(id) => domain::identity::service::patients::get(state.ctx(), &me.actor, id)
                .await?
                .full_name(),
            Err(_) => return Err(PageError::NotFound),
        };
        (sites, None, name)
    };
    Ok(NewPage {
        shell: Shell::new(me, Section::Messages),
        for_patient,
        patient_id: form.get("patient_id").to_string(),
        patient_name,
        site: Select::new(
            "site_id",
            if for_patient {
                "To"
            } else {
                "From the care team at"
            },
            sites,
            form.get("site_id"),
            None,
        )
        .errors(&errors),
        clinician,
        subject: Field::new("subject", "Subject", form.get("subject"))
            .hint("A few words, for example \"Question about my prescription\".")
            .errors(&errors),
        body: Field::new("body", "Message", form.get("body"))
            .hint(if for_patient {
                "Do not use messages for emergencies: call 911."
            } else {
                ""
            })
            .errors(&errors),
        files_error: errors
            .get("files")
            .or_else(|| (0..5).find_map(|i| errors.get(&format!("files[{i}]")))),
        max_mb: state.config.attachment_max_bytes / (1024 * 1024),
        errors,
    })
}

/// `GET /messages/new`: write to the care team (patients), or to a patient (staff).
pub async fn new_form(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<NewParams>,
) -> PageResult {
    let form = FormData::from_pairs(&[("patient_id", params.patient_id.unwrap_or_default())]);
    Ok(ok(
        &new_page(&state, &me, &form, FormErrors::default()).await?
    ))
}

/// `POST /messages/new`: starts the thread; a refusal shows the form again with what was typed.
pub async fn create(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    upload: MultipartForm,
) -> PageResult {
    let MultipartForm { form, files } = upload;
    check_csrf(&me.session.csrf_token, &form)?;
    let input = NewThread {
        patient_id: form.optional("patient_id"),
        site_id: form.get("site_id").to_string(),
        clinician_id: form.optional("clinician_id"),
        subject: form.get("subject").to_string(),
        body: form.get("body").to_string(),
        files: uploads(files),
    };
    match messaging::start(state.ctx(), &me.actor, &input).await {
        Ok(thread) => Ok(see_other(&format!("/messages/{}?done=sent", thread.id))),
        Err(err @ (DomainError::NotFound { .. } | DomainError::Storage(_))) => Err(err.into()),
        Err(err) => {
            let errors = FormErrors::from_domain(err, LABELS)?;
            let page = new_page(&state, &me, &form, errors).await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
    }
}

pub struct FileRow {
    pub href: String,
    pub name: String,
    pub kind: &'static str,
    pub size: String,
}

pub struct MessageRow {
    pub who: String,
    pub mine: bool,
    pub staff_only: bool,
    pub when: String,
    pub body: String,
    pub files: Vec<FileRow>,
    /// For the reader's own messages: whether the other side has read it.
    pub receipt: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/thread.html")]
struct ThreadPage {
    shell: Shell,
    id: String,
    subject: String,
    for_patient: bool,
    patient_name: String,
    patient_href: String,
    status: &'static str,
    status_class: &'static str,
    closed: bool,
    due: Option<String>,
    overdue: bool,
    emergency: bool,
    messages: Vec<MessageRow>,
    body: Field,
    staff_only: Tick,
    assign: Select,
    files_error: Option<String>,
    max_mb: u64,
    errors: FormErrors,
    back_href: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct ThreadParams {
    pub done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("sent") => Some("Message sent."),
        Some("note") => Some("Staff-only note added."),
        Some("closed") => Some("Thread closed."),
        Some("reopened") => Some("Thread reopened."),
        Some("assigned") => Some("Assignment saved."),
        _ => None,
    }
}

fn size(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", (bytes / 1024).max(1))
    }
}

async fn thread_page(
    state: &AppState,
    me: &SignedIn,
    id: ThreadId,
    form: &FormData,
    errors: FormErrors,
    done: Option<&str>,
) -> Result<ThreadPage, PageError> {
    let view = messaging::open(state.ctx(), &me.actor, id).await?;
    let dir = Directory::load(state, &me.actor).await?;
    let tz: TimeZone = dir.zone(view.thread.site_id);
    let for_patient = me.user.role == Role::Patient;
    let t = &view.thread;
    let messages = view
        .messages
        .iter()
        .map(|m| {
            let mine = if for_patient {
                m.from_patient
            } else {
                m.author_id == me.user.id
            };
            let who = if mine {
                "You".to_string()
            } else if m.from_patient {
                view.patient.full_name()
            } else {
                view.name_of(m.author_id)
            };
            // The patient's side sees receipts of their own messages; staff of the team's.
            let ours = m.from_patient == for_patient;
            let receipt = (ours && !m.staff_only).then(|| match m.read_at {
                Some(at) => format!("Read {}", when::when(at, &tz)),
                None => "Not read yet".to_string(),
            });
            MessageRow {
                who,
                mine,
                staff_only: m.staff_only,
                when: when::when(m.sent_at, &tz),
                body: m.body.clone(),
                files: m
                    .attachments
                    .iter()
                    .map(|a| FileRow {
                        href: format!("/attachments/{}", a.id),
                        name: a.file_name.clone(),
                        kind: a.kind.label(),
                        size: size(a.size_bytes),
                    })
                    .collect(),
                receipt,
            }
        })
        .collect();
    let now = state.clock.now();
    Ok(ThreadPage {
        shell: Shell::new(me, Section::Messages).notice(notice(done)),
        id: t.id.to_string(),
        subject: t.subject.clone(),
        for_patient,
        patient_name: view.patient.full_name(),
        patient_href: format!("/patients/{}", view.patient.id),
        status: if for_patient {
            patient_status(t)
        } else {
            t.status.label()
        },
        status_class: status_class(t.status),
        closed: t.status == ThreadStatus::Closed,
        due: t.reply_due_at.map(|d| when::when(d, &tz)),
        overdue: t.overdue(now),
        emergency: view.emergency,
        messages,
        body: Field::new(
            "body",
            if for_patient { "Your reply" } else { "Reply" },
            form.get("body"),
        )
        .errors(&errors),
        staff_only: Tick::new(
            "staff_only",
            "yes",
            "Staff-only note (the patient never sees it)",
            form.get("staff_only") == "yes",
        ),
        assign: Select::new(
            "assigned_to",
            "Assigned to",
            view.assignable
                .iter()
                .map(|(id, name)| (id.to_string(), name.clone())),
            &t.assigned_to.map(|u| u.to_string()).unwrap_or_default(),
            Some("Nobody yet"),
        )
        .errors(&errors),
        files_error: errors
            .get("files")
            .or_else(|| (0..5).find_map(|i| errors.get(&format!("files[{i}]")))),
        max_mb: state.config.attachment_max_bytes / (1024 * 1024),
        errors,
        back_href: "/messages",
    })
}

fn parse_thread(raw: &str) -> Result<ThreadId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

/// `GET /messages/{id}`: the thread (marks it read; audited).
pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<ThreadParams>,
) -> PageResult {
    let id = parse_thread(&raw)?;
    let page = thread_page(
        &state,
        &me,
        id,
        &FormData::default(),
        FormErrors::default(),
        params.done.as_deref(),
    )
    .await?;
    Ok(ok(&page))
}

async fn refused(
    state: &AppState,
    me: &SignedIn,
    id: ThreadId,
    form: &FormData,
    err: DomainError,
) -> PageResult {
    let mut errors = FormErrors::default();
    match err {
        DomainError::Refused { message, .. } => errors.form(super::page::capitalise(&message)),
        other => errors = FormErrors::from_domain(other, LABELS)?,
    }
    let page = thread_page(state, me, id, form, errors, None).await?;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// `POST /messages/{id}/reply`: a reply, or a staff-only note.
pub async fn reply(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    upload: MultipartForm,
) -> PageResult {
    let MultipartForm { form, files } = upload;
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_thread(&raw)?;
    let input = Reply {
        body: form.get("body").to_string(),
        staff_only: form.get("staff_only") == "yes",
        files: uploads(files),
    };
    match messaging::reply(state.ctx(), &me.actor, id, &input).await {
        Ok(m) => Ok(see_other(&format!(
            "/messages/{id}?done={}",
            if m.staff_only { "note" } else { "sent" }
        ))),
        Err(err @ (DomainError::NotFound { .. } | DomainError::Storage(_))) => Err(err.into()),
        Err(err) => refused(&state, &me, id, &form, err).await,
    }
}

async fn act(
    state: AppState,
    me: SignedIn,
    raw: String,
    form: FormData,
    action: impl FnOnce(&FormData) -> Result<ThreadAction, DomainError>,
    done: &str,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_thread(&raw)?;
    let result = match action(&form) {
        Ok(action) => messaging::act(state.ctx(), &me.actor, id, action).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/messages/{id}?done={done}"))),
        Err(err @ (DomainError::NotFound { .. } | DomainError::Storage(_))) => Err(err.into()),
        Err(err) => refused(&state, &me, id, &FormData::default(), err).await,
    }
}

/// `POST /messages/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    act(state, me, raw, form, |_| Ok(ThreadAction::Close), "closed").await
}

/// `POST /messages/{id}/reopen`.
pub async fn reopen(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    act(
        state,
        me,
        raw,
        form,
        |_| Ok(ThreadAction::Reopen),
        "reopened",
    )
    .await
}

/// `POST /messages/{id}/assign`.
pub async fn assign(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    let parse = |form: &FormData| -> Result<ThreadAction, DomainError> {
        match form.optional("assigned_to") {
            None => Ok(ThreadAction::Assign(None)),
            Some(raw) => raw
                .parse::<UserId>()
                .map(|u| ThreadAction::Assign(Some(u)))
                .map_err(|_| DomainError::invalid("assigned_to", "is not a staff member")),
        }
    };
    act(state, me, raw, form, parse, "assigned").await
}

/// `GET /attachments/{id}`: a file of a thread the signed-in person may open (audited).
pub async fn download(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id: AttachmentId = raw.parse().map_err(|_| PageError::NotFound)?;
    let file = messaging::attachment(state.ctx(), &me.actor, id).await?;
    Ok(crate::api::messages::file_response(&file))
}
