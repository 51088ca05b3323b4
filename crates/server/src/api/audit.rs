//! `/api/v1/audit`: search and export the trail; review emergency access.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use domain::DomainError;
use domain::compliance::service as audit;
use domain::compliance::{
    AuditAction, AuditNames, AuditQuery, AuditRecord, AuditResults, AuditSearch, BreakGlassGrant,
};
use domain::error::AllFields;
use domain::ids::BreakGlassId;

use crate::auth::actor::ApiActor;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Who acted: a user's or client's id, or part of their name or email.
    pub user: Option<String>,
    /// Whom it was about: a patient's id, or the start of their name (each word) or MRN.
    pub patient: Option<String>,
    /// Action name such as `patient.read`.
    pub action: Option<String>,
    /// From this day (inclusive), `YYYY-MM-DD`, UTC.
    pub from: Option<String>,
    /// Up to this day (inclusive), `YYYY-MM-DD`, UTC.
    pub to: Option<String>,
    /// Only entries flagged for review (emergency access).
    pub flagged: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl AuditParams {
    /// Turns text filters into a search, days counted in UTC; every bad value names its parameter.
    pub fn to_search(&self) -> Result<AuditSearch, DomainError> {
        self.to_search_in(&jiff::tz::TimeZone::UTC)
    }

    /// The same, with `from` and `to` days in the zone `tz` (the auditor's own, on the pages).
    pub fn to_search_in(&self, tz: &jiff::tz::TimeZone) -> Result<AuditSearch, DomainError> {
        let day = |field: &str,
                   raw: &Option<String>,
                   add_days: i64|
         -> Result<Option<jiff::Timestamp>, DomainError> {
            match given(raw) {
                None => Ok(None),
                Some(text) => {
                    let date = domain::identity::parse_date(field, text)?;
                    let date = date
                        .checked_add(jiff::Span::new().days(add_days))
                        .map_err(|_| DomainError::invalid(field, "is out of range"))?;
                    date.to_zoned(tz.clone())
                        .map(|z| Some(z.timestamp()))
                        .map_err(|_| DomainError::invalid(field, "is out of range"))
                }
            }
        };
        let action = given(&self.action)
            .map(|raw| {
                AuditAction::parse(raw).ok_or_else(|| {
                    DomainError::invalid(
                        "action",
                        format!("'{raw}' is not an audit action such as patient.read"),
                    )
                })
            })
            .transpose();
        let (action, from, to) =
            (action, day("from", &self.from, 0), day("to", &self.to, 1)).all_fields()?;
        Ok(AuditSearch {
            query: AuditQuery {
                action,
                from,
                to,
                flagged_only: self.flagged.unwrap_or(false),
                limit: self.limit.unwrap_or(100),
                offset: self.offset.unwrap_or(0),
                ..AuditQuery::default()
            },
            who: given(&self.user).map(str::to_string),
            patient: given(&self.patient).map(str::to_string),
        })
    }
}

/// A filter's text, unless it is blank.
fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordResponse {
    pub seq: i64,
    pub at: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    /// The user's or client's name, where the organization has it.
    pub actor_name: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub source_ip: Option<String>,
    pub outcome: String,
    pub flagged: bool,
    pub detail: Option<String>,
    pub hash: String,
    /// The same list read again within five minutes, counted here (the record itself not counted).
    pub repeated_times: i64,
    /// When the latest of those repeats was.
    pub repeated_last_at: Option<String>,
}

impl AuditRecordResponse {
    fn new(r: AuditRecord, names: &AuditNames) -> Self {
        let e = r.entry;
        let actor_id = e.actor.id();
        Self {
            seq: r.seq,
            at: e.at.to_string(),
            actor_kind: e.actor.kind().into(),
            actor_name: actor_id
                .as_deref()
                .and_then(|id| names.actor(id))
                .map(str::to_string),
            actor_id,
            role: e.actor.role().map(|r| r.as_str().into()),
            action: e.action.as_str().into(),
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            patient_id: e.patient_id.map(|p| p.to_string()),
            patient_name: e
                .patient_id
                .and_then(|p| names.patient(p))
                .map(str::to_string),
            source_ip: e.source_ip,
            outcome: e.outcome.as_str().into(),
            flagged: e.flagged,
            detail: e.detail,
            hash: r.hash,
            repeated_times: r.repeated.map_or(0, |x| x.times),
            repeated_last_at: r.repeated.map(|x| x.last_at.to_string()),
        }
    }

    /// The records found, each with the names it mentions.
    pub fn all(found: AuditResults) -> Vec<Self> {
        let AuditResults { records, names } = found;
        records.into_iter().map(|r| Self::new(r, &names)).collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub records: Vec<AuditRecordResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakGlassItem {
    pub id: String,
    pub user_id: String,
    pub patient_id: String,
    pub reason: String,
    pub granted_at: String,
    pub expires_at: String,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<String>,
}

impl From<BreakGlassGrant> for BreakGlassItem {
    fn from(g: BreakGlassGrant) -> Self {
        Self {
            id: g.id.to_string(),
            user_id: g.user_id.to_string(),
            patient_id: g.patient_id.to_string(),
            reason: g.reason,
            granted_at: g.granted_at.to_string(),
            expires_at: g.expires_at.to_string(),
            reviewed_by: g.reviewed_by.map(|u| u.to_string()),
            reviewed_at: g.reviewed_at.map(|t| t.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakGlassList {
    pub grants: Vec<BreakGlassItem>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassParams {
    /// Only grants nobody has reviewed yet (default true).
    pub unreviewed: Option<bool>,
}

/// Search the audit trail of your organization (auditors, organization administrators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    let found = audit::search(state.ctx(), &actor, params.to_search()?, false).await?;
    Ok(Json(AuditList {
        records: AuditRecordResponse::all(found),
    }))
}

/// The same search as CSV, for spreadsheets and archives.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditParams),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("session" = [])))]
pub async fn export(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let mut search = params.to_search()?;
    search.query.limit = params.limit.unwrap_or(100_000);
    let found = audit::search(state.ctx(), &actor, search, true).await?;
    csv_response(found)
}

/// Writes records as CSV (RFC 4180), one header row first.
pub fn csv_response(found: AuditResults) -> ApiResult<Response> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header_row = [
        "seq",
        "at",
        "actor_kind",
        "actor_id",
        "role",
        "action",
        "resource_type",
        "resource_id",
        "patient_id",
        "source_ip",
        "outcome",
        "flagged",
        "detail",
        "hash",
        "actor_name",
        "patient_name",
        "repeated_times",
        "repeated_last_at",
    ];
    let fail = |e: csv::Error| DomainError::Storage(format!("csv: {e}"));
    writer.write_record(header_row).map_err(fail)?;
    for r in AuditRecordResponse::all(found) {
        writer
            .write_record([
                r.seq.to_string(),
                r.at,
                r.actor_kind,
                r.actor_id.unwrap_or_default(),
                r.role.unwrap_or_default(),
                r.action,
                r.resource_type,
                r.resource_id.unwrap_or_default(),
                r.patient_id.unwrap_or_default(),
                r.source_ip.unwrap_or_default(),
                r.outcome,
                r.flagged.to_string(),
                r.detail.unwrap_or_default(),
                r.hash,
                r.actor_name.unwrap_or_default(),
                r.patient_name.unwrap_or_default(),
                r.repeated_times.to_string(),
                r.repeated_last_at.unwrap_or_default(),
            ])
            .map_err(fail)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| DomainError::Storage(format!("csv: {e}")))?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit.csv\""),
    );
    Ok(response)
}

/// Emergency access grants to review.
#[utoipa::path(get, path = "/api/v1/break-glass", tag = "audit", params(BreakGlassParams),
    responses((status = 200, body = BreakGlassList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn list_break_glass(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiQuery(params): ApiQuery<BreakGlassParams>,
) -> ApiResult<Json<BreakGlassList>> {
    let grants =
        audit::list_break_glass(state.ctx(), &actor, params.unreviewed.unwrap_or(true)).await?;
    Ok(Json(BreakGlassList {
        grants: grants.into_iter().map(Into::into).collect(),
    }))
}

/// The reviewer's finding, kept in the audit trail with the review.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewRequest {
    /// What the reviewer found (1 to 1000 characters).
    #[schema(example = "Confirmed with the ED rota: covering for Dr. Baker")]
    pub comment: String,
}

/// Mark an emergency access grant as reviewed, with what the reviewer found.
#[utoipa::path(post, path = "/api/v1/break-glass/{id}/review", tag = "audit",
    params(("id" = String, Path, description = "Grant id")), request_body = ReviewRequest,
    responses((status = 204, description = "reviewed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn review_break_glass(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<BreakGlassId>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> ApiResult<StatusCode> {
    audit::review_break_glass(state.ctx(), &actor, id, &body.comment).await?;
    Ok(StatusCode::NO_CONTENT)
}
