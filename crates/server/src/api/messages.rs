//! Secure messaging over JSON: whom a patient may write to, threads (start, open, reply, close,
//! reopen, assign), a site's inbox with its counts, a patient's threads, and attachments (sent
//! as base64 in JSON, downloaded as their bytes).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::DomainError;
use domain::identity::Role;
use domain::ids::{AttachmentId, ThreadId, UserId};
use domain::messaging::service::{self as messaging, NewThread, Reply, ThreadAction, Upload};
use domain::messaging::{AttachmentMeta, InboxQuery, Message, Thread, ThreadStatus};

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, UploadJson};
use crate::state::AppState;

/// A file to attach: JPEG, PNG or PDF, recognised by its content (the name is only shown).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileUpload {
    #[schema(example = "rash.jpg")]
    pub file_name: String,
    /// The file's bytes in standard base64.
    #[schema(example = "/9j/4AAQSkZJRgABAQ==")]
    pub content_base64: String,
}

pub fn uploads(files: Vec<FileUpload>) -> Result<Vec<Upload>, DomainError> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.trim())
                .map_err(|_| {
                    DomainError::invalid(
                        format!("files[{i}].content_base64"),
                        "is not valid base64",
                    )
                })?;
            Ok(Upload {
                file_name: f.file_name,
                bytes,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThreadRequest {
    /// Staff only: the patient the thread is with (a patient writes about themself).
    pub patient_id: Option<String>,
    /// The site whose care team the thread is with.
    pub site_id: String,
    /// A clinician who saw the patient; omit for the site's care team.
    pub clinician_id: Option<String>,
    #[schema(example = "Question about my new prescription")]
    pub subject: String,
    #[schema(example = "Since Monday I have a rash on my arm. A photo is attached.")]
    pub body: String,
    #[serde(default)]
    pub files: Vec<FileUpload>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    #[schema(example = "Thank you. Please keep the area clean and dry; it should fade in a week.")]
    pub body: String,
    /// Staff only: a note between colleagues that the patient never sees.
    #[serde(default)]
    #[schema(example = false)]
    pub staff_only: bool,
    #[serde(default)]
    pub files: Vec<FileUpload>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A staff member of the thread's site; `null` leaves the thread unassigned.
    pub assigned_to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentResponse {
    pub id: String,
    pub file_name: String,
    /// image/jpeg, image/png or application/pdf (from the content).
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// Where to download it.
    pub href: String,
}

impl From<&AttachmentMeta> for AttachmentResponse {
    fn from(a: &AttachmentMeta) -> Self {
        Self {
            id: a.id.to_string(),
            file_name: a.file_name.clone(),
            content_type: a.kind.as_str().into(),
            size_bytes: a.size_bytes,
            sha256: a.sha256.clone(),
            href: format!("/api/v1/attachments/{}", a.id),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadResponse {
    pub id: String,
    pub site_id: String,
    pub patient_id: String,
    /// The clinician the thread is addressed to; `null`: the site's care team.
    pub clinician_id: Option<String>,
    pub subject: String,
    /// open, waiting_on_patient or closed
    pub status: String,
    pub assigned_to: Option<String>,
    pub created_at: String,
    pub last_message_at: String,
    /// When staff should have answered the patient's oldest unanswered message.
    pub reply_due_at: Option<String>,
    /// The reply target has passed and the thread still waits for staff.
    pub overdue: bool,
    /// Messages the caller's side has not read.
    pub unread: i64,
    pub message_count: i64,
}

impl ThreadResponse {
    fn of(t: &Thread, now: Timestamp, for_patient: bool) -> Self {
        Self {
            id: t.id.to_string(),
            site_id: t.site_id.to_string(),
            patient_id: t.patient_id.to_string(),
            clinician_id: t.clinician_id.map(|c| c.to_string()),
            subject: t.subject.clone(),
            status: t.status.as_str().into(),
            assigned_to: (!for_patient)
                .then(|| t.assigned_to.map(|u| u.to_string()))
                .flatten(),
            created_at: t.created_at.to_string(),
            last_message_at: t.last_message_at.to_string(),
            reply_due_at: (!for_patient)
                .then(|| t.reply_due_at.map(|d| d.to_string()))
                .flatten(),
            overdue: !for_patient && t.overdue(now),
            unread: if for_patient {
                t.patient_unread
            } else {
                t.staff_unread
            },
            message_count: t.message_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub id: String,
    pub author_id: String,
    pub from_patient: bool,
    /// A note between staff (never sent to the patient).
    pub staff_only: bool,
    pub body: String,
    pub sent_at: String,
    /// Read receipt: when the other side first read it.
    pub read_at: Option<String>,
    pub attachments: Vec<AttachmentResponse>,
}

impl From<&Message> for MessageResponse {
    fn from(m: &Message) -> Self {
        Self {
            id: m.id.to_string(),
            author_id: m.author_id.to_string(),
            from_patient: m.from_patient,
            staff_only: m.staff_only,
            body: m.body.clone(),
            sent_at: m.sent_at.to_string(),
            read_at: m.read_at.map(|t| t.to_string()),
            attachments: m.attachments.iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadDetailResponse {
    pub thread: ThreadResponse,
    /// Oldest first.
    pub messages: Vec<MessageResponse>,
    /// Opened through emergency access (flagged in the audit trail).
    pub emergency: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxThread {
    #[serde(flatten)]
    pub thread: ThreadResponse,
    pub patient_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxResponse {
    pub threads: Vec<InboxThread>,
    /// Threads of the site with messages no staff member has read.
    pub unread: i64,
    /// Threads of the site past their reply target.
    pub overdue: i64,
    /// Pass as `before` for the next page; `null` on the last page.
    pub next_before: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// The site whose inbox to read.
    pub site_id: String,
    /// open, waiting_on_patient or closed.
    pub status: Option<String>,
    /// A staff member's id, or `me`.
    pub assigned_to: Option<String>,
    /// Only threads with unread messages.
    pub unread_only: Option<bool>,
    /// Only threads past their reply target.
    pub overdue_only: Option<bool>,
    /// `next_before` of the previous page.
    pub before: Option<String>,
    /// 1 to 100, default 25.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientSite {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientClinician {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientsResponse {
    /// The care teams of the clinics that care for the patient.
    pub sites: Vec<RecipientSite>,
    /// Clinicians who saw the patient.
    pub clinicians: Vec<RecipientClinician>,
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, DomainError> {
    raw.trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, "is not a valid id"))
}

impl InboxParams {
    fn query(&self, me: Option<UserId>, now: Timestamp) -> Result<InboxQuery, DomainError> {
        let assigned_to = match self.assigned_to.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("me") => me,
            Some(raw) => Some(parse_id("assigned_to", raw)?),
        };
        Ok(InboxQuery {
            site_id: Some(parse_id("site_id", &self.site_id)?),
            status: self
                .status
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| ThreadStatus::parse("status", s.trim()))
                .transpose()?,
            not_closed: false,
            assigned_to,
            unread_only: self.unread_only.unwrap_or(false),
            overdue_at: self.overdue_only.unwrap_or(false).then_some(now),
            before: self
                .before
                .as_deref()
                .map(|b| {
                    b.trim()
                        .parse::<Timestamp>()
                        .map_err(|_| DomainError::invalid("before", "is not a time"))
                })
                .transpose()?,
            limit: self.limit.unwrap_or(25),
        })
    }
}

/// Where the signed-in patient may write: their clinics' care teams and clinicians who saw them.
#[utoipa::path(get, path = "/api/v1/me/recipients", tag = "messages",
    responses((status = 200, body = RecipientsResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn my_recipients(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<RecipientsResponse>> {
    let r = messaging::recipients(state.ctx(), &actor).await?;
    Ok(Json(RecipientsResponse {
        sites: r
            .sites
            .into_iter()
            .map(|s| RecipientSite {
                id: s.id.to_string(),
                name: s.name,
            })
            .collect(),
        clinicians: r
            .clinicians
            .into_iter()
            .map(|(id, name)| RecipientClinician {
                id: id.to_string(),
                name,
            })
            .collect(),
    }))
}

/// Start a thread: a patient writing to their care team, or staff writing to a patient.
/// A site that does not care for the patient: 422 naming `site_id`; a file that is not a JPEG,
/// PNG or PDF by its content, or over the size limit: 422 naming `files[i]`.
#[utoipa::path(post, path = "/api/v1/threads", tag = "messages", request_body = NewThreadRequest,
    responses((status = 201, body = ThreadResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn start_thread(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    UploadJson(body): UploadJson<NewThreadRequest>,
) -> ApiResult<(StatusCode, Json<ThreadResponse>)> {
    let input = NewThread {
        patient_id: body.patient_id,
        site_id: body.site_id,
        clinician_id: body.clinician_id,
        subject: body.subject,
        body: body.body,
        files: uploads(body.files)?,
    };
    let thread = messaging::start(state.ctx(), &actor, &input).await?;
    let for_patient = actor.role == Some(Role::Patient);
    Ok((
        StatusCode::CREATED,
        Json(ThreadResponse::of(&thread, state.clock.now(), for_patient)),
    ))
}

/// A site's inbox: newest activity first, with the site's unread and overdue counts.
#[utoipa::path(get, path = "/api/v1/threads", tag = "messages", params(InboxParams),
    responses((status = 200, body = InboxResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn inbox(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<InboxParams>,
) -> ApiResult<Json<InboxResponse>> {
    let now = state.clock.now();
    let query = params.query(actor.user_id(), now)?;
    let limit = query.limit.clamp(1, 100);
    let page = messaging::inbox(state.ctx(), &actor, query).await?;
    let next_before = (page.threads.len() as i64 == limit)
        .then(|| page.threads.last().map(|t| t.last_message_at.to_string()))
        .flatten();
    Ok(Json(InboxResponse {
        threads: page
            .threads
            .iter()
            .map(|t| InboxThread {
                thread: ThreadResponse::of(t, now, false),
                patient_name: page.patient_name(t.patient_id),
            })
            .collect(),
        unread: page.counts.unread,
        overdue: page.counts.overdue,
        next_before,
    }))
}

/// The signed-in patient's threads, newest activity first.
#[utoipa::path(get, path = "/api/v1/me/threads", tag = "messages",
    responses((status = 200, body = Vec<ThreadResponse>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn my_threads(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<ThreadResponse>>> {
    let now = state.clock.now();
    let list = messaging::my_threads(state.ctx(), &actor).await?;
    Ok(Json(
        list.iter()
            .map(|t| ThreadResponse::of(t, now, true))
            .collect(),
    ))
}

/// One thread with its messages (staff-only notes for staff only); marks them read.
#[utoipa::path(get, path = "/api/v1/threads/{id}", tag = "messages",
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 200, body = ThreadDetailResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_thread(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<ThreadId>,
) -> ApiResult<Json<ThreadDetailResponse>> {
    let view = messaging::open(state.ctx(), &actor, id).await?;
    let for_patient = actor.role == Some(Role::Patient);
    Ok(Json(ThreadDetailResponse {
        thread: ThreadResponse::of(&view.thread, state.clock.now(), for_patient),
        messages: view.messages.iter().map(Into::into).collect(),
        emergency: view.emergency,
    }))
}

/// Reply on a thread, or (staff) add a staff-only note.
#[utoipa::path(post, path = "/api/v1/threads/{id}/messages", tag = "messages",
    params(("id" = String, Path, description = "Thread id")), request_body = ReplyRequest,
    responses((status = 201, body = MessageResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn reply(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<ThreadId>,
    UploadJson(body): UploadJson<ReplyRequest>,
) -> ApiResult<(StatusCode, Json<MessageResponse>)> {
    let input = Reply {
        body: body.body,
        staff_only: body.staff_only,
        files: uploads(body.files)?,
    };
    let message = messaging::reply(state.ctx(), &actor, id, &input).await?;
    Ok((StatusCode::CREATED, Json((&message).into())))
}

async fn act(
    state: &AppState,
    actor: &domain::Actor,
    id: ThreadId,
    action: ThreadAction,
) -> ApiResult<Json<ThreadResponse>> {
    let thread = messaging::act(state.ctx(), actor, id, action).await?;
    Ok(Json(ThreadResponse::of(&thread, state.clock.now(), false)))
}

/// Close a thread (staff). Closing a closed thread: 409 `thread_transition`.
#[utoipa::path(post, path = "/api/v1/threads/{id}/close", tag = "messages",
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 200, body = ThreadResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn close(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<ThreadId>,
) -> ApiResult<Json<ThreadResponse>> {
    act(&state, &actor, id, ThreadAction::Close).await
}

/// Reopen a closed thread (staff).
#[utoipa::path(post, path = "/api/v1/threads/{id}/reopen", tag = "messages",
    params(("id" = String, Path, description = "Thread id")),
    responses((status = 200, body = ThreadResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<ThreadId>,
) -> ApiResult<Json<ThreadResponse>> {
    act(&state, &actor, id, ThreadAction::Reopen).await
}

/// Assign a thread to a staff member of its site, or leave it unassigned (staff).
#[utoipa::path(post, path = "/api/v1/threads/{id}/assign", tag = "messages",
    params(("id" = String, Path, description = "Thread id")), request_body = AssignRequest,
    responses((status = 200, body = ThreadResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<ThreadId>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> ApiResult<Json<ThreadResponse>> {
    let to = match body.assigned_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_id("assigned_to", raw)?),
    };
    act(&state, &actor, id, ThreadAction::Assign(to)).await
}

/// The bytes of a file as a download, with the type found in its content; the read is audited.
pub fn file_response(file: &domain::messaging::Attachment) -> Response {
    let name: String = file
        .meta
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    (
        [
            (header::CONTENT_TYPE, file.meta.kind.as_str().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        file.bytes.clone(),
    )
        .into_response()
}

/// Download an attachment (for whoever may open its thread; audited).
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "messages",
    params(("id" = String, Path, description = "Attachment id")),
    responses((status = 200, description = "The file (image/jpeg, image/png or application/pdf)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn download(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AttachmentId>,
) -> ApiResult<Response> {
    let file = messaging::attachment(state.ctx(), &actor, id).await?;
    Ok(file_response(&file))
}
