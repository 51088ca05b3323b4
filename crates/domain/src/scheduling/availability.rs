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
mod tests {
    use super::*;
    use crate::scheduling::model::ServiceLine;

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap_or_else(|e| panic!("{e}"))
    }

    fn template(
        weekday: Weekday,
        start: &str,
        end: &str,
        slot: i64,
        buffer: i64,
    ) -> AvailabilityTemplate {
        AvailabilityTemplate {
            id: TemplateId::new(),
            org_id: OrgId::new(),
            clinician_id: UserId::new(),
            site_id: SiteId::new(),
            weekday,
            start_time: parse_time("t", start).unwrap_or_else(|e| panic!("{e}")),
            end_time: parse_time("t", end).unwrap_or_else(|e| panic!("{e}")),
            slot_minutes: slot,
            buffer_minutes: buffer,
            service_lines: ServiceLines::of(&[ServiceLine::PrimaryCare]),
            valid_from: jiff::civil::date(2026, 1, 1),
            valid_until: None,
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn local(ts: Timestamp, tz: &TimeZone) -> String {
        ts.to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    #[test]
    fn a_weekly_nine_oclock_template_stays_nine_oclock_local_across_both_dst_changes() {
        let tz = ny();
        // Sundays around 2026-03-08 (clocks forward) and 2026-11-01 (clocks back).
        let t = template(Weekday::Sunday, "09:00", "10:00", 60, 0);
        let spring = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 3, 1),
            jiff::civil::date(2026, 3, 15),
        );
        let locals: Vec<String> = spring.iter().map(|w| local(w.start, &tz)).collect();
        assert_eq!(
            locals,
            [
                "2026-03-01 09:00 EST",
                "2026-03-08 09:00 EDT",
                "2026-03-15 09:00 EDT"
            ]
        );
        // One week apart on the calendar, but 167 real hours across the spring change.
        assert_eq!(
            spring[1].start.duration_since(spring[0].start).as_hours(),
            167
        );
        let autumn = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 10, 25),
            jiff::civil::date(2026, 11, 8),
        );
        let locals: Vec<String> = autumn.iter().map(|w| local(w.start, &tz)).collect();
        assert_eq!(
            locals,
            [
                "2026-10-25 09:00 EDT",
                "2026-11-01 09:00 EST",
                "2026-11-08 09:00 EST"
            ]
        );
        assert_eq!(
            autumn[1].start.duration_since(autumn[0].start).as_hours(),
            169
        );
    }

    #[test]
    fn hours_inside_the_spring_gap_move_forward_and_keep_their_real_length() {
        let tz = ny();
        // 01:00-04:00 on the night the clocks skip 02:00-03:00: two real hours.
        let t = template(Weekday::Sunday, "01:00", "04:00", 30, 0);
        let w = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 3, 8),
            jiff::civil::date(2026, 3, 8),
        );
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].end.duration_since(w[0].start).as_hours(), 2);
        assert_eq!(cut_into_slots(&w[0]).len(), 4);
    }

    #[test]
    fn slots_are_cut_with_buffers_and_a_slot_that_does_not_fit_is_left_out() {
        let tz = ny();
        let t = template(Weekday::Monday, "09:00", "10:00", 20, 5);
        let w = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 6, 1),
            jiff::civil::date(2026, 6, 1),
        );
        let slots = cut_into_slots(&w[0]);
        let starts: Vec<String> = slots.iter().map(|(s, _)| local(*s, &tz)).collect();
        // 09:00, 09:25, and 09:50 would end at 10:10: left out.
        assert_eq!(starts, ["2026-06-01 09:00 EDT", "2026-06-01 09:25 EDT"]);
    }

    #[test]
    fn templates_apply_only_within_their_validity() {
        let tz = ny();
        let mut t = template(Weekday::Wednesday, "09:00", "12:00", 30, 0);
        t.valid_from = jiff::civil::date(2026, 6, 10);
        t.valid_until = Some(jiff::civil::date(2026, 6, 24));
        let w = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 6, 1),
            jiff::civil::date(2026, 7, 31),
        );
        let dates: Vec<String> = w
            .iter()
            .map(|w| local(w.start, &tz)[..10].to_string())
            .collect();
        assert_eq!(dates, ["2026-06-10", "2026-06-17", "2026-06-24"]);
    }

    #[test]
    fn windows_at_sites_in_different_time_zones_overlap_in_absolute_time() {
        let la = TimeZone::get("America/Los_Angeles").unwrap_or_else(|e| panic!("{e}"));
        let from = jiff::civil::date(2026, 6, 1);
        let to = jiff::civil::date(2026, 6, 7);
        let ny_morning = template_windows(
            &template(Weekday::Monday, "09:00", "12:00", 30, 0),
            &ny(),
            from,
            to,
        );
        // 07:00-08:00 in Oakland is 10:00-11:00 in Brooklyn.
        let la_early = template_windows(
            &template(Weekday::Monday, "07:00", "08:00", 30, 0),
            &la,
            from,
            to,
        );
        assert!(first_overlap(&ny_morning, &la_early).is_some());
        let la_late = template_windows(
            &template(Weekday::Monday, "09:00", "10:00", 30, 0),
            &la,
            from,
            to,
        );
        assert!(first_overlap(&ny_morning, &la_late).is_none());
    }

    #[test]
    fn leave_removes_the_slots_it_touches_and_past_slots_are_not_planned() {
        let tz = ny();
        let t = template(Weekday::Monday, "09:00", "11:00", 30, 0);
        let w = template_windows(
            &t,
            &tz,
            jiff::civil::date(2026, 6, 1),
            jiff::civil::date(2026, 6, 8),
        );
        let leave_start = local_instant(
            jiff::civil::date(2026, 6, 1),
            parse_time("t", "09:45").unwrap_or_else(|e| panic!("{e}")),
            &tz,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let leave_end = local_instant(
            jiff::civil::date(2026, 6, 1),
            parse_time("t", "10:15").unwrap_or_else(|e| panic!("{e}")),
            &tz,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let slots = plan_slots(
            OrgId::new(),
            UserId::new(),
            &w,
            &[(leave_start, leave_end)],
            Timestamp::UNIX_EPOCH,
            Timestamp::UNIX_EPOCH,
        );
        let starts: Vec<String> = slots.iter().map(|s| local(s.start_at, &tz)).collect();
        assert_eq!(
            starts,
            [
                "2026-06-01 09:00 EDT",
                "2026-06-01 10:30 EDT",
                "2026-06-08 09:00 EDT",
                "2026-06-08 09:30 EDT",
                "2026-06-08 10:00 EDT",
                "2026-06-08 10:30 EDT"
            ]
        );
        let later = plan_slots(
            OrgId::new(),
            UserId::new(),
            &w,
            &[],
            w[1].start,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(later.len(), 4);
    }

    #[test]
    fn template_input_is_checked_field_by_field() {
        let good = TemplateInput {
            site_id: SiteId::new().to_string(),
            weekday: "monday".into(),
            start_time: "09:00".into(),
            end_time: "12:00".into(),
            slot_minutes: 30,
            buffer_minutes: 0,
            service_lines: vec!["primary_care".into()],
            valid_from: "2026-01-01".into(),
            valid_until: None,
        };
        assert!(good.validate().is_ok());
        let field_of = |input: TemplateInput| match input.validate() {
            Err(DomainError::Invalid(f)) => f.field,
            other => panic!("expected a field error, got {other:?}"),
        };
        assert_eq!(
            field_of(TemplateInput {
                weekday: "someday".into(),
                ..good.clone()
            }),
            "weekday"
        );
        assert_eq!(
            field_of(TemplateInput {
                start_time: "25:00".into(),
                ..good.clone()
            }),
            "start_time"
        );
        assert_eq!(
            field_of(TemplateInput {
                end_time: "08:00".into(),
                ..good.clone()
            }),
            "end_time"
        );
        assert_eq!(
            field_of(TemplateInput {
                slot_minutes: 7,
                ..good.clone()
            }),
            "slot_minutes"
        );
        assert_eq!(
            field_of(TemplateInput {
                end_time: "09:20".into(),
                ..good.clone()
            }),
            "slot_minutes"
        );
        assert_eq!(
            field_of(TemplateInput {
                buffer_minutes: -5,
                ..good.clone()
            }),
            "buffer_minutes"
        );
        assert_eq!(
            field_of(TemplateInput {
                service_lines: vec![],
                ..good.clone()
            }),
            "service_lines"
        );
        assert_eq!(
            field_of(TemplateInput {
                service_lines: vec!["dentistry".into()],
                ..good.clone()
            }),
            "service_lines[0]"
        );
        assert_eq!(
            field_of(TemplateInput {
                valid_until: Some("2025-12-31".into()),
                ..good.clone()
            }),
            "valid_until"
        );
        assert_eq!(parse_weekday("w", "7").ok(), Some(Weekday::Sunday));
    }
}
