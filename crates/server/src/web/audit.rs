//! The audit trail (search, CSV export) and the review of emergency access.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use domain::compliance::service as audit;
use domain::compliance::{AuditAction, AuditActor, AuditNames, AuditRecord, Outcome};
use domain::identity::service::org;
use domain::ids::BreakGlassId;
use domain::{DomainError, Permission, access};

use crate::api::audit::{AuditParams, csv_response};
use crate::state::AppState;

use super::form::{Field, FormData, FormErrors, PageQuery, Select};
use super::page::{PageError, PageResult, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use crate::auth::actor::SignedIn;

const PAGE_SIZE: i64 = 100;

fn time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time on the audit page, to the second, in the auditor's zone.
fn local_time(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// The zone the auditor works in: that of their first site, else the organization's first site,
/// else UTC.
async fn viewer_zone(state: &AppState, me: &SignedIn) -> Result<TimeZone, PageError> {
    let sites = org::list_sites(state.ctx(), &me.actor, me.actor.org()?).await?;
    let site = me
        .user
        .site_ids
        .iter()
        .find_map(|id| sites.iter().find(|s| s.id == *id))
        .or(sites.first());
    Ok(site
        .and_then(|s| TimeZone::get(s.time_zone.as_str()).ok())
        .unwrap_or(TimeZone::UTC))
}

/// Someone a record names: their name where we know it, with the id kept for hovering and copying.
pub struct Named {
    pub name: String,
    pub id: String,
}

pub struct AuditRow {
    pub time: String,
    /// "and 57 more times until 10:04:58": identical list reads counted with this record.
    pub repeated: Option<String>,
    pub actor: Named,
    pub role: String,
    pub action: &'static str,
    pub resource: String,
    pub patient: Option<Named>,
    pub outcome: &'static str,
    /// `ok`, `denied` or `failed`, for the badge colour.
    pub outcome_class: &'static str,
    pub flagged: bool,
    pub source_ip: String,
    pub detail: String,
}

impl AuditRow {
    fn new(r: AuditRecord, names: &AuditNames, tz: &TimeZone) -> Self {
        let e = r.entry;
        let resource = match &e.resource_id {
            Some(id) => format!("{} {id}", e.resource_type),
            None => e.resource_type.clone(),
        };
        let actor = match e.actor.id() {
            Some(id) => Named {
                name: names
                    .actor(&id)
                    .map(str::to_string)
                    .unwrap_or_else(|| actor_label(&e.actor).to_string()),
                id,
            },
            None => Named {
                name: actor_label(&e.actor).to_string(),
                id: String::new(),
            },
        };
        Self {
            time: local_time(e.at, tz),
            repeated: r.repeated.map(|x| {
                let more = if x.times == 1 {
                    "once more".to_string()
                } else {
                    format!("{} more times", x.times)
                };
                format!("and {more}, until {}", local_time(x.last_at, tz))
            }),
            actor,
            role: e
                .actor
                .role()
                .map(|r| r.label().to_string())
                .unwrap_or_default(),
            action: e.action.as_str(),
            resource,
            patient: e.patient_id.map(|p| Named {
                name: names
                    .patient(p)
                    .map_or_else(|| "Patient not found".to_string(), str::to_string),
                id: p.to_string(),
            }),
            outcome: e.outcome.as_str(),
            outcome_class: match e.outcome {
                Outcome::Success => "ok",
                Outcome::Denied => "denied",
                Outcome::Failure => "failed",
            },
            flagged: e.flagged,
            source_ip: e.source_ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        }
    }
}

/// Who acted, in words, where no name is known.
fn actor_label(actor: &AuditActor) -> &'static str {
    match actor {
        AuditActor::User { .. } => "Unknown user",
        AuditActor::Client { .. } => "Unknown client",
        AuditActor::Operator => "Operator (command line)",
        AuditActor::Anonymous => "Unknown account",
        AuditActor::Guest { .. } => "Guest by invitation",
        AuditActor::VisitLink { .. } => "Patient by join link",
    }
}

#[derive(Template)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    shell: Shell,
    errors: FormErrors,
    user: Field,
    patient: Field,
    action: Select,
    from: Field,
    to: Field,
    flagged: bool,
    searched: bool,
    /// "America/New_York (EST)": the zone the times and days are in.
    zone: String,
    rows: Vec<AuditRow>,
    export_href: String,
    next_href: Option<String>,
    prev_href: Option<String>,
}

const LABELS: [(&str, &str); 5] = [
    ("user", "User or client"),
    ("patient", "Patient"),
    ("action", "Action"),
    ("from", "From"),
    ("to", "To"),
];

/// The filters as a query string (without paging), for the export link and page links.
fn filter_pairs(p: &AuditParams) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    let fields = [
        ("user", &p.user),
        ("patient", &p.patient),
        ("action", &p.action),
        ("from", &p.from),
        ("to", &p.to),
    ];
    for (name, value) in fields {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            pairs.push((name, v.to_string()));
        }
    }
    if p.flagged == Some(true) {
        pairs.push(("flagged", "true".to_string()));
    }
    pairs
}

fn href(path: &str, mut pairs: Vec<(&'static str, String)>, offset: i64) -> String {
    if offset > 0 {
        pairs.push(("offset", offset.to_string()));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

fn parse_params(raw: Option<&str>) -> Result<AuditParams, PageError> {
    serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|_| {
        PageError::BadRequest(
            "The search has a filter this page does not understand. Start a new search.".into(),
        )
    })
}

/// The search form and the newest matching entries.
pub async fn search(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let actor = &me.actor;
    access::require(actor, Permission::ReadAudit)?;
    let params = parse_params(raw.as_deref())?;
    let tz = viewer_zone(&state, &me).await?;
    let mut errors = FormErrors::default();
    let mut rows = Vec::new();
    let offset = params.offset.unwrap_or(0).max(0);
    let mut more = false;
    let found = match params.to_search_in(&tz) {
        Ok(mut search) => {
            search.query.limit = PAGE_SIZE + 1;
            search.query.offset = offset;
            audit::search(state.ctx(), actor, search, false).await
        }
        Err(err) => Err(err),
    };
    match found {
        Ok(mut found) => {
            more = found.records.len() as i64 > PAGE_SIZE;
            found.records.truncate(PAGE_SIZE as usize);
            rows = found
                .records
                .into_iter()
                .map(|r| AuditRow::new(r, &found.names, &tz))
                .collect();
        }
        Err(err @ (DomainError::Invalid(_) | DomainError::InvalidFields(_))) => {
            errors = FormErrors::from_domain(err, &LABELS)?;
        }
        Err(other) => return Err(other.into()),
    }
    let text = |name: &str, label: &str, value: &Option<String>| {
        Field::new(name, label, value.clone().unwrap_or_default())
            .optional()
            .errors(&errors)
    };
    let pairs = filter_pairs(&params);
    let page = AuditPage {
        shell: Shell::new(&me, Section::Audit),
        user: text("user", "User or client", &params.user)
            .hint("A name, part of an email address, or an id."),
        patient: text("patient", "Patient", &params.patient)
            .hint("The start of their name or MRN, or an id."),
        action: Select::new(
            "action",
            "Action",
            AuditAction::ALL.map(|a| (a.as_str().to_string(), a.as_str().to_string())),
            params.action.as_deref().unwrap_or_default().trim(),
            Some("Any action"),
        )
        .optional()
        .errors(&errors),
        from: text("from", "From", &params.from).kind("date"),
        to: text("to", "To", &params.to).kind("date"),
        flagged: params.flagged == Some(true),
        searched: errors.is_empty(),
        zone: format!(
            "{} ({})",
            tz.iana_name().unwrap_or("UTC"),
            super::when::zone_abbreviation(state.clock.now(), &tz)
        ),
        rows,
        export_href: href("/audit/export.csv", pairs.clone(), 0),
        next_href: more.then(|| href("/audit", pairs.clone(), offset + PAGE_SIZE)),
        prev_href: (offset > 0).then(|| href("/audit", pairs, (offset - PAGE_SIZE).max(0))),
        errors,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render(status, &page))
}

/// The same search as a CSV download.
pub async fn export(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let params = parse_params(raw.as_deref())?;
    let tz = viewer_zone(&state, &me).await?;
    let mut search = params.to_search_in(&tz)?;
    search.query.limit = params.limit.unwrap_or(100_000);
    let found = audit::search(state.ctx(), &me.actor, search, true).await?;
    Ok(csv_response(found)?)
}

pub struct GrantRow {
    pub user: String,
    pub patient: Named,
    pub reason: String,
    pub granted_at: String,
    pub expires_at: String,
    pub review_action: String,
    /// What the reviewer found: asked for before the access is marked reviewed.
    pub comment: Field,
}

#[derive(Template)]
#[template(path = "pages/break_glass_review.html")]
struct ReviewPage {
    shell: Shell,
    errors: FormErrors,
    rows: Vec<GrantRow>,
}

/// A review sent back: the grant it was about, what was typed and what was wrong.
struct Refused {
    id: BreakGlassId,
    comment: String,
    errors: FormErrors,
}

/// Emergency access nobody has reviewed yet, newest first.
pub async fn break_glass(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<DoneParams>,
) -> PageResult {
    let notice = match params.done.as_deref() {
        Some("reviewed") => Some("Marked as reviewed. Your finding is in the audit trail."),
        Some("already") => Some("Someone had already reviewed that access."),
        _ => None,
    };
    review_page(&state, &me, notice, None).await
}

async fn review_page(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    notice: Option<&'static str>,
    refused: Option<Refused>,
) -> PageResult {
    let actor = &me.actor;
    let grants = audit::list_break_glass(state.ctx(), actor, true).await?;
    let names = audit::break_glass_names(state.ctx(), actor, &grants).await?;
    let rows = grants
        .into_iter()
        .map(|g| {
            let scope = g.id.to_string();
            let (typed, errors) = match &refused {
                Some(r) if r.id == g.id => (r.comment.clone(), r.errors.clone()),
                _ => (String::new(), FormErrors::default()),
            };
            GrantRow {
            comment: Field::new("comment", "What you found", typed)
                .hint("For the audit trail: who confirmed the emergency, or what needs following up.")
                .scope(&scope)
                .errors(&errors),
            user: names
                .actor(&g.user_id.to_string())
                .map_or_else(|| g.user_id.to_string(), str::to_string),
            patient: Named {
                name: names
                    .patient(g.patient_id)
                    .map_or_else(|| "Patient not found".to_string(), str::to_string),
                id: g.patient_id.to_string(),
            },
            reason: g.reason,
            granted_at: time(g.granted_at),
            expires_at: time(g.expires_at),
            review_action: format!("/audit/break-glass/{}/review", g.id),
            }
        })
        .collect();
    let (status, errors) = match refused {
        Some(r) => (StatusCode::UNPROCESSABLE_ENTITY, r.errors),
        None => (StatusCode::OK, FormErrors::default()),
    };
    Ok(render(
        status,
        &ReviewPage {
            shell: Shell::new(me, Section::BreakGlass).notice(notice),
            errors,
            rows,
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

pub async fn review(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: BreakGlassId = raw.parse().map_err(|_| PageError::NotFound)?;
    let comment = form.get("comment");
    match audit::review_break_glass(state.ctx(), &me.actor, id, comment).await {
        Ok(()) => Ok(see_other("/audit/break-glass?done=reviewed")),
        Err(DomainError::Conflict { .. }) => Ok(see_other("/audit/break-glass?done=already")),
        Err(err @ DomainError::Invalid(_)) => {
            let errors = FormErrors::from_domain(err, &[("comment", "What you found")])?
                .scoped(&id.to_string());
            let refused = Refused {
                id,
                comment: comment.to_string(),
                errors,
            };
            review_page(&state, &me, None, Some(refused)).await
        }
        Err(other) => Err(other.into()),
    }
}
