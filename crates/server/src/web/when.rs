//! Times as people read them: in the time zone of the site, such as "Tue 3 Dec, 09:30 (EST)".

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// "Tue 3 Dec, 09:30 (EST)": a visit's start, with the zone so nobody guesses.
pub fn when(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%a %-d %b, %H:%M (%Z)")
        .to_string()
}

/// "Tue 3 Dec, 09:30 to 10:00 (EST)": a time booked, from its start to its end.
pub fn span(start: Timestamp, end: Timestamp, tz: &TimeZone) -> String {
    let from = start.to_zoned(tz.clone());
    format!(
        "{} to {} ({})",
        from.strftime("%a %-d %b, %H:%M"),
        clock(end, tz),
        from.strftime("%Z")
    )
}

/// "09:30".
pub fn clock(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// "9:30 AM" on a 12-hour clock, "09:30" on a 24-hour one.
pub fn clock_as(at: Timestamp, tz: &TimeZone, twelve_hour: bool) -> String {
    let format = if twelve_hour { "%-I:%M %p" } else { "%H:%M" };
    at.to_zoned(tz.clone()).strftime(format).to_string()
}

/// "EST": the zone's abbreviation at that instant (it changes with daylight saving).
pub fn zone_abbreviation(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone()).strftime("%Z").to_string()
}

/// "Tuesday 3 December 2024".
pub fn day_heading(date: Date) -> String {
    date.strftime("%A %-d %B %Y").to_string()
}

/// "Tue 3 Dec".
pub fn short_day(date: Date) -> String {
    date.strftime("%a %-d %b").to_string()
}

/// The calendar date of an instant at a place.
pub fn date_at(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned(tz.clone()).date()
}

/// The first instant of a day at a place (midnight, or the first time that exists on that day).
pub fn start_of_day(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or_else(|_| {
            date.to_zoned(TimeZone::UTC)
                .map_or(Timestamp::UNIX_EPOCH, |z| z.timestamp())
        })
}

/// The instants `[start, end)` that a run of days covers at a place.
pub fn days_span(first: Date, days: i64, tz: &TimeZone) -> (Timestamp, Timestamp) {
    (
        start_of_day(first, tz),
        start_of_day(first.saturating_add(days.days()), tz),
    )
}

/// The Monday of the week a date is in.
pub fn monday_of(date: Date) -> Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.saturating_sub(back.days())
}

/// A date from a query parameter, or `default` when it is missing or not a date.
pub fn date_param(raw: Option<&str>, default: Date) -> Date {
    raw.map(str::trim)
        .and_then(|r| r.parse::<Date>().ok())
        .unwrap_or(default)
}

/// A whole number of minutes as "1 h 30 min", "45 min".
pub fn minutes(total: i64) -> String {
    match (total / 60, total % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visit_time_reads_in_the_sites_zone_with_its_abbreviation() {
        let tz = TimeZone::get("America/New_York").unwrap_or(TimeZone::UTC);
        let at: Timestamp = "2024-12-03T14:30:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(when(at, &tz), "Tue 3 Dec, 09:30 (EST)");
        let summer: Timestamp = "2025-07-01T13:30:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(when(summer, &tz), "Tue 1 Jul, 09:30 (EDT)");
    }

    #[test]
    fn weeks_start_on_monday_and_minutes_read_naturally() {
        let sunday = jiff::civil::date(2024, 12, 8);
        assert_eq!(monday_of(sunday), jiff::civil::date(2024, 12, 2));
        assert_eq!(
            monday_of(jiff::civil::date(2024, 12, 2)),
            jiff::civil::date(2024, 12, 2)
        );
        assert_eq!(minutes(90), "1 h 30 min");
        assert_eq!(minutes(45), "45 min");
        assert_eq!(day_heading(sunday), "Sunday 8 December 2024");
    }
}
