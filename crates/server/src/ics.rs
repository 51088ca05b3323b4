//! iCalendar (RFC 5545) output: reminder attachments and clinicians' calendar feeds.
//!
//! Written by hand because we only emit a handful of properties; the rules that matter are
//! CRLF line ends, folding lines longer than 75 octets, escaping text values, and UTC times.

use jiff::Timestamp;

/// One event of a calendar.
#[derive(Debug, Clone)]
pub struct IcsEvent {
    /// Globally unique and stable: an update replaces the event with the same UID.
    pub uid: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub url: Option<String>,
    pub cancelled: bool,
}

/// A whole VCALENDAR with `events`, stamped `now`.
pub fn calendar(name: &str, events: &[IcsEvent], now: Timestamp) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Telemed//Telemed//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", escape(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{}", utc(now)));
        line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        line(&mut out, &format!("DTEND:{}", utc(e.end)));
        line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        line(&mut out, &format!("LOCATION:{}", escape(&e.location)));
        if let Some(url) = &e.url {
            // A URI holds no control characters; one with a line break would end the line early.
            let url: String = url.chars().filter(|c| !c.is_control()).collect();
            line(&mut out, &format!("URL:{url}"));
        }
        line(
            &mut out,
            if e.cancelled {
                "STATUS:CANCELLED"
            } else {
                "STATUS:CONFIRMED"
            },
        );
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// `20261203T143000Z`
fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value: backslash, semicolon, comma and newlines.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line, folded so no physical line exceeds 75 octets (never inside a
/// UTF-8 character), with CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_folded_at_75_octets_and_text_is_escaped() {
        let event = IcsEvent {
            uid: "a@telemed".into(),
            start: Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH),
            end: Timestamp::from_second(1_800_001_200).unwrap_or(Timestamp::UNIX_EPOCH),
            summary: "Video visit; primary care, with Dr. Ñúñez".into(),
            description: format!("Join here:\n{}", "x".repeat(200)),
            location: "Video".into(),
            url: None,
            cancelled: false,
        };
        let ics = calendar("Visits", &[event], Timestamp::UNIX_EPOCH);
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        for physical in ics.split("\r\n") {
            assert!(
                physical.len() <= 75,
                "{physical:?} is {} octets",
                physical.len()
            );
        }
        assert!(ics.contains("SUMMARY:Video visit\\; primary care\\, with Dr. Ñúñez"));
        assert!(ics.contains("DESCRIPTION:Join here:\\nxxx"));
        assert!(ics.contains("DTSTART:20270115T080000Z"));
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&"x".repeat(200)));
    }

    #[test]
    fn a_url_with_a_line_break_stays_on_its_line() {
        let event = IcsEvent {
            uid: "a@telemed".into(),
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
            summary: "Visit".into(),
            description: String::new(),
            location: String::new(),
            url: Some("https://telemed.example/a\r\nATTENDEE:mailto:x@example.org\u{0}".into()),
            cancelled: false,
        };
        let ics = calendar("Visits", &[event], Timestamp::UNIX_EPOCH);
        assert!(ics.contains("URL:https://telemed.example/aATTENDEE:mailto:x@example.org\r\n"));
        assert!(!ics.contains("\r\nATTENDEE"));
    }
}
