//! The iCalendar output (`ics.rs`): reminders' attachments and clinicians' feeds carry names
//! and text people typed (a clinician's name, a site's, a reason). Whatever they contain, every
//! physical line is at most 75 octets and ends with CRLF, and the text comes back unchanged
//! (but for the control characters a TEXT value cannot hold) when the calendar is read again,
//! by a line-unfolding reader written here, and the `icalendar` crate's parser finds the same
//! events and values.
//!
//! An input is the calendar's fields separated by 0x1F (name, then per event: uid, summary,
//! description, location, url), events separated by 0x1E; times and the cancelled flag come
//! from the input's hash.

use jiff::Timestamp;
use server::ics::{IcsEvent, calendar};

use super::{Target, fnv, run};

fn field(parts: &[&[u8]], i: usize) -> String {
    String::from_utf8_lossy(parts.get(i).copied().unwrap_or_default()).into_owned()
}

/// The events an input describes.
fn events_of(input: &[u8]) -> (String, Vec<IcsEvent>) {
    let mut records = input.split(|b| *b == 0x1e);
    let first: Vec<&[u8]> = records
        .next()
        .unwrap_or_default()
        .split(|b| *b == 0x1f)
        .collect();
    let name = field(&first, 0);
    let mut events = Vec::new();
    let hash = fnv(input);
    let event_fields = std::iter::once(first[1..].to_vec())
        .chain(records.map(|r| r.split(|b| *b == 0x1f).collect()))
        .take(4);
    for (k, parts) in event_fields.enumerate() {
        // Any second from 1970 to 9999, lasting up to a day.
        let start = ((hash >> (k * 3)) % 253_402_214_400) as i64;
        let end = start + ((hash >> 40) % 86_400) as i64;
        events.push(IcsEvent {
            uid: field(&parts, 0),
            start: Timestamp::from_second(start).unwrap_or(Timestamp::UNIX_EPOCH),
            end: Timestamp::from_second(end).unwrap_or(Timestamp::UNIX_EPOCH),
            summary: field(&parts, 1),
            description: field(&parts, 2),
            location: field(&parts, 3),
            url: parts.get(4).map(|_| field(&parts, 4)),
            cancelled: (hash >> (k + 60)) & 1 == 1,
        });
    }
    (name, events)
}

/// What a TEXT value holds once read back: control characters other than a line break are
/// dropped on the way out.
fn kept(text: &str) -> String {
    text.chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect()
}

/// RFC 5545 3.3.11, read independently of the writer.
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => panic!("a value ends in a lone backslash: {value:?}"),
            }
        } else {
            assert!(
                !matches!(c, ',' | ';'),
                "an unescaped {c:?} in a TEXT value: {value:?}"
            );
            out.push(c);
        }
    }
    out
}

fn check(name: &str, events: &[IcsEvent]) {
    let now = Timestamp::from_second(1_796_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let ics = calendar(name, events, now);
    assert!(ics.ends_with("\r\n"), "the calendar does not end with CRLF");
    let physical: Vec<&str> = ics[..ics.len() - 2].split("\r\n").collect();
    for line in &physical {
        assert!(
            line.len() <= 75,
            "a line of {} octets: {line:?}",
            line.len()
        );
        assert!(
            !line.contains(['\r', '\n']),
            "a bare CR or LF inside a line: {line:?}"
        );
    }
    // Unfold: a line starting with a space continues the one before.
    let mut logical: Vec<String> = Vec::new();
    for line in physical {
        match line.strip_prefix(' ') {
            Some(rest) if !logical.is_empty() => {
                if let Some(last) = logical.last_mut() {
                    last.push_str(rest);
                }
            }
            _ => logical.push(line.to_string()),
        }
    }
    let values: Vec<(&str, &str)> = logical
        .iter()
        .map(|l| {
            l.split_once(':')
                .unwrap_or_else(|| panic!("a line without a name: {l:?}"))
        })
        .collect();
    let all = |prop: &str| -> Vec<&str> {
        values
            .iter()
            .filter(|(n, _)| *n == prop)
            .map(|(_, v)| *v)
            .collect()
    };
    assert_eq!(all("X-WR-CALNAME").len(), 1);
    assert_eq!(unescape(all("X-WR-CALNAME")[0]), kept(name));
    let props = [
        ("UID", 0usize),
        ("SUMMARY", 1),
        ("DESCRIPTION", 2),
        ("LOCATION", 3),
    ];
    for (prop, which) in props {
        let got = all(prop);
        assert_eq!(got.len(), events.len(), "{prop} once per event");
        for (value, e) in got.iter().zip(events) {
            let want = match which {
                0 => &e.uid,
                1 => &e.summary,
                2 => &e.description,
                _ => &e.location,
            };
            assert_eq!(unescape(value), kept(want), "{prop} did not come back");
        }
    }
    let urls = all("URL");
    let sent: Vec<&IcsEvent> = events.iter().filter(|e| e.url.is_some()).collect();
    assert_eq!(urls.len(), sent.len());
    for (value, e) in urls.iter().zip(&sent) {
        let url = e.url.as_deref().unwrap_or_default();
        let want: String = url.chars().filter(|c| !c.is_control()).collect();
        assert_eq!(*value, want, "URL did not come back");
    }
    for (value, e) in all("DTSTART").iter().zip(events) {
        assert_eq!(*value, e.start.strftime("%Y%m%dT%H%M%SZ").to_string());
    }
    for (value, e) in all("DTEND").iter().zip(events) {
        assert_eq!(*value, e.end.strftime("%Y%m%dT%H%M%SZ").to_string());
    }
    assert_eq!(all("BEGIN").len(), events.len() + 1);
    assert_eq!(all("END").len(), events.len() + 1);

    // And the icalendar crate reads the same calendar with the same summaries.
    let unfolded = icalendar::parser::unfold(&ics);
    let parsed = icalendar::parser::read_calendar_simple(&unfolded)
        .unwrap_or_else(|e| panic!("icalendar could not read it: {e:?}\n{ics}"));
    let root = parsed
        .first()
        .unwrap_or_else(|| panic!("no VCALENDAR: {ics}"));
    let vevents: Vec<_> = root
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert_eq!(vevents.len(), events.len());
    // icalendar 0.17 unescapes some properties as it reads them and not others, and its own
    // `unescape_text` reads an escaped backslash before an `n` as a line break (the reader above
    // shows that is not what we wrote); so its value must be the raw one or its decoding of it.
    for prop in ["UID", "SUMMARY", "DESCRIPTION", "LOCATION"] {
        let ours = all(prop);
        let theirs: Vec<&str> = vevents
            .iter()
            .filter_map(|c| c.find_prop(prop).map(|p| p.val.as_str()))
            .collect();
        assert_eq!(
            theirs.len(),
            ours.len(),
            "icalendar found another number of {prop}"
        );
        for (t, o) in theirs.iter().zip(&ours) {
            let decoded = icalendar::parser::ParseString::from(*o).unescape_text();
            assert!(
                t == o || *t == decoded.as_str(),
                "icalendar read another {prop}: {t:?} for {o:?}"
            );
        }
    }
}

#[test]
fn fuzz_icalendar_output_round_trip() {
    let target = Target::new("ics").words([
        "\u{1f}",
        "\u{1e}",
        "\\n",
        "\\,",
        "\\;",
        "\\\\",
        "\r\n ",
        "\r\n\t",
        "BEGIN:VEVENT",
        "END:VCALENDAR",
        "DTSTART:",
        ":",
        "Dr. María-José Ñúñez",
        "https://telemed.example/appointments/1",
    ]);
    run(target, |input| {
        let (name, events) = events_of(input);
        check(&name, &events);
    });
}
