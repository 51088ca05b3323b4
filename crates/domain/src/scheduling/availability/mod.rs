//! Availability in, slots out: weekly templates in a site's local time, one-off exceptions, and the
//! pure functions that turn them into non-overlapping slots in absolute time.
//!
//! Templates are kept in wall-clock time and resolved per date with the site's IANA time zone, so a
//! 09:00 template stays 09:00 local on both sides of a daylight-saving change. Everything after
//! that works on absolute instants, which is what makes overlap across sites in different time
//! zones (or on either side of a change) easy to get right.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::model::{AvailabilityException, AvailabilityTemplate, ServiceLines, Slot};
use crate::error::DomainError;
use crate::identity::{optional_text, parse_date};
use crate::ids::{ExceptionId, OrgId, SiteId, SlotId, TemplateId, UserId};

/// Slot lengths accepted, in minutes.
pub const SLOT_MINUTES: std::ops::RangeInclusive<i64> = 5..=240;
/// Buffers accepted after a slot, in minutes.
pub const BUFFER_MINUTES: std::ops::RangeInclusive<i64> = 0..=120;
/// How far ahead overlap between templates is checked (a year covers every weekly pattern and
/// both daylight-saving changes).
pub const OVERLAP_HORIZON_DAYS: i64 = 371;

/// A stretch of time a clinician is available at a site, before it is cut into slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub site_id: SiteId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: ServiceLines,
    pub template_id: Option<TemplateId>,
    pub exception_id: Option<ExceptionId>,
}

impl Window {
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.start < end && start < self.end
    }
}

/// A weekday by name (`monday`) or ISO number (`1` = Monday ... `7` = Sunday).
pub fn parse_weekday(field: &str, raw: &str) -> Result<Weekday, DomainError> {
    let raw = raw.trim().to_ascii_lowercase();
    let days = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    days.iter()
        .enumerate()
        .find(|(i, (name, _))| *name == raw || (i + 1).to_string() == raw)
        .map(|(_, (_, day))| *day)
        .ok_or_else(|| {
            DomainError::invalid(
                field,
                format!(
                    "'{raw}' is not a weekday such as monday (or 1 for Monday ... 7 for Sunday)"
                ),
            )
        })
}

pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "monday",
        Weekday::Tuesday => "tuesday",
        Weekday::Wednesday => "wednesday",
        Weekday::Thursday => "thursday",
        Weekday::Friday => "friday",
        Weekday::Saturday => "saturday",
        Weekday::Sunday => "sunday",
    }
}

/// A wall-clock time `HH:MM` (24-hour).
pub fn parse_time(field: &str, raw: &str) -> Result<Time, DomainError> {
    let raw = raw.trim();
    let invalid = || {
        DomainError::invalid(
            field,
            format!("'{raw}' is not a time of day such as 09:00 or 17:30"),
        )
    };
    let (h, m) = raw.split_once(':').ok_or_else(invalid)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(invalid());
    }
    let h: i8 = h.parse().map_err(|_| invalid())?;
    let m: i8 = m.parse().map_err(|_| invalid())?;
    Time::new(h, m, 0, 0).map_err(|_| invalid())
}

pub fn format_time(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn check_slot_shape(slot_minutes: i64, buffer_minutes: i64) -> Result<(), DomainError> {
    if !SLOT_MINUTES.contains(&slot_minutes) || slot_minutes % 5 != 0 {
        return Err(DomainError::invalid(
            "slot_minutes",
            "must be a multiple of 5 between 5 and 240",
        ));
    }
    if !BUFFER_MINUTES.contains(&buffer_minutes) {
        return Err(DomainError::invalid(
            "buffer_minutes",
            "must be between 0 and 120",
        ));
    }
    Ok(())
}

/// Weekly hours as a client sends them, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub site_id: String,
    pub weekday: String,
    pub start_time: String,
    pub end_time: String,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: Vec<String>,
    pub valid_from: String,
    pub valid_until: Option<String>,
}

/// The checked fields of a template (the site is checked against the organization by the caller).
#[derive(Debug, Clone)]
pub struct TemplateFields {
    pub site_id: SiteId,
    pub weekday: Weekday,
    pub start_time: Time,
    pub end_time: Time,
    pub slot_minutes: i64,
    pub buffer_minutes: i64,
    pub service_lines: ServiceLines,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
}

impl TemplateInput {
    pub fn validate(&self) -> Result<TemplateFields, DomainError> {
        let site_id = self
            .site_id
            .trim()
            .parse()
            .map_err(|_| DomainError::invalid("site_id", "must be the id of a site"))?;
        let weekday = parse_weekday("weekday", &self.weekday)?;
        let start_time = parse_time("start_time", &self.start_time)?;
        let end_time = parse_time("end_time", &self.end_time)?;
        if end_time <= start_time {
            return Err(DomainError::invalid(
                "end_time",
                "must be later than the start time (hours cannot run past midnight)",
            ));
        }
        check_slot_shape(self.slot_minutes, self.buffer_minutes)?;
        let span = end_time.duration_since(start_time).as_mins();
        if span < self.slot_minutes {
            return Err(DomainError::invalid(
                "slot_minutes",
                format!(
                    "a {}-minute slot does not fit between {} and {}",
                    self.slot_minutes,
                    format_time(start_time),
                    format_time(end_time)
                ),
            ));
        }
        let service_lines = ServiceLines::parse_list("service_lines", &self.service_lines)?;
        let valid_from = parse_date("valid_from", &self.valid_from)?;
        let valid_until = optional_text("valid_until", self.valid_until.as_deref(), 10)?
            .map(|d| parse_date("valid_until", &d))
            .transpose()?;
        if valid_until.is_some_and(|u| u < valid_from) {
            return Err(DomainError::invalid(
                "valid_until",
                "must not be before valid_from",
            ));
        }
        Ok(TemplateFields {
            site_id,
            weekday,
            start_time,
            end_time,
            slot_minutes: self.slot_minutes,
            buffer_minutes: self.buffer_minutes,
            service_lines,
            valid_from,
            valid_until,
        })
    }
}

impl TemplateFields {
    pub fn into_template(
        self,
        org_id: OrgId,
        clinician_id: UserId,
        created_at: Timestamp,
    ) -> AvailabilityTemplate {
        AvailabilityTemplate {
            id: TemplateId::new(),
            org_id,
            clinician_id,
            site_id: self.site_id,
            weekday: self.weekday,
            start_time: self.start_time,
            end_time: self.end_time,
            slot_minutes: self.slot_minutes,
            buffer_minutes: self.buffer_minutes,
            service_lines: self.service_lines,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            created_at,
        }
    }
}

/// Validates the shape of an exception (kind, times, slots for extra hours).
pub fn check_exception(e: &AvailabilityException) -> Result<(), DomainError> {
    if e.end_at <= e.start_at {
        return Err(DomainError::invalid("end", "must be later than the start"));
    }
    if e.end_at.duration_since(e.start_at) > SignedDuration::from_hours(24 * 92) {
        return Err(DomainError::invalid(
            "end",
            "an exception may cover at most 92 days; enter longer leave in parts",
        ));
    }
    if let super::model::ExceptionKind::ExtraHours = e.kind {
        if e.site_id.is_none() {
            return Err(DomainError::invalid(
                "site_id",
                "extra hours need the site where they are worked",
            ));
        }
        check_slot_shape(e.slot_minutes, e.buffer_minutes)?;
        if e.end_at.duration_since(e.start_at).as_mins() < e.slot_minutes {
            return Err(DomainError::invalid(
                "slot_minutes",
                "the slot does not fit in the extra hours",
            ));
        }
        if e.service_lines.is_empty() {
            return Err(DomainError::invalid(
                "service_lines",
                "name at least one service line",
            ));
        }
    }
    let _ = optional_text("reason", e.reason.as_deref(), 500)?;
    Ok(())
}

/// The instant a local date and time at a site stands for. In a spring-forward gap the time moves
/// forward (02:30 becomes 03:30); in a fall-back fold the earlier of the two instants is taken.
pub fn local_instant(date: Date, time: Time, tz: &TimeZone) -> Result<Timestamp, DomainError> {
    date.to_datetime(time)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| DomainError::invalid("date", format!("cannot be placed in time: {e}")))
}

/// The windows a template gives on each date from `from` to `to` (inclusive).
pub fn template_windows(
    t: &AvailabilityTemplate,
    tz: &TimeZone,
    from: Date,
    to: Date,
) -> Vec<Window> {
    let first = from.max(t.valid_from);
    let last = t.valid_until.map_or(to, |u| u.min(to));
    let mut windows = Vec::new();
    if first > last {
        return windows;
    }
    // The first date on or after `first` that falls on the template's weekday.
    let ahead =
        (t.weekday.to_monday_zero_offset() - first.weekday().to_monday_zero_offset()).rem_euclid(7);
    let mut date = match first.checked_add(i64::from(ahead).days()) {
        Ok(d) => d,
        Err(_) => return windows,
    };
    while date <= last {
        if let (Ok(start), Ok(end)) = (
            local_instant(date, t.start_time, tz),
            local_instant(date, t.end_time, tz),
        ) && start < end
        {
            windows.push(Window {
                site_id: t.site_id,
                start,
                end,
                slot_minutes: t.slot_minutes,
                buffer_minutes: t.buffer_minutes,
                service_lines: t.service_lines,
                template_id: Some(t.id),
                exception_id: None,
            });
        }
        date = match date.checked_add(1.week()) {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    windows
}

/// The window extra hours give.
pub fn extra_hours_window(e: &AvailabilityException) -> Option<Window> {
    match (e.kind, e.site_id) {
        (super::model::ExceptionKind::ExtraHours, Some(site_id)) => Some(Window {
            site_id,
            start: e.start_at,
            end: e.end_at,
            slot_minutes: e.slot_minutes,
            buffer_minutes: e.buffer_minutes,
            service_lines: e.service_lines,
            template_id: None,
            exception_id: Some(e.id),
        }),
        _ => None,
    }
}

/// Cuts a window into slots of `slot_minutes`, each followed by `buffer_minutes`; a last slot that
/// would end after the window is left out.
pub fn cut_into_slots(w: &Window) -> Vec<(Timestamp, Timestamp)> {
    let length = SignedDuration::from_mins(w.slot_minutes);
    let step = SignedDuration::from_mins(w.slot_minutes + w.buffer_minutes);
    let mut slots = Vec::new();
    let mut start = w.start;
    while let Ok(end) = start.checked_add(length) {
        if end > w.end {
            break;
        }
        slots.push((start, end));
        match start.checked_add(step) {
            Ok(next) => start = next,
            Err(_) => break,
        }
    }
    slots
}

/// The first pair of overlapping windows, if any (windows of one clinician, any sites).
pub fn first_overlap<'a>(
    existing: &'a [Window],
    candidates: &'a [Window],
) -> Option<(&'a Window, &'a Window)> {
    candidates.iter().find_map(|c| {
        existing
            .iter()
            .find(|e| e.overlaps(c.start, c.end))
            .map(|e| (e, c))
    })
}

/// The slots to publish for one clinician: every window cut into slots, minus those that touch
/// leave or start before `not_before`.
pub fn plan_slots(
    org_id: OrgId,
    clinician_id: UserId,
    windows: &[Window],
    leave: &[(Timestamp, Timestamp)],
    not_before: Timestamp,
    created_at: Timestamp,
) -> Vec<Slot> {
    let mut slots: Vec<Slot> = windows
        .iter()
        .flat_map(|w| {
            cut_into_slots(w).into_iter().map(move |(start, end)| Slot {
                id: SlotId::new(),
                org_id,
                clinician_id,
                site_id: w.site_id,
                start_at: start,
                end_at: end,
                service_lines: w.service_lines,
                template_id: w.template_id,
                exception_id: w.exception_id,
                withdrawn: false,
                created_at,
            })
        })
        .filter(|s| s.start_at >= not_before)
        .filter(|s| !leave.iter().any(|(a, b)| s.start_at < *b && *a < s.end_at))
        .collect();
    slots.sort_by_key(|s| s.start_at);
    // Windows are checked not to overlap when they are saved; this keeps the promise even if two
    // sources disagree (the earlier slot wins).
    let mut kept: Vec<Slot> = Vec::with_capacity(slots.len());
    for slot in slots {
        if kept.last().is_none_or(|last| last.end_at <= slot.start_at) {
            kept.push(slot);
        }
    }
    kept
}

#[cfg(test)]
mod tests;
