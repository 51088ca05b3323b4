//! `/api/v1/slots` (search) and `/api/v1/appointments`: booking and every step of an
//! appointment's life, each an explicit state transition recorded with who and when.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::DomainError;
use domain::ids::AppointmentId;
use domain::scheduling::service::appointments::{self, AppointmentListInput, CancelInput};
use domain::scheduling::service::booking::{
    self, BookCommand, OpenSlot, RescheduleCommand, SlotRef, SlotSearch, opt_date, opt_id,
    opt_language, opt_line, opt_state, parse_id,
};
use domain::scheduling::{Appointment, AppointmentEvent};
use domain::visits::service::steps::{self, CheckInInput};

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SlotSearchParams {
    /// Only slots this visit type fits in (its service line and length).
    pub visit_type_id: Option<String>,
    pub service_line: Option<String>,
    /// Where the patient will be during the visit: only clinicians licensed there. A patient's
    /// own search defaults to the state of their address.
    pub patient_state: Option<String>,
    /// The language the patient prefers (`en`, `es`...): a preference, not a filter. Every open
    /// time is listed, those with a clinician who speaks it first (`speaks_language`).
    pub language: Option<String>,
    /// First day, `YYYY-MM-DD` (default today).
    pub from: Option<String>,
    /// Last day, inclusive (default two weeks on).
    pub to: Option<String>,
    pub site_id: Option<String>,
    pub clinician_id: Option<String>,
    /// 1 to 500; default 100.
    pub limit: Option<i64>,
}

impl TryFrom<SlotSearchParams> for SlotSearch {
    type Error = DomainError;

    /// Parses each parameter into the domain's search; an error names the parameter.
    fn try_from(p: SlotSearchParams) -> Result<Self, DomainError> {
        Ok(SlotSearch {
            visit_type_id: opt_id("visit_type_id", p.visit_type_id.as_deref(), "visit type")?,
            service_line: opt_line("service_line", p.service_line.as_deref())?,
            patient_state: opt_state("patient_state", p.patient_state.as_deref())?,
            language: opt_language("language", p.language.as_deref())?,
            from: opt_date("from", p.from.as_deref())?,
            to: opt_date("to", p.to.as_deref())?,
            site_id: opt_id("site_id", p.site_id.as_deref(), "site")?,
            clinician_id: opt_id("clinician_id", p.clinician_id.as_deref(), "clinician")?,
            limit: p.limit,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotResponse {
    pub id: String,
    pub clinician_id: String,
    pub clinician_name: String,
    pub clinician_languages: Vec<String>,
    /// Whether the clinician speaks the language asked for (absent when none was); false means
    /// an interpreter can be invited to the visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speaks_language: Option<bool>,
    pub site_id: String,
    pub site_name: String,
    /// RFC 3339, UTC.
    pub start: String,
    pub end: String,
    /// The start in the site's time zone (RFC 9557, with the zone name).
    pub local_start: String,
    pub time_zone: String,
    pub minutes: i64,
    pub service_lines: Vec<String>,
}

impl From<OpenSlot> for SlotResponse {
    fn from(o: OpenSlot) -> Self {
        Self {
            id: o.slot.id.to_string(),
            clinician_id: o.slot.clinician_id.to_string(),
            clinician_name: o.clinician_name,
            clinician_languages: o.clinician_languages,
            speaks_language: o.speaks_language,
            site_id: o.site.id.to_string(),
            site_name: o.site.name,
            start: o.slot.start_at.to_string(),
            end: o.slot.end_at.to_string(),
            local_start: o.slot.start_at.to_zoned(o.time_zone).to_string(),
            time_zone: o.site.time_zone.as_str().to_string(),
            minutes: o.slot.minutes(),
            service_lines: o
                .slot
                .service_lines
                .lines()
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    pub slots: Vec<SlotResponse>,
}

/// Search open slots, soonest first (with a `language`, those of clinicians who speak it first).
#[utoipa::path(get, path = "/api/v1/slots", tag = "scheduling", params(SlotSearchParams),
    responses((status = 200, body = SlotList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn search_slots(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(p): ApiQuery<SlotSearchParams>,
) -> ApiResult<Json<SlotList>> {
    let input = SlotSearch::try_from(p)?;
    let found = booking::search(state.ctx(), &actor, &input).await?;
    Ok(Json(SlotList {
        slots: found.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentResponse {
    pub id: String,
    pub patient_id: String,
    pub clinician_id: String,
    pub site_id: String,
    /// Empty for an on-demand visit.
    pub slot_id: Option<String>,
    pub visit_type_id: String,
    pub service_line: String,
    pub modality: String,
    pub start: String,
    pub end: String,
    /// Where the patient is (or will be) during the visit.
    pub patient_state: String,
    /// proposed, booked, checked_in, in_visit, completed, cancelled or no_show
    pub status: String,
    pub reason: Option<String>,
    pub late_cancellation: bool,
    pub cancel_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Appointment> for AppointmentResponse {
    fn from(a: Appointment) -> Self {
        Self {
            id: a.id.to_string(),
            patient_id: a.patient_id.to_string(),
            clinician_id: a.clinician_id.to_string(),
            site_id: a.site_id.to_string(),
            slot_id: a.slot_id.map(|s| s.to_string()),
            visit_type_id: a.visit_type_id.to_string(),
            service_line: a.service_line.as_str().into(),
            modality: a.modality.as_str().into(),
            start: a.start_at.to_string(),
            end: a.end_at.to_string(),
            patient_state: a.patient_state.code().into(),
            status: a.status.as_str().into(),
            reason: a.reason,
            late_cancellation: a.late_cancellation,
            cancel_reason: a.cancel_reason,
            created_at: a.created_at.to_string(),
            updated_at: a.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    pub at: String,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    /// user, client, operator (the server's own jobs) or anonymous
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub detail: Option<String>,
}

impl From<AppointmentEvent> for EventResponse {
    fn from(e: AppointmentEvent) -> Self {
        Self {
            at: e.at.to_string(),
            action: e.action.as_str().into(),
            from_status: e.from_status.map(|s| s.as_str().to_string()),
            to_status: e.to_status.as_str().into(),
            actor_kind: e.actor.kind().into(),
            actor_id: e.actor.id(),
            actor_role: e.actor.role().map(|r| r.as_str().to_string()),
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentDetail {
    #[serde(flatten)]
    pub appointment: AppointmentResponse,
    /// Every change, oldest first.
    pub history: Vec<EventResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentList {
    pub appointments: Vec<AppointmentResponse>,
}

/// A booking.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    /// The slot to book, or `clinician_id` and `start` instead.
    pub slot_id: Option<String>,
    pub clinician_id: Option<String>,
    /// RFC 3339 start of the slot, with `clinician_id`.
    pub start: Option<String>,
    pub visit_type_id: String,
    /// Staff and integrations name the patient; a patient books for themselves.
    pub patient_id: Option<String>,
    /// Where the patient will be during the visit (default: the state of their address).
    #[schema(example = "NY")]
    pub patient_state: Option<String>,
    pub reason: Option<String>,
    /// The telehealth consent version the patient accepts now, if they have not yet.
    pub consent_version: Option<i64>,
    /// Staff: hold the slot as a proposal for the patient to confirm.
    #[serde(default)]
    pub propose: bool,
}

impl TryFrom<BookingRequest> for BookCommand {
    type Error = DomainError;

    /// Parses each field into the domain's command; an error names the field.
    fn try_from(r: BookingRequest) -> Result<Self, DomainError> {
        Ok(BookCommand {
            visit_type_id: parse_id("visit_type_id", &r.visit_type_id, "visit type")?,
            slot: SlotRef::parse(
                r.slot_id.as_deref(),
                r.clinician_id.as_deref(),
                r.start.as_deref(),
            )?,
            patient_id: opt_id("patient_id", r.patient_id.as_deref(), "patient")?,
            patient_state: opt_state("patient_state", r.patient_state.as_deref())?,
            reason: r.reason,
            consent_version: r.consent_version,
            propose: r.propose,
        })
    }
}

/// Book a visit. Rules, each with its own error: 404 slot; 422 slot_not_bookable (past,
/// withdrawn, too short, wrong service line); 409 slot_taken; 422 clinician_not_licensed (names
/// the state); 422 clinician_not_certified; 422 consent_required; 409 patient_double_booked.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "scheduling",
    request_body = BookingRequest,
    responses((status = 201, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "slot_taken or patient_double_booked", body = ErrorBody),
        (status = 422, description = "a booking rule refused", body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn book(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<BookingRequest>,
) -> ApiResult<(StatusCode, Json<AppointmentResponse>)> {
    let command = BookCommand::try_from(body)?;
    let created = booking::book(state.ctx(), &actor, &command).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AppointmentListParams {
    pub patient_id: Option<String>,
    pub clinician_id: Option<String>,
    pub site_id: Option<String>,
    /// Starting at or after (RFC 3339).
    pub from: Option<String>,
    /// Starting before (RFC 3339).
    pub to: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// 1 to 1000; default 200.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Appointments the caller may see (a patient: their own), by start time. Audited.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "scheduling", params(AppointmentListParams),
    responses((status = 200, body = AppointmentList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(p): ApiQuery<AppointmentListParams>,
) -> ApiResult<Json<AppointmentList>> {
    let input = AppointmentListInput {
        patient_id: p.patient_id,
        clinician_id: p.clinician_id,
        site_id: p.site_id,
        from: p.from,
        to: p.to,
        status: p.status,
        limit: p.limit,
        offset: p.offset,
    };
    let found = appointments::list(state.ctx(), &actor, &input).await?;
    Ok(Json(AppointmentList {
        appointments: found.into_iter().map(Into::into).collect(),
    }))
}

/// One appointment with its history. Audited.
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = AppointmentDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<AppointmentDetail>> {
    let (appointment, events) = appointments::get(state.ctx(), &actor, id).await?;
    Ok(Json(AppointmentDetail {
        appointment: appointment.into(),
        history: events.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub slot_id: Option<String>,
    pub clinician_id: Option<String>,
    pub start: Option<String>,
    pub patient_state: Option<String>,
    pub consent_version: Option<i64>,
}

impl TryFrom<RescheduleRequest> for RescheduleCommand {
    type Error = DomainError;

    fn try_from(r: RescheduleRequest) -> Result<Self, DomainError> {
        Ok(RescheduleCommand {
            slot: SlotRef::parse(
                r.slot_id.as_deref(),
                r.clinician_id.as_deref(),
                r.start.as_deref(),
            )?,
            patient_state: opt_state("patient_state", r.patient_state.as_deref())?,
            consent_version: r.consent_version,
        })
    }
}

/// Move an upcoming appointment to another slot; every booking rule is checked again.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/reschedule", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = RescheduleRequest,
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn reschedule(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> ApiResult<Json<AppointmentResponse>> {
    let command = RescheduleCommand::try_from(body)?;
    Ok(Json(
        booking::reschedule(state.ctx(), &actor, id, &command)
            .await?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: Option<String>,
    /// Staff: the clinic cancels (never counted as the patient's late cancellation).
    #[serde(default)]
    pub by_clinic: bool,
}

/// Cancel; a patient's cancellation after the cut-off is recorded as late. The slot is free again.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = CancelRequest,
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "invalid_transition", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> ApiResult<Json<AppointmentResponse>> {
    let input = CancelInput {
        reason: body.reason,
        by_clinic: body.by_clinic,
    };
    Ok(Json(
        appointments::cancel(state.ctx(), &actor, id, &input)
            .await?
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub consent_version: Option<i64>,
}

/// Confirm a proposed appointment (booking rules checked again).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/confirm", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = ConfirmRequest,
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<ConfirmRequest>,
) -> ApiResult<Json<AppointmentResponse>> {
    Ok(Json(
        appointments::confirm(state.ctx(), &actor, id, body.consent_version)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// Where the patient is right now; licensure is checked again for it.
    #[schema(example = "NY")]
    pub patient_state: String,
    pub consent_version: Option<i64>,
    /// Virtual visits: where exactly the patient is now (an address or a description), shown to
    /// the clinician for an emergency.
    #[schema(example = "home, 12 Elm St, Albany")]
    pub location: Option<String>,
    /// Virtual visits: the service line's pre-visit questionnaire (PHQ-9 for behavioral health,
    /// a symptom form for urgent care).
    pub questionnaire: Option<crate::api::visits::QuestionnaireRequest>,
}

/// Check in, from the check-in window before the start until the planned end. A virtual visit's
/// check-in opens its waiting room (see `/api/v1/visits/{id}`).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/check-in", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    request_body = CheckInRequest,
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "check_in_not_open, clinician_not_licensed, consent_required...", body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn check_in(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
    ApiJson(body): ApiJson<CheckInRequest>,
) -> ApiResult<Json<AppointmentResponse>> {
    let input = CheckInInput {
        patient_state: body.patient_state,
        consent_version: body.consent_version,
        location: body.location,
        questionnaire: body.questionnaire.map(Into::into).unwrap_or_default(),
    };
    Ok(Json(
        steps::check_in(state.ctx(), &actor, id, &input)
            .await?
            .into(),
    ))
}

/// Start the visit of a checked-in patient.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/start", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn start(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<AppointmentResponse>> {
    Ok(Json(steps::start(state.ctx(), &actor, id).await?.into()))
}

/// End the visit.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/complete", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<AppointmentResponse>> {
    Ok(Json(steps::complete(state.ctx(), &actor, id).await?.into()))
}

/// Staff: mark a booked visit whose start has passed as a no-show.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/no-show", tag = "scheduling",
    params(("id" = String, Path, description = "Appointment id")),
    responses((status = 200, body = AppointmentResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn no_show(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<AppointmentId>,
) -> ApiResult<Json<AppointmentResponse>> {
    Ok(Json(
        appointments::mark_no_show(state.ctx(), &actor, id)
            .await?
            .into(),
    ))
}
