//! The staff's and clinicians' waiting room, `/waiting-room`: open alerts (emergencies,
//! check-ins stopped by the licensure rule) first, then the patients checked in for a video visit
//! and not yet done, per site and per clinician. The page's script re-reads it whenever the staff
//! WebSocket says a queue changed or an alert was raised; without it the page reloads itself.

use askama::Template;
use axum::extract::{Path, State};
use jiff::Timestamp;
use serde::Deserialize;

use domain::identity::Role;
use domain::ids::{EscalationId, SiteId, UserId};
use domain::visits::service::alerts;
use domain::visits::service::record::{self, WaitingEntry, WaitingRoomFilter};
use domain::visits::{Escalation, VisitState};

use crate::state::AppState;

use super::appointment_view::{Directory, language_name, state_label};
use super::check_in_answers::CheckInAnswers;
use super::form::{FormData, PageQuery, Select};
use super::page::{PageError, PageResult, ok, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

pub struct AlertRow {
    pub label: &'static str,
    pub emergency: bool,
    pub raised: String,
    pub site: String,
    pub location: String,
    pub reason: String,
    pub visit_href: String,
    pub acknowledge_action: String,
}

pub struct QueueRow {
    pub patient: String,
    pub visit_type: String,
    pub clinician: String,
    pub site: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub waiting_since: String,
    pub waited: String,
    pub flags: Vec<String>,
    /// For clinical staff: a line of what the patient told us at check-in.
    pub told: Option<String>,
    pub language: String,
    pub guests: String,
    /// The visit's own clinician lets the patient in from here.
    pub admit_action: Option<String>,
    pub open_href: String,
    pub open_label: &'static str,
}

/// The rows of one site's or one clinician's queue.
pub struct QueueGroup {
    pub title: String,
    pub rows: Vec<QueueRow>,
}

#[derive(Template)]
#[template(path = "pages/waiting_room.html")]
struct WaitingRoomPage {
    shell: Shell,
    alerts: Vec<AlertRow>,
    groups: Vec<QueueGroup>,
    total: usize,
    site: Select,
    clinician: Select,
    by_clinician: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    site: Option<String>,
    clinician: Option<String>,
    /// `site` (default) or `clinician`.
    by: Option<String>,
}

fn state_text(state: VisitState) -> (&'static str, &'static str) {
    match state {
        VisitState::Waiting => ("Waiting", "badge-open"),
        VisitState::Admitted => ("Let in", "badge-ok"),
        VisitState::InCall => ("In the call", "badge-ok"),
        VisitState::Reconnecting => ("Reconnecting", "badge-late"),
        VisitState::Ended => ("Ended", "badge-done"),
        VisitState::Cancelled => ("Cancelled", "badge-cancelled"),
    }
}

fn guests_text(e: &WaitingEntry, now: Timestamp) -> String {
    if e.invites.is_empty() {
        return "None".into();
    }
    e.invites
        .iter()
        .map(|i| {
            let status = match i.status(now) {
                "admitted" => "in the call",
                "waiting" => "joined, waiting",
                "expired" => "link expired",
                _ => "expected",
            };
            format!(
                "{} ({}): {status}",
                i.name,
                i.relation.label().to_lowercase()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn alert_row(dir: &Directory, e: &Escalation) -> AlertRow {
    let tz = dir.zone(e.site_id);
    AlertRow {
        label: e.kind.label(),
        emergency: e.kind == domain::visits::EscalationKind::Emergency,
        raised: when::when(e.raised_at, &tz),
        site: dir.site_name(e.site_id),
        location: format!("{}: {}", state_label(e.location_state), e.location_text),
        reason: e.reason.clone(),
        visit_href: format!("/visits/{}/record", e.appointment_id),
        acknowledge_action: format!("/waiting-room/alerts/{}/acknowledge", e.id),
    }
}

/// `GET /waiting-room`.
pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<Params>,
) -> PageResult {
    let actor = &me.actor;
    if me.user.role == Role::Patient {
        return Err(PageError::NotFound);
    }
    let ctx = state.ctx();
    let parse = |raw: &Option<String>| {
        raw.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let site_raw = parse(&params.site);
    let clinician_raw = parse(&params.clinician);
    let filter = WaitingRoomFilter {
        site_id: site_raw
            .as_deref()
            .map(|s| s.parse::<SiteId>().map_err(|_| PageError::NotFound))
            .transpose()?,
        clinician_id: clinician_raw
            .as_deref()
            .map(|s| s.parse::<UserId>().map_err(|_| PageError::NotFound))
            .transpose()?,
    };
    let entries = record::waiting_room(ctx, actor, &filter).await?;
    let open = alerts::open(ctx, actor).await?;
    let appointments: Vec<_> = entries.iter().map(|e| e.appointment.clone()).collect();
    let dir = Directory::load(&state, actor)
        .await?
        .with_patients(&state, actor, &appointments)
        .await?;
    let now = state.clock.now();
    let me_id = actor.user_id();
    let by_clinician = params.by.as_deref() == Some("clinician")
        || (me.user.role == Role::Clinician && params.by.is_none() && filter.site_id.is_none());
    let mut groups: Vec<QueueGroup> = Vec::new();
    for e in &entries {
        let v = &e.visit;
        let tz = dir.zone(v.site_id);
        let (state_label_text, state_class) = state_text(v.state);
        let own = me_id == Some(v.clinician_id);
        let row = QueueRow {
            patient: e.patient.as_ref().map_or_else(
                || "Patient record not available".to_string(),
                |p| format!("{}, {}", p.family_name, p.given_name),
            ),
            visit_type: dir.visit_type_name(&e.appointment),
            clinician: dir.clinician_name(v.clinician_id),
            site: dir.site_name(v.site_id),
            state: state_label_text,
            state_class,
            waiting_since: when::clock(v.checked_in_at, &tz),
            waited: when::minutes(v.waiting_minutes(now)),
            flags: v.flags(),
            told: CheckInAnswers::for_role(v, me.user.role).map(|a| a.summary),
            language: e
                .patient
                .as_ref()
                .map(|p| language_name(&p.preferred_language))
                .unwrap_or_default(),
            guests: guests_text(e, now),
            admit_action: (own && v.state == VisitState::Waiting)
                .then(|| format!("/visits/{}/admit", v.appointment_id)),
            open_href: if own {
                format!("/visits/{}", v.appointment_id)
            } else {
                format!("/visits/{}/record", v.appointment_id)
            },
            open_label: if own {
                "Open the visit"
            } else {
                "Open the record"
            },
        };
        let title = if by_clinician {
            dir.clinician_name(v.clinician_id)
        } else {
            dir.site_name(v.site_id)
        };
        match groups.iter_mut().find(|g| g.title == title) {
            Some(g) => g.rows.push(row),
            None => groups.push(QueueGroup {
                title,
                rows: vec![row],
            }),
        }
    }
    groups.sort_by(|a, b| a.title.cmp(&b.title));
    let site = Select::new(
        "site",
        "Site",
        dir.sites().map(|s| (s.id.to_string(), s.name.clone())),
        site_raw.as_deref().unwrap_or_default(),
        Some("All my sites"),
    );
    let clinician = Select::new(
        "clinician",
        "Clinician",
        dir.clinicians()
            .into_iter()
            .map(|c| (c.id.to_string(), c.name.clone())),
        clinician_raw.as_deref().unwrap_or_default(),
        Some(if me.user.role == Role::Clinician {
            "My patients"
        } else {
            "Every clinician"
        }),
    );
    Ok(ok(&WaitingRoomPage {
        shell: Shell::new(&me, Section::WaitingRoom),
        alerts: open.iter().map(|e| alert_row(&dir, e)).collect(),
        total: entries.len(),
        groups,
        site,
        clinician,
        by_clinician,
    }))
}

/// `POST /waiting-room/alerts/{id}/acknowledge`: a staff member is handling the alert.
pub async fn acknowledge(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id: EscalationId = raw.parse().map_err(|_| PageError::NotFound)?;
    match alerts::acknowledge(state.ctx(), &me.actor, id).await {
        // Someone else acknowledged it meanwhile: it is being handled all the same.
        Ok(()) | Err(domain::DomainError::Conflict { .. }) => Ok(see_other("/waiting-room")),
        Err(other) => Err(other.into()),
    }
}
