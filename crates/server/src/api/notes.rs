//! Visit notes over JSON: ICD-10-CM search, start, read, save, sign, addenda, the unsigned list
//! and after-visit summaries.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::ids::{AppointmentId, NoteId};
use domain::notes::service::{self as notes, NoteView};
use domain::notes::summary::AfterVisitSummary;
use domain::notes::{Addendum, Note, NoteInput, icd10};

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeResponse {
    pub code: String,
    pub description: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeSearch {
    /// A code or its start (`J06`), or words of the description (`acute sinusitis`).
    pub q: String,
    /// At most this many (1 to 50, default 20).
    pub limit: Option<usize>,
}

/// Search the bundled ICD-10-CM release (billable codes only).
#[utoipa::path(get, path = "/api/v1/icd10", tag = "notes", params(CodeSearch),
    responses((status = 200, body = Vec<CodeResponse>), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn search_codes(
    ApiActor(_actor): ApiActor,
    ApiQuery(q): ApiQuery<CodeSearch>,
) -> ApiResult<Json<Vec<CodeResponse>>> {
    let limit = q.limit.unwrap_or(20).clamp(1, 50);
    Ok(Json(
        icd10::search(&q.q, limit)
            .into_iter()
            .map(|c| CodeResponse {
                code: c.code.into(),
                description: c.description.into(),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignatureResponse {
    pub signed_by: String,
    pub signed_at: String,
    /// SHA-256 (hex) of what was signed.
    pub sha256: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddendumResponse {
    pub id: String,
    pub text: String,
    pub signature: SignatureResponse,
}

impl From<&Addendum> for AddendumResponse {
    fn from(a: &Addendum) -> Self {
        Self {
            id: a.id.to_string(),
            text: a.text.clone(),
            signature: SignatureResponse {
                signed_by: a.signature.by.to_string(),
                signed_at: a.signature.at.to_string(),
                sha256: a.signature.sha256.clone(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteResponse {
    pub id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub clinician_id: String,
    /// soap, behavioral_health or urgent_care
    pub template: String,
    /// draft or signed
    pub status: String,
    /// Send it back with a save or a signature.
    pub version: i64,
    /// The telehealth facts from the visit record (read-only).
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    /// Subjective, objective, assessment, plan, instructions and the template's blocks.
    #[schema(value_type = Object)]
    pub sections: serde_json::Value,
    pub diagnoses: Vec<CodeResponse>,
    pub signature: Option<SignatureResponse>,
    /// The stored digest matches the content.
    pub signature_matches: Option<bool>,
    pub addenda: Vec<AddendumResponse>,
}

impl NoteResponse {
    fn of(note: &Note, addenda: &[Addendum], matches: Option<bool>) -> Self {
        Self {
            id: note.id.to_string(),
            appointment_id: note.appointment_id.to_string(),
            patient_id: note.patient_id.to_string(),
            clinician_id: note.clinician_id.to_string(),
            template: note.template.as_str().into(),
            status: note.status.as_str().into(),
            version: note.version,
            facts: serde_json::to_value(&note.facts).unwrap_or_default(),
            sections: serde_json::to_value(&note.sections).unwrap_or_default(),
            diagnoses: note
                .diagnoses
                .iter()
                .map(|d| CodeResponse {
                    code: d.code.clone(),
                    description: d.description.clone(),
                })
                .collect(),
            signature: note.signature.as_ref().map(|s| SignatureResponse {
                signed_by: s.by.to_string(),
                signed_at: s.at.to_string(),
                sha256: s.sha256.clone(),
            }),
            signature_matches: matches,
            addenda: addenda.iter().map(Into::into).collect(),
        }
    }
}

impl From<NoteView> for NoteResponse {
    fn from(v: NoteView) -> Self {
        let matches = v.note.signature.is_some().then_some(v.signature_matches);
        Self::of(&v.note, &v.addenda, matches)
    }
}

impl From<Note> for NoteResponse {
    fn from(note: Note) -> Self {
        Self::of(&note, &[], None)
    }
}

/// The fields of a draft. Blank fields are empty sections.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteFields {
    #[serde(default)]
    pub subjective: String,
    #[serde(default)]
    pub objective: String,
    #[serde(default)]
    pub assessment: String,
    #[serde(default)]
    pub plan: String,
    /// For the patient: what to do now.
    #[serde(default)]
    pub instructions: String,
    /// For the patient: when to seek care sooner.
    #[serde(default)]
    pub warning_signs: String,
    /// Behavioral health only.
    #[serde(default)]
    pub risk_assessment: String,
    /// Urgent care only: emergent, urgent, less_urgent, non_urgent.
    pub acuity: Option<String>,
    /// Urgent care only: home_care, primary_care, in_person_urgent_care, emergency_department.
    pub disposition: Option<String>,
    /// ICD-10-CM billable codes, most important first.
    #[serde(default)]
    pub diagnoses: Vec<String>,
    /// Days until a proposed follow-up (1 to 365).
    pub follow_up_days: Option<i64>,
    pub follow_up_modality: Option<String>,
    pub follow_up_reason: Option<String>,
}

impl From<NoteFields> for NoteInput {
    fn from(f: NoteFields) -> Self {
        NoteInput {
            subjective: f.subjective,
            objective: f.objective,
            assessment: f.assessment,
            plan: f.plan,
            instructions: f.instructions,
            warning_signs: f.warning_signs,
            risk_assessment: f.risk_assessment,
            acuity: f.acuity,
            disposition: f.disposition,
            diagnoses: f.diagnoses,
            follow_up_days: f.follow_up_days.map(|d| d.to_string()),
            follow_up_modality: f.follow_up_modality,
            follow_up_reason: f.follow_up_reason,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveNoteRequest {
    /// The version the changes were made to.
    pub version: i64,
    pub fields: NoteFields,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignNoteRequest {
    pub version: i64,
    /// Last changes to save with the signature; omit to sign the saved draft.
    pub fields: Option<NoteFields>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddendumRequest {
    pub text: String,
}

/// Start the note of an appointment (returns the existing one if it has one).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/note", tag = "notes",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 201, body = NoteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn start_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<(StatusCode, Json<NoteResponse>)> {
    let note = notes::start(state.ctx(), &actor, id).await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}

/// The note of an appointment.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/note", tag = "notes",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = NoteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn appointment_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<NoteResponse>> {
    match notes::for_appointment(state.ctx(), &actor, id).await? {
        Some(view) => Ok(Json(view.into())),
        None => Err(domain::DomainError::NotFound { resource: "note" }.into()),
    }
}

/// One note with its addenda.
#[utoipa::path(get, path = "/api/v1/notes/{id}", tag = "notes",
    params(("id" = String, Path, description = "Note id")),
    responses((status = 200, body = NoteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<NoteId>,
) -> ApiResult<Json<NoteResponse>> {
    Ok(Json(notes::get(state.ctx(), &actor, id).await?.into()))
}

/// Save a draft. A signed note answers 409 `note_signed`; an older version 409 `note_changed`.
#[utoipa::path(put, path = "/api/v1/notes/{id}", tag = "notes",
    params(("id" = String, Path, description = "Note id")), request_body = SaveNoteRequest,
    responses((status = 200, body = NoteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn save_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<NoteId>,
    ApiJson(body): ApiJson<SaveNoteRequest>,
) -> ApiResult<Json<NoteResponse>> {
    let input = NoteInput::from(body.fields);
    Ok(Json(
        notes::save(state.ctx(), &actor, id, body.version, &input)
            .await?
            .into(),
    ))
}

/// Sign the note: only the visit's clinician; at least one diagnosis. Locks the note.
#[utoipa::path(post, path = "/api/v1/notes/{id}/sign", tag = "notes",
    params(("id" = String, Path, description = "Note id")), request_body = SignNoteRequest,
    responses((status = 200, body = NoteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn sign_note(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<NoteId>,
    ApiJson(body): ApiJson<SignNoteRequest>,
) -> ApiResult<Json<NoteResponse>> {
    let input = body.fields.map(NoteInput::from);
    Ok(Json(
        notes::sign(state.ctx(), &actor, id, body.version, input.as_ref())
            .await?
            .into(),
    ))
}

/// Add a signed addendum to a signed note.
#[utoipa::path(post, path = "/api/v1/notes/{id}/addenda", tag = "notes",
    params(("id" = String, Path, description = "Note id")), request_body = AddendumRequest,
    responses((status = 201, body = AddendumResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn add_addendum(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<NoteId>,
    ApiJson(body): ApiJson<AddendumRequest>,
) -> ApiResult<(StatusCode, Json<AddendumResponse>)> {
    let addendum = notes::addend(state.ctx(), &actor, id, &body.text).await?;
    Ok((StatusCode::CREATED, Json((&addendum).into())))
}

/// The signed-in clinician's drafts older than the configured limit (default 72 hours).
#[utoipa::path(get, path = "/api/v1/notes/unsigned", tag = "notes",
    responses((status = 200, body = Vec<NoteResponse>), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn unsigned_notes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<NoteResponse>>> {
    let list = notes::unsigned(state.ctx(), &actor).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    pub note_id: String,
    pub appointment_id: String,
    pub visit_at: String,
    pub clinician: String,
    pub site: String,
    pub how: String,
    pub diagnoses: Vec<CodeResponse>,
    pub instructions: String,
    pub follow_up: Option<String>,
    pub warning_signs: String,
    pub contact: String,
    pub read: Option<bool>,
}

impl SummaryResponse {
    fn of(s: AfterVisitSummary, read: Option<bool>) -> Self {
        Self {
            note_id: s.note_id.to_string(),
            appointment_id: s.appointment_id.to_string(),
            visit_at: s.visit_at.to_string(),
            clinician: s.clinician_name,
            site: s.site_name,
            how: s.how.into(),
            diagnoses: s
                .diagnoses
                .into_iter()
                .map(|d| CodeResponse {
                    code: d.code,
                    description: d.description,
                })
                .collect(),
            instructions: s.instructions,
            follow_up: s.follow_up,
            warning_signs: s.warning_signs,
            contact: s.contact,
            read,
        }
    }
}

/// The after-visit summary of a signed note (the patient's own, or for staff with access).
#[utoipa::path(get, path = "/api/v1/notes/{id}/summary", tag = "notes",
    params(("id" = String, Path, description = "Note id")),
    responses((status = 200, body = SummaryResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_summary(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<NoteId>,
) -> ApiResult<Json<SummaryResponse>> {
    let summary = notes::summary(state.ctx(), &actor, id).await?;
    Ok(Json(SummaryResponse::of(summary, None)))
}

/// The signed-in patient's after-visit summaries, newest first.
#[utoipa::path(get, path = "/api/v1/me/summaries", tag = "notes",
    responses((status = 200, body = Vec<SummaryResponse>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn my_summaries(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<SummaryResponse>>> {
    let list = notes::my_summaries(state.ctx(), &actor).await?;
    Ok(Json(
        list.into_iter()
            .map(|(s, read)| SummaryResponse::of(s, Some(read)))
            .collect(),
    ))
}
