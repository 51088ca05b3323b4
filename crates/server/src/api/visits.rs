//! `/api/v1/visits`: virtual visits (opened by checking a virtual appointment in), the waiting
//! room, admitting, ending, guests and emergencies; `/api/v1/alerts` for the site's staff.
//! Live updates and video signaling go over the WebSocket `/api/v1/visits/{id}/live`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::ids::{AppointmentId, EscalationId, InviteId};
use domain::visits::service::guests::{self, InviteInput};
use domain::visits::service::record::{self, WaitingRoomFilter};
use domain::visits::service::{alerts, call};
use domain::visits::{
    Escalation, Invite, InviteDelivery, QuestionnaireInput, Visit, VisitLogEntry, VisitOutcome,
};

use crate::auth::actor::ApiActor;
use crate::auth::secrets::{random_token, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::mail::Email;
use crate::state::AppState;

/// A pre-visit questionnaire's answers; which fields matter depends on the service line's form.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireRequest {
    /// PHQ-9 (behavioral health): nine answers, each 0 (not at all) to 3 (nearly every day).
    #[serde(default)]
    pub phq9: Vec<i64>,
    /// Urgent care: the main complaint in the patient's words.
    pub complaint: Option<String>,
    /// Urgent care: for how many days.
    pub days: Option<i64>,
    pub fever: Option<bool>,
    pub chest_pain: Option<bool>,
    pub trouble_breathing: Option<bool>,
    /// Urgent care: pain from 0 to 10.
    pub pain: Option<i64>,
    pub notes: Option<String>,
}

impl From<QuestionnaireRequest> for QuestionnaireInput {
    fn from(q: QuestionnaireRequest) -> Self {
        Self {
            phq9: q.phq9,
            complaint: q.complaint,
            days: q.days,
            fever: q.fever,
            chest_pain: q.chest_pain,
            trouble_breathing: q.trouble_breathing,
            pain: q.pain,
            notes: q.notes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitResponse {
    /// The appointment's id (a visit is one appointment's virtual meeting).
    pub id: String,
    pub patient_id: String,
    pub clinician_id: String,
    pub site_id: String,
    /// waiting, admitted, in_call, reconnecting, ended, cancelled
    pub state: String,
    /// completed, patient_left or technical_failure, once ended.
    pub outcome: Option<String>,
    /// As booked.
    pub modality: String,
    /// Video, or audio_only if the call went audio-only at any point.
    pub modality_used: String,
    pub audio_only: bool,
    /// Where the patient said they are for this visit.
    pub location_state: String,
    pub location_text: String,
    /// The questionnaire's flags for the clinician (`phq9_item9_positive`, `chest_pain`...).
    pub flags: Vec<String>,
    /// PHQ-9 total, 0 to 27, when the form was a PHQ-9.
    pub phq9_score: Option<i64>,
    pub checked_in_at: String,
    pub admitted_at: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub waiting_minutes: i64,
    pub call_minutes: Option<i64>,
    /// Connections dropped during the call.
    pub drops: i64,
}

impl VisitResponse {
    fn of(v: &Visit, now: jiff::Timestamp) -> Self {
        Self {
            id: v.appointment_id.to_string(),
            patient_id: v.patient_id.to_string(),
            clinician_id: v.clinician_id.to_string(),
            site_id: v.site_id.to_string(),
            state: v.state.as_str().into(),
            outcome: v.outcome.map(|o| o.as_str().into()),
            modality: v.modality.as_str().into(),
            modality_used: v.modality_used().as_str().into(),
            audio_only: v.audio_only,
            location_state: v.location_state.code().into(),
            location_text: v.location_text.clone(),
            flags: v.flags(),
            phq9_score: v.questionnaire.as_ref().and_then(|q| q.score),
            checked_in_at: v.checked_in_at.to_string(),
            admitted_at: v.admitted_at.map(|t| t.to_string()),
            started_at: v.started_at.map(|t| t.to_string()),
            ended_at: v.ended_at.map(|t| t.to_string()),
            waiting_minutes: v.waiting_minutes(now),
            call_minutes: v.call_minutes(),
            drops: v.drops,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteResponse {
    pub id: String,
    pub name: String,
    /// interpreter, family, caregiver or other
    pub relation: String,
    pub email: Option<String>,
    /// link_shown, emailed or email_failed
    pub delivery: String,
    /// invited, waiting (opened the link), admitted or expired
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub admitted_at: Option<String>,
}

impl InviteResponse {
    fn of(i: &Invite, now: jiff::Timestamp) -> Self {
        Self {
            id: i.id.to_string(),
            name: i.name.clone(),
            relation: i.relation.as_str().into(),
            email: i.email.as_ref().map(|e| e.as_str().to_string()),
            delivery: i.delivery.as_str().into(),
            status: i.status(now).into(),
            created_at: i.created_at.to_string(),
            expires_at: i.expires_at.to_string(),
            used_at: i.used_at.map(|t| t.to_string()),
            admitted_at: i.admitted_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationResponse {
    pub id: String,
    /// emergency or licensure_mismatch
    pub kind: String,
    pub appointment_id: String,
    pub site_id: String,
    pub raised_by: Option<String>,
    pub raised_at: String,
    pub location_state: String,
    pub location_text: String,
    pub reason: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

impl From<&Escalation> for EscalationResponse {
    fn from(e: &Escalation) -> Self {
        Self {
            id: e.id.to_string(),
            kind: e.kind.as_str().into(),
            appointment_id: e.appointment_id.to_string(),
            site_id: e.site_id.to_string(),
            raised_by: e.raised_by.map(|u| u.to_string()),
            raised_at: e.raised_at.to_string(),
            location_state: e.location_state.code().into(),
            location_text: e.location_text.clone(),
            reason: e.reason.clone(),
            acknowledged_by: e.acknowledged_by.map(|u| u.to_string()),
            acknowledged_at: e.acknowledged_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitLogResponse {
    pub at: String,
    /// checked_in, admitted, connected, dropped, reconnected, audio_only, video, guest_joined,
    /// guest_admitted, escalation, ended, cancelled
    pub kind: String,
    /// user, client, operator, guest
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub detail: Option<String>,
}

impl From<&VisitLogEntry> for VisitLogResponse {
    fn from(e: &VisitLogEntry) -> Self {
        Self {
            at: e.at.to_string(),
            kind: e.kind.clone(),
            actor_kind: e.actor.kind().into(),
            actor_id: e.actor.id(),
            detail: e.detail.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QualityResponse {
    pub samples: i64,
    pub avg_round_trip_ms: Option<f64>,
    pub max_round_trip_ms: Option<f64>,
    pub avg_packet_loss_pct: Option<f64>,
    pub max_packet_loss_pct: Option<f64>,
    pub avg_bitrate_kbps: Option<f64>,
}

/// Everything recorded about a visit.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitRecordResponse {
    pub visit: VisitResponse,
    /// The appointment's planned start and end.
    pub planned_start: String,
    pub planned_end: String,
    pub appointment_status: String,
    pub log: Vec<VisitLogResponse>,
    pub quality: QualityResponse,
    pub invites: Vec<InviteResponse>,
    pub escalations: Vec<EscalationResponse>,
    /// What the people in the call typed to each other, oldest first.
    pub chat: Vec<ChatLineResponse>,
}

/// One line of a visit's chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatLineResponse {
    pub at: String,
    /// `patient`, `clinician` or `guest`.
    pub role: String,
    /// The sender as the others saw them in the call.
    pub name: String,
    pub text: String,
}

/// Get a visit's record: times, waiting, duration, modality used, connection quality, drops,
/// guests, escalations, the chat and outcome. The read is audited.
#[utoipa::path(get, path = "/api/v1/visits/{id}", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = VisitRecordResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get_record(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<VisitRecordResponse>> {
    let r = record::get(state.ctx(), &actor, id).await?;
    let now = state.clock.now();
    Ok(Json(VisitRecordResponse {
        visit: VisitResponse::of(&r.visit, now),
        planned_start: r.appointment.start_at.to_string(),
        planned_end: r.appointment.end_at.to_string(),
        appointment_status: r.appointment.status.as_str().into(),
        log: r.log.iter().map(Into::into).collect(),
        quality: QualityResponse {
            samples: r.quality.samples,
            avg_round_trip_ms: r.quality.avg_round_trip_ms,
            max_round_trip_ms: r.quality.max_round_trip_ms,
            avg_packet_loss_pct: r.quality.avg_packet_loss_pct,
            max_packet_loss_pct: r.quality.max_packet_loss_pct,
            avg_bitrate_kbps: r.quality.avg_bitrate_kbps,
        },
        invites: r
            .invites
            .iter()
            .map(|i| InviteResponse::of(i, now))
            .collect(),
        escalations: r.escalations.iter().map(Into::into).collect(),
        chat: r
            .chat
            .iter()
            .map(|c| ChatLineResponse {
                at: c.at.to_string(),
                role: c.role.as_str().into(),
                name: c.name.clone(),
                text: c.text.clone(),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomParams {
    /// One site's waiting room (default: the clinician's own patients, or the staff member's sites).
    pub site_id: Option<String>,
    /// One clinician's patients.
    pub clinician_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingEntryResponse {
    pub visit: VisitResponse,
    pub patient_name: Option<String>,
    /// The patient's preferred language.
    pub language: Option<String>,
    pub visit_type_id: String,
    pub planned_start: String,
    pub invites: Vec<InviteResponse>,
}

fn parse_id<T: std::str::FromStr>(field: &str, raw: Option<String>) -> Result<Option<T>, ApiError> {
    raw.map(|r| {
        r.trim()
            .parse()
            .map_err(|_| ApiError::from(domain::DomainError::invalid(field, "is not a valid id")))
    })
    .transpose()
}

/// The waiting room: patients checked in for a virtual visit and not yet done (waiting, or in a
/// call), longest waiting first. The list is audited.
#[utoipa::path(get, path = "/api/v1/visits", tag = "visits",
    params(WaitingRoomParams),
    responses((status = 200, body = Vec<WaitingEntryResponse>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn waiting_room(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<WaitingRoomParams>,
) -> ApiResult<Json<Vec<WaitingEntryResponse>>> {
    let filter = WaitingRoomFilter {
        site_id: parse_id("site_id", params.site_id)?,
        clinician_id: parse_id("clinician_id", params.clinician_id)?,
    };
    let entries = record::waiting_room(state.ctx(), &actor, &filter).await?;
    let now = state.clock.now();
    Ok(Json(
        entries
            .iter()
            .map(|e| WaitingEntryResponse {
                visit: VisitResponse::of(&e.visit, now),
                patient_name: e.patient.as_ref().map(|p| p.full_name()),
                language: e.patient.as_ref().map(|p| p.preferred_language.clone()),
                visit_type_id: e.appointment.visit_type_id.to_string(),
                planned_start: e.appointment.start_at.to_string(),
                invites: e
                    .invites
                    .iter()
                    .map(|i| InviteResponse::of(i, now))
                    .collect(),
            })
            .collect(),
    ))
}

/// Let the waiting patient in (the visit's clinician). The patient's screen follows at once.
#[utoipa::path(post, path = "/api/v1/visits/{id}/admit", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = VisitResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition or conflict", body = ErrorBody),
        (status = 422, description = "clinician_not_certified", body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn admit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<VisitResponse>> {
    let v = call::admit(state.ctx(), &actor, id).await?;
    Ok(Json(VisitResponse::of(&v, state.clock.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndVisitRequest {
    /// completed, patient_left or technical_failure
    #[schema(example = "completed")]
    pub outcome: String,
}

/// End the visit (the visit's clinician), saying how it ended; completes the appointment.
#[utoipa::path(post, path = "/api/v1/visits/{id}/end", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = EndVisitRequest,
    responses((status = 200, body = VisitResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn end(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<EndVisitRequest>,
) -> ApiResult<Json<VisitResponse>> {
    let outcome = VisitOutcome::parse("outcome", &body.outcome)?;
    let v = call::end(state.ctx(), &actor, id, outcome).await?;
    Ok(Json(VisitResponse::of(&v, state.clock.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(example = "Ana Ruiz")]
    pub name: String,
    /// interpreter, family, caregiver or other
    #[schema(example = "interpreter")]
    pub relation: String,
    /// Where to email the link; without it, pass the link on yourself.
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteCreatedResponse {
    pub invite: InviteResponse,
    /// The one-time link for the guest. Shown only now: only its hash is kept.
    pub link: String,
}

/// Sends an invitation email; its delivery is recorded either way.
pub async fn deliver_invite(state: &AppState, invite: &Invite, link: &str) -> InviteDelivery {
    let (Some(to), Some(mailer)) = (&invite.email, &state.mailer) else {
        return InviteDelivery::LinkShown;
    };
    let email = Email {
        to: to.as_str().to_string(),
        subject: "You are invited to join a video visit".into(),
        text: format!(
            "Hello {},\n\nYou are invited to join a Telemed video visit as {}.\n\
             Open this link on the day of the visit (it works once, on one device):\n\n{link}\n\n\
             The clinician lets you into the call. You need a browser with a camera or microphone; \
             nothing to install.\n",
            invite.name,
            invite.relation.label().to_lowercase(),
        ),
        calendar: None,
    };
    let delivery = match mailer.send(&email).await {
        Ok(()) => InviteDelivery::Emailed,
        Err(e) => {
            tracing::warn!(invite = %invite.id, error = %e, "invitation email failed");
            InviteDelivery::EmailFailed
        }
    };
    if let Err(e) = guests::delivered(state.ctx(), invite, delivery).await {
        tracing::warn!(invite = %invite.id, error = %e, "invitation delivery not recorded");
    }
    delivery
}

/// Invite a guest (an interpreter, a family member) by a one-time link that expires (the visit's
/// clinician or patient). At most two guests per visit.
#[utoipa::path(post, path = "/api/v1/visits/{id}/invites", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = InviteRequest,
    responses((status = 201, body = InviteCreatedResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<InviteRequest>,
) -> ApiResult<(StatusCode, Json<InviteCreatedResponse>)> {
    let token = random_token();
    let input = InviteInput {
        name: body.name,
        relation: body.relation,
        email: body.email,
    };
    let mut invite = guests::invite(state.ctx(), &actor, id, &input, &sha256_hex(&token)).await?;
    let link = format!("{}/join/{token}", state.config.public_base());
    invite.delivery = deliver_invite(&state, &invite, &link).await;
    Ok((
        StatusCode::CREATED,
        Json(InviteCreatedResponse {
            invite: InviteResponse::of(&invite, state.clock.now()),
            link,
        }),
    ))
}

/// A visit's invitations, with their delivery and whether the guest joined.
#[utoipa::path(get, path = "/api/v1/visits/{id}/invites", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = Vec<InviteResponse>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_invites(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<Vec<InviteResponse>>> {
    let invites = guests::list(state.ctx(), &actor, id).await?;
    let now = state.clock.now();
    Ok(Json(
        invites.iter().map(|i| InviteResponse::of(i, now)).collect(),
    ))
}

/// Let a guest who opened their link into the call (the visit's clinician).
#[utoipa::path(post, path = "/api/v1/visits/{id}/invites/{invite_id}/admit", tag = "visits",
    params(("id" = String, Path, description = "Appointment id"), ("invite_id" = String, Path, description = "Invitation id")),
    responses((status = 200, body = InviteResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn admit_guest(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath((id, invite_id)): ApiPath<(AppointmentId, InviteId)>,
) -> ApiResult<Json<InviteResponse>> {
    let invite = guests::admit(state.ctx(), &actor, id, invite_id).await?;
    Ok(Json(InviteResponse::of(&invite, state.clock.now())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRequest {
    /// What is happening.
    #[schema(example = "chest pain, patient unresponsive")]
    pub reason: String,
}

/// Raise an emergency during a visit (its clinician): the time, where the patient is and why are
/// recorded, and the site's staff are alerted at once.
#[utoipa::path(post, path = "/api/v1/visits/{id}/emergency", tag = "visits",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = EmergencyRequest,
    responses((status = 201, body = EscalationResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn emergency(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<EmergencyRequest>,
) -> ApiResult<(StatusCode, Json<EscalationResponse>)> {
    let e = alerts::raise_emergency(state.ctx(), &actor, id, &body.reason).await?;
    Ok((StatusCode::CREATED, Json((&e).into())))
}

/// Alerts nobody acknowledged yet at your sites: emergencies, and check-ins stopped because the
/// clinician is not licensed where the patient is.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "visits",
    responses((status = 200, body = Vec<EscalationResponse>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_alerts(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<EscalationResponse>>> {
    let open = alerts::open(state.ctx(), &actor).await?;
    Ok(Json(open.iter().map(Into::into).collect()))
}

/// Acknowledge an alert: you are handling it.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "visits",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 204, description = "Acknowledged"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn acknowledge_alert(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<EscalationId>,
) -> ApiResult<StatusCode> {
    alerts::acknowledge(state.ctx(), &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
