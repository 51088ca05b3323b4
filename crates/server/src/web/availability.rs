//! Clinicians' availability: weekly hours, leave and extra hours, and the booked visits that new
//! leave falls on. A clinician manages their own; front desk and administrators choose one.
//! The page is here; the forms that change hours and leave are `availability_edit.rs`.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::SignedDuration;
use serde::Deserialize;

use domain::identity::Role;
use domain::ids::{ExceptionId, UserId};
use domain::scheduling::availability::{format_time, weekday_name};
use domain::scheduling::service::appointments::{self, AppointmentListInput};
use domain::scheduling::service::availability;
use domain::scheduling::service::directory::{self, ClinicianCard};
use domain::scheduling::{AvailabilityException, AvailabilityTemplate, ExceptionKind, ServiceLine};

use crate::auth::actor::SignedIn;
use crate::state::AppState;

use super::appointment_view::{AppointmentSummary, Directory};
use super::form::{Checkboxes, Field, FormData, FormErrors, PageQuery, Radios, Select};
use super::page::{PageError, PageResult, href, render};
use super::session::PageUser;
use super::shell::{Section, Shell};
use super::when;

/// One line of weekly hours, with the form that ends them.
pub struct HoursRow {
    pub weekday: String,
    pub hours: String,
    pub site: String,
    pub slots: String,
    pub lines: String,
    pub valid: String,
    pub ended: bool,
    pub end_action: Option<String>,
    pub last_day: Field,
}

pub struct ExceptionRow {
    pub kind: &'static str,
    pub from: String,
    pub to: String,
    pub site: String,
    pub reason: String,
}

pub struct HoursForm {
    pub site_id: Select,
    pub weekday: Select,
    pub start_time: Field,
    pub end_time: Field,
    pub slot_minutes: Field,
    pub buffer_minutes: Field,
    pub service_lines: Checkboxes,
    pub valid_from: Field,
    pub valid_until: Field,
}

pub struct ExceptionForm {
    pub kind: Radios,
    pub start: Field,
    pub end: Field,
    pub site_id: Select,
    pub slot_minutes: Field,
    pub buffer_minutes: Field,
    pub service_lines: Checkboxes,
    pub reason: Field,
}

#[derive(Template)]
#[template(path = "pages/availability.html")]
struct AvailabilityPage {
    shell: Shell,
    heading: String,
    picker: Option<Select>,
    clinician_id: String,
    schedule_href: String,
    zone: String,
    errors: FormErrors,
    hours: Vec<HoursRow>,
    exceptions: Vec<ExceptionRow>,
    affected: Option<Vec<AppointmentSummary>>,
    hours_form: Option<HoursForm>,
    exception_form: Option<ExceptionForm>,
}

#[derive(Debug, Deserialize)]
pub struct AvailabilityParams {
    clinician: Option<String>,
    leave: Option<String>,
    done: Option<String>,
}

pub(super) fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "hours_added" => "Weekly hours added. Their times are open for booking.",
        "hours_ended" => {
            "Weekly hours ended. Open times after the last day are withdrawn; booked visits stay."
        }
        "leave_added" => "Leave added. Open times during the leave are withdrawn.",
        "extra_added" => "Extra hours added. Their times are open for booking.",
        _ => return None,
    })
}

pub(super) const HOURS_LABELS: [(&str, &str); 9] = [
    ("site_id", "Clinic"),
    ("weekday", "Day of the week"),
    ("start_time", "Start time"),
    ("end_time", "End time"),
    ("slot_minutes", "Slot length"),
    ("buffer_minutes", "Break after each slot"),
    ("service_lines", "Services"),
    ("valid_from", "First day"),
    ("valid_until", "Last day"),
];

pub(super) const EXCEPTION_LABELS: [(&str, &str); 8] = [
    ("kind", "What"),
    ("start", "From"),
    ("end", "Until"),
    ("extra_site_id", "Clinic"),
    ("extra_slot_minutes", "Slot length"),
    ("extra_buffer_minutes", "Break after each slot"),
    ("extra_service_lines", "Services"),
    ("reason", "Note"),
];

/// The starting values of both forms.
pub(super) fn defaults(today: jiff::civil::Date) -> Vec<(&'static str, String)> {
    vec![
        ("slot_minutes", "30".into()),
        ("buffer_minutes", "0".into()),
        ("valid_from", today.to_string()),
        ("kind", "leave".into()),
        ("extra_slot_minutes", "30".into()),
        ("extra_buffer_minutes", "0".into()),
    ]
}

fn service_line_choices() -> impl Iterator<Item = (String, String)> {
    ServiceLine::ALL
        .iter()
        .map(|l| (l.as_str().to_string(), l.label().to_string()))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The clinician the page is about: the one named, or the clinician signed in.
pub(super) fn clinician_named(
    me: &SignedIn,
    raw: Option<&str>,
) -> Result<Option<UserId>, PageError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        Some(raw) => raw.parse().map(Some).map_err(|_| PageError::NotFound),
        None if me.user.role == Role::Clinician => Ok(Some(me.user.id)),
        None => Ok(None),
    }
}

fn hours_row(
    t: &AvailabilityTemplate,
    dir: &Directory,
    today: jiff::civil::Date,
    index: usize,
) -> HoursRow {
    let ended = t.valid_until.is_some_and(|u| u < today);
    let lines = t
        .service_lines
        .lines()
        .iter()
        .map(|l| l.label())
        .collect::<Vec<_>>()
        .join(", ");
    let mut last_day = Field::new("last_day", "Last day", today.to_string()).kind("date");
    last_day.id = format!("f-last_day-{index}");
    HoursRow {
        weekday: capitalised(weekday_name(t.weekday)),
        hours: format!("{}–{}", format_time(t.start_time), format_time(t.end_time)),
        site: dir.site_name(t.site_id),
        slots: if t.buffer_minutes > 0 {
            format!(
                "{} slots, {} break",
                when::minutes(t.slot_minutes),
                when::minutes(t.buffer_minutes)
            )
        } else {
            format!("{} slots", when::minutes(t.slot_minutes))
        },
        lines,
        valid: match t.valid_until {
            Some(until) => format!("{} to {until}", t.valid_from),
            None => format!("From {}, no end date", t.valid_from),
        },
        ended,
        end_action: (!ended).then(|| format!("/schedule/availability/hours/{}/end", t.id)),
        last_day,
    }
}

fn exception_row(
    e: &AvailabilityException,
    dir: &Directory,
    tz: &jiff::tz::TimeZone,
) -> ExceptionRow {
    let tz = e.site_id.map_or_else(|| tz.clone(), |s| dir.zone(s));
    ExceptionRow {
        kind: e.kind.label(),
        from: when::when(e.start_at, &tz),
        to: when::when(e.end_at, &tz),
        site: e
            .site_id
            .map_or_else(|| "Every clinic".to_string(), |s| dir.site_name(s)),
        reason: e.reason.clone().unwrap_or_default(),
    }
}

/// Booked or proposed visits that a leave falls on: the clinic moves or cancels them.
async fn affected_by(
    state: &AppState,
    me: &SignedIn,
    leave: &AvailabilityException,
    dir: Directory,
) -> Result<Vec<AppointmentSummary>, PageError> {
    let input = AppointmentListInput {
        clinician_id: Some(leave.clinician_id.to_string()),
        // A visit that starts before the leave may still run into it.
        from: Some(
            leave
                .start_at
                .saturating_sub(SignedDuration::from_hours(24))
                .unwrap_or(leave.start_at)
                .to_string(),
        ),
        to: Some(leave.end_at.to_string()),
        status: Some("proposed,booked".into()),
        limit: Some(500),
        ..AppointmentListInput::default()
    };
    let found: Vec<_> = appointments::list(state.ctx(), &me.actor, &input)
        .await?
        .into_iter()
        .filter(|a| a.start_at < leave.end_at && leave.start_at < a.end_at)
        .collect();
    let dir = dir.with_patients(state, &me.actor, &found).await?;
    Ok(found.iter().map(|a| dir.summary(a)).collect())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn availability_page(
    state: &AppState,
    me: &SignedIn,
    clinician: Option<UserId>,
    leave: Option<&str>,
    entered: &FormData,
    errors: FormErrors,
    done: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let actor = &me.actor;
    let ctx = state.ctx();
    let dir = Directory::load(state, actor).await?;
    let own = clinician == Some(me.user.id);
    let shell = Shell::new(
        me,
        if me.user.role == Role::Clinician {
            Section::Schedule
        } else {
            Section::Availability
        },
    )
    .notice(notice(done));
    let choices: Vec<ClinicianCard> = directory::schedulable_clinicians(ctx, actor).await?;
    let picker = (!own).then(|| {
        Select::new(
            "clinician",
            "Clinician",
            choices.iter().map(|c| (c.id.to_string(), c.name.clone())),
            &clinician.map(|c| c.to_string()).unwrap_or_default(),
            Some("Choose a clinician…"),
        )
    });
    let Some(clinician) = clinician else {
        let page = AvailabilityPage {
            shell,
            heading: "Clinicians' availability".into(),
            picker,
            clinician_id: String::new(),
            schedule_href: "/schedule".into(),
            zone: String::new(),
            errors,
            hours: Vec::new(),
            exceptions: Vec::new(),
            affected: None,
            hours_form: None,
            exception_form: None,
        };
        return Ok(render(status, &page));
    };
    let (mut templates, exceptions) = availability::list(ctx, actor, clinician).await?;
    let card = choices
        .iter()
        .find(|c| c.id == clinician)
        .cloned()
        .ok_or(PageError::NotFound)?;
    let tz = dir.clinician_zone(clinician);
    let today = when::date_at(state.clock.now(), &tz);
    templates.sort_by_key(|t| (t.weekday.to_monday_zero_offset(), t.start_time));
    let hours = templates
        .iter()
        .enumerate()
        .map(|(i, t)| hours_row(t, &dir, today, i))
        .collect();
    let exception_rows = exceptions
        .iter()
        .map(|e| exception_row(e, &dir, &tz))
        .collect();
    let sites: Vec<(String, String)> = card
        .site_ids
        .iter()
        .map(|s| (s.to_string(), dir.site_name(*s)))
        .collect();
    let field =
        |name: &str, label: &str| Field::new(name, label, entered.get(name)).errors(&errors);
    let hours_form = HoursForm {
        site_id: Select::new(
            "site_id",
            "Clinic",
            sites.iter().cloned(),
            entered.get("site_id"),
            (sites.len() != 1).then_some("Choose a clinic…"),
        )
        .errors(&errors),
        weekday: Select::new(
            "weekday",
            "Day of the week",
            [
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ]
            .map(|d| (d.to_string(), capitalised(d))),
            entered.get("weekday"),
            Some("Choose a day…"),
        )
        .errors(&errors),
        start_time: field("start_time", "Start time")
            .kind("time")
            .hint("In the clinic's local time, such as 09:00."),
        end_time: field("end_time", "End time").kind("time"),
        slot_minutes: field("slot_minutes", "Slot length in minutes")
            .kind("number")
            .inputmode("numeric"),
        buffer_minutes: field("buffer_minutes", "Break after each slot, in minutes")
            .kind("number")
            .inputmode("numeric"),
        service_lines: Checkboxes::new(
            "service_lines",
            "Services offered in these hours",
            service_line_choices(),
            &entered.all("service_lines"),
        )
        .errors(&errors),
        valid_from: field("valid_from", "First day").kind("date"),
        valid_until: field("valid_until", "Last day")
            .kind("date")
            .optional()
            .hint("Leave empty to repeat every week until further notice."),
    };
    let exception_form = ExceptionForm {
        kind: Radios::new(
            "kind",
            "What changes?",
            ExceptionKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), k.label().to_string())),
            entered.get("kind"),
        )
        .errors(&errors),
        start: field("start", "From")
            .kind("datetime-local")
            .hint("The clinic's local date and time."),
        end: field("end", "Until").kind("datetime-local"),
        site_id: Select::new(
            "extra_site_id",
            "Clinic (extra hours only)",
            sites.iter().cloned(),
            entered.get("extra_site_id"),
            Some("Choose a clinic…"),
        )
        .optional()
        .errors(&errors),
        slot_minutes: field(
            "extra_slot_minutes",
            "Slot length in minutes (extra hours only)",
        )
        .kind("number")
        .inputmode("numeric"),
        buffer_minutes: field(
            "extra_buffer_minutes",
            "Break after each slot, in minutes (extra hours only)",
        )
        .kind("number")
        .inputmode("numeric"),
        service_lines: Checkboxes::new(
            "extra_service_lines",
            "Services offered (extra hours only)",
            service_line_choices(),
            &entered.all("extra_service_lines"),
        )
        .errors(&errors),
        reason: field("reason", "Note")
            .optional()
            .hint("For colleagues, such as “conference”. Never a patient's details."),
    };
    let leave_shown = leave
        .and_then(|raw| raw.trim().parse::<ExceptionId>().ok())
        .and_then(|id| exceptions.iter().find(|e| e.id == id))
        .filter(|e| e.kind == ExceptionKind::Leave)
        .cloned();
    let affected = match leave_shown {
        Some(leave) => Some(affected_by(state, me, &leave, dir).await?),
        None => None,
    };
    let page = AvailabilityPage {
        shell,
        heading: if own {
            "My availability".into()
        } else {
            format!("Availability of {}", card.name)
        },
        picker,
        clinician_id: clinician.to_string(),
        schedule_href: if own {
            "/schedule".into()
        } else {
            href("/schedule", &[("clinician", clinician.to_string())])
        },
        zone: format!(
            "Times are in each clinic's local time; {} for this clinician's first clinic.",
            when::zone_abbreviation(state.clock.now(), &tz)
        ),
        errors,
        hours,
        exceptions: exception_rows,
        affected,
        hours_form: Some(hours_form),
        exception_form: Some(exception_form),
    };
    Ok(render(status, &page))
}

pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    PageQuery(params): PageQuery<AvailabilityParams>,
) -> PageResult {
    let clinician = clinician_named(&me, params.clinician.as_deref())?;
    let today = when::date_at(state.clock.now(), &jiff::tz::TimeZone::UTC);
    let entered = FormData::from_pairs(&defaults(today));
    availability_page(
        &state,
        &me,
        clinician,
        params.leave.as_deref(),
        &entered,
        FormErrors::default(),
        params.done.as_deref(),
        StatusCode::OK,
    )
    .await
}
