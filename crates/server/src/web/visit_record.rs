//! A visit's record for clinicians and staff, `/visits/{id}/record`: its times, waiting and
//! duration, the modality used, connection quality, drops, outcome, log, guests (with how their
//! link went out and whether they joined) and escalations.

use askama::Template;
use axum::extract::{Path, State};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use domain::identity::Role;
use domain::ids::AppointmentId;
use domain::scheduling::Appointment;
use domain::visits::service::record;
use domain::visits::{InviteDelivery, VisitState};

use crate::state::AppState;

use super::appointment_view::{Directory, state_label};
use super::appointments::Detail;
use super::check_in_answers::CheckInAnswers;
use super::page::{PageError, PageResult, ok, see_other};
use super::session::PageUser;
use super::shell::{Section, Shell};
use super::when;

pub struct LogRow {
    pub when: String,
    pub what: String,
    pub who: String,
    pub detail: String,
}

pub struct GuestRecord {
    pub name: String,
    pub relation: &'static str,
    pub delivery: &'static str,
    pub status: &'static str,
    pub invited: String,
    pub joined: String,
}

pub struct EscalationRow {
    pub label: &'static str,
    pub raised: String,
    pub location: String,
    pub reason: String,
    pub acknowledged: String,
}

/// A line of the visit's chat.
pub struct ChatRow {
    pub at: String,
    pub who: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "pages/visit_record.html")]
struct RecordPage {
    shell: Shell,
    heading: String,
    state: &'static str,
    times: Vec<Detail>,
    summary: Vec<Detail>,
    quality: Vec<Detail>,
    log: Vec<LogRow>,
    guests: Vec<GuestRecord>,
    escalations: Vec<EscalationRow>,
    chat: Vec<ChatRow>,
    live_href: Option<String>,
    appointment_href: String,
    note_href: String,
    /// For clinical staff: the check-in answers.
    answers: Option<CheckInAnswers>,
}

fn detail(label: &'static str, value: String) -> Detail {
    Detail { label, value }
}

fn at(t: Option<Timestamp>, tz: &TimeZone) -> String {
    t.map_or_else(|| "Not yet".to_string(), |t| when::when(t, tz))
}

fn number(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "No data".to_string(), |x| format!("{x:.1} {unit}"))
}

fn log_label(kind: &str) -> String {
    match kind {
        "checked_in" => "Checked in",
        "admitted" => "Patient let in",
        "connected" => "Call connected",
        "dropped" => "Connection dropped",
        "reconnected" => "Reconnected",
        "audio_only" => "Switched to audio only",
        "video" => "Back to video",
        "guest_invited" => "Guest invited",
        "guest_joined" => "Guest opened their link",
        "guest_admitted" => "Guest let in",
        "escalation" => "Emergency raised",
        "ended" => "Visit ended",
        "cancelled" => "Visit cancelled",
        other => return other.replace('_', " "),
    }
    .to_string()
}

/// "Booked for Tue 3 Dec, 09:00 to 09:30 (EST)", or when a visit from the queue was taken.
fn booked(a: &Appointment, dir: &Directory, tz: &TimeZone) -> Detail {
    if a.on_demand() {
        return detail("Taken from the queue", when::when(a.start_at, tz));
    }
    detail("Booked for", when::span(a.start_at, dir.booked_end(a), tz))
}

/// In plain words, when the visit ended against the time booked: early, before it was due to
/// start, or after its time. Nothing while it is not over, or when it ended on time.
fn what_happened(
    a: &Appointment,
    dir: &Directory,
    ended: Option<Timestamp>,
    tz: &TimeZone,
) -> Option<Detail> {
    let ended = ended?;
    if a.on_demand() {
        return None;
    }
    let end = dir.booked_end(a);
    let minutes = |from: Timestamp, to: Timestamp| when::minutes(to.duration_since(from).as_mins());
    let text = if ended < a.start_at {
        format!(
            "Seen early: the visit ended at {}, {} before its booked start.",
            when::clock(ended, tz),
            minutes(ended, a.start_at)
        )
    } else if ended.duration_until(end).as_mins() >= 1 {
        format!(
            "Ended at {}, {} before the booked end; the rest of the time was freed.",
            when::clock(ended, tz),
            minutes(ended, end)
        )
    } else if end.duration_until(ended).as_mins() >= 1 {
        format!(
            "Ran over: ended at {}, {} after the booked end.",
            when::clock(ended, tz),
            minutes(end, ended)
        )
    } else {
        return None;
    };
    Some(detail("What happened", text))
}

/// `GET /visits/{id}/record`.
pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
) -> PageResult {
    let id: AppointmentId = raw.parse().map_err(|_| PageError::NotFound)?;
    if me.user.role == Role::Patient {
        return Ok(see_other(&format!("/appointments/{id}")));
    }
    let actor = &me.actor;
    let r = record::get(state.ctx(), actor, id).await?;
    let dir = Directory::load(&state, actor)
        .await?
        .with_patients(&state, actor, std::slice::from_ref(&r.appointment))
        .await?;
    let tz = dir.zone(r.visit.site_id);
    let v = &r.visit;
    let now = state.clock.now();
    let patient = dir
        .patient(v.patient_id)
        .map_or_else(|| "The patient".to_string(), |p| p.full_name());
    let mut times = vec![booked(&r.appointment, &dir, &tz)];
    times.extend(what_happened(&r.appointment, &dir, v.ended_at, &tz));
    times.extend([
        detail("Checked in", when::when(v.checked_in_at, &tz)),
        detail("Let in", at(v.admitted_at, &tz)),
        detail("Call started", at(v.started_at, &tz)),
        detail("Ended", at(v.ended_at, &tz)),
        detail("Waiting time", when::minutes(v.waiting_minutes(now))),
        detail(
            "Call duration",
            v.call_minutes()
                .map_or_else(|| "Not over yet".to_string(), when::minutes),
        ),
    ]);
    let summary = vec![
        detail("Patient", patient.clone()),
        detail("Clinician", dir.clinician_name(v.clinician_id)),
        detail("Visit type", dir.visit_type_name(&r.appointment)),
        detail("Booked as", v.modality.label().to_string()),
        detail("Modality used", v.modality_used().label().to_string()),
        detail(
            "Outcome",
            v.outcome.map_or_else(
                || "Not ended yet".to_string(),
                |o| match o {
                    domain::visits::VisitOutcome::Completed => "Completed".to_string(),
                    domain::visits::VisitOutcome::PatientLeft => "The patient left".to_string(),
                    domain::visits::VisitOutcome::TechnicalFailure => {
                        "Technical failure".to_string()
                    }
                },
            ),
        ),
        detail("Connection drops", v.drops.to_string()),
        detail(
            "Patient's location",
            format!("{}: {}", state_label(v.location_state), v.location_text),
        ),
        detail(
            "Questionnaire",
            if v.flags().is_empty() {
                "No flags".to_string()
            } else {
                v.flags().join("; ")
            },
        ),
    ];
    let q = &r.quality;
    let quality = vec![
        detail("Reports", q.samples.to_string()),
        detail("Round trip (average)", number(q.avg_round_trip_ms, "ms")),
        detail("Round trip (worst)", number(q.max_round_trip_ms, "ms")),
        detail("Packet loss (average)", number(q.avg_packet_loss_pct, "%")),
        detail("Packet loss (worst)", number(q.max_packet_loss_pct, "%")),
        detail("Bitrate (average)", number(q.avg_bitrate_kbps, "kbit/s")),
    ];
    let log = r
        .log
        .iter()
        .map(|e| LogRow {
            when: when::when(e.at, &tz),
            what: log_label(&e.kind),
            who: dir.who(&e.actor, actor),
            detail: e.detail.clone().unwrap_or_default().replace('_', " "),
        })
        .collect();
    let guests = r
        .invites
        .iter()
        .map(|i| GuestRecord {
            name: i.name.clone(),
            relation: i.relation.label(),
            delivery: match i.delivery {
                InviteDelivery::LinkShown => "Link given to pass on",
                InviteDelivery::Emailed => "Emailed",
                InviteDelivery::EmailFailed => "Email failed",
            },
            status: match i.status(now) {
                "admitted" => "Let into the call",
                "waiting" => "Joined, not let in",
                "expired" => "Never joined (link expired)",
                _ => "Not joined yet",
            },
            invited: when::when(i.created_at, &tz),
            joined: i.used_at.map_or_else(String::new, |t| when::when(t, &tz)),
        })
        .collect();
    let escalations = r
        .escalations
        .iter()
        .map(|e| EscalationRow {
            label: e.kind.label(),
            raised: when::when(e.raised_at, &tz),
            location: format!("{}: {}", state_label(e.location_state), e.location_text),
            reason: e.reason.clone(),
            acknowledged: e
                .acknowledged_at
                .map_or_else(|| "Not yet".to_string(), |t| when::when(t, &tz)),
        })
        .collect();
    let chat = r
        .chat
        .iter()
        .map(|c| ChatRow {
            at: when::clock(c.at, &tz),
            who: c.name.clone(),
            text: c.text.clone(),
        })
        .collect();
    let own = actor.user_id() == Some(v.clinician_id);
    Ok(ok(&RecordPage {
        chat,
        shell: Shell::new(&me, Section::WaitingRoom),
        heading: format!("Visit record: {patient}"),
        state: match v.state {
            VisitState::Waiting => "Waiting",
            VisitState::Admitted => "Let in",
            VisitState::InCall => "In the call",
            VisitState::Reconnecting => "Reconnecting",
            VisitState::Ended => "Ended",
            VisitState::Cancelled => "Cancelled",
        },
        times,
        summary,
        quality,
        log,
        guests,
        escalations,
        answers: CheckInAnswers::for_role(v, me.user.role),
        live_href: (own && !v.state.is_over()).then(|| format!("/visits/{id}")),
        note_href: format!("/visits/{id}/note"),
        appointment_href: format!("/appointments/{id}"),
    }))
}
