//! The rules of messaging: what a message and an attachment may be, when an answer is due in
//! business days of the site, and whom a patient may write to.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use sha2::{Digest, Sha256};

use super::model::{AttachmentKind, AttachmentMeta};
use crate::error::DomainError;
use crate::ids::{AttachmentId, SiteId, UserId};

/// The longest message (characters).
pub const MAX_BODY: usize = 10_000;
/// At most this many files on one message.
pub const MAX_FILES: usize = 5;

/// What a file is, from its first bytes: the name and the browser's declared type are not
/// trusted (a `.jpg` that is an executable stays refused).
pub fn sniff(bytes: &[u8]) -> Option<AttachmentKind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(AttachmentKind::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(AttachmentKind::Png)
    } else if bytes.starts_with(b"%PDF-") {
        Some(AttachmentKind::Pdf)
    } else {
        None
    }
}

/// A file name safe to show and to offer for download: no path, no control characters.
fn clean_name(raw: &str, kind: AttachmentKind) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        match kind {
            AttachmentKind::Jpeg => "photo.jpg".into(),
            AttachmentKind::Png => "image.png".into(),
            AttachmentKind::Pdf => "document.pdf".into(),
        }
    } else {
        cleaned.to_string()
    }
}

/// Checks one uploaded file: a JPEG, PNG or PDF by its content, within the size limit.
pub fn check_attachment(
    field: &str,
    file_name: &str,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<AttachmentMeta, DomainError> {
    if bytes.is_empty() {
        return Err(DomainError::invalid(field, "the file is empty"));
    }
    if bytes.len() > max_bytes {
        return Err(DomainError::invalid(
            field,
            format!(
                "the file is {} and the limit is {}",
                megabytes(bytes.len()),
                megabytes(max_bytes)
            ),
        ));
    }
    let Some(kind) = sniff(bytes) else {
        return Err(DomainError::invalid(
            field,
            "only JPEG and PNG photos and PDF documents can be attached (checked by the file's content, not its name)",
        ));
    };
    Ok(AttachmentMeta {
        id: AttachmentId::new(),
        file_name: clean_name(file_name, kind),
        kind,
        size_bytes: bytes.len() as i64,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// A message's text: required unless files are attached, bounded.
pub fn check_body(raw: &str, has_files: bool) -> Result<String, DomainError> {
    let body = crate::notes::rules::long_text("body", raw, MAX_BODY)?;
    if body.is_empty() && !has_files {
        return Err(DomainError::invalid(
            "body",
            "write a message or attach a file",
        ));
    }
    Ok(body)
}

/// A thread's subject: one line.
pub fn check_subject(raw: &str) -> Result<String, DomainError> {
    crate::identity::required_text("subject", raw, 120)
}

fn is_business_day(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// When a message received at `at` should be answered: `days` business days later, at the same
/// wall-clock time in the site's zone. A message that arrives on a weekend counts from the start
/// of the next business day (08:00). Daylight-saving changes keep the wall-clock time.
pub fn reply_due(at: Timestamp, tz: &TimeZone, days: i64) -> Timestamp {
    let local = at.to_zoned(tz.clone());
    let mut date = local.date();
    let mut time = local.time();
    if !is_business_day(date) {
        while !is_business_day(date) {
            date = date.checked_add(1.day()).unwrap_or(date);
        }
        time = jiff::civil::time(8, 0, 0, 0);
    }
    let mut left = days.max(0);
    while left > 0 {
        date = date.checked_add(1.day()).unwrap_or(date);
        if is_business_day(date) {
            left -= 1;
        }
    }
    date.to_datetime(time)
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(at)
}

/// Whom a patient may write to: a site where they are cared for (their home site, or one where
/// they had a visit), and, if they name one, a clinician who saw them.
pub fn check_patient_recipient(
    site: SiteId,
    clinician: Option<UserId>,
    care_sites: &[SiteId],
    clinicians_seen: &[UserId],
) -> Result<(), DomainError> {
    if !care_sites.contains(&site) {
        return Err(DomainError::invalid(
            "site_id",
            "you can write only to the care team of a clinic that cares for you",
        ));
    }
    if let Some(c) = clinician
        && !clinicians_seen.contains(&c)
    {
        return Err(DomainError::invalid(
            "clinician_id",
            "you can write only to a clinician who has seen you",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];

    #[test]
    fn files_are_typed_by_their_content_not_their_name() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(AttachmentKind::Jpeg));
        assert_eq!(sniff(PNG), Some(AttachmentKind::Png));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(AttachmentKind::Pdf));
        assert_eq!(sniff(b"MZ\x90\x00"), None);
        let err = check_attachment("files[0]", "rash.jpg", b"MZ\x90\x00", 100)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("files[0]") && err.contains("content"),
            "{err}"
        );
        let meta = check_attachment("f", "C:\\Users\\me\\rash.png", PNG, 100).unwrap();
        assert_eq!(meta.kind, AttachmentKind::Png);
        assert_eq!(meta.file_name, "rash.png");
        assert_eq!(meta.sha256.len(), 64);
        assert_eq!(
            check_attachment("f", "", PNG, 100).unwrap().file_name,
            "image.png"
        );
    }

    #[test]
    fn the_size_limit_is_enforced_and_named() {
        let mut big = PNG.to_vec();
        big.resize(2 * 1024 * 1024, 0);
        let err = check_attachment("file", "x.png", &big, 1024 * 1024)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2.0 MB") && err.contains("1.0 MB"), "{err}");
        assert!(check_attachment("file", "x.png", &[], 10).is_err());
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(ny())
            .unwrap()
            .timestamp()
    }

    #[test]
    fn replies_are_due_in_business_days_of_the_site() {
        // Thursday 10:00 + 2 business days = Monday 10:00.
        assert_eq!(
            reply_due(at("2026-03-05T10:00"), &ny(), 2),
            at("2026-03-09T10:00")
        );
        // Monday + 2 = Wednesday.
        assert_eq!(
            reply_due(at("2026-03-02T16:30"), &ny(), 2),
            at("2026-03-04T16:30")
        );
        // Saturday: counts from Monday 08:00, due Wednesday 08:00.
        assert_eq!(
            reply_due(at("2026-03-07T23:00"), &ny(), 2),
            at("2026-03-11T08:00")
        );
        // Across the spring change (8 March 2026): the wall-clock time is kept.
        let due = reply_due(at("2026-03-06T09:00"), &ny(), 1);
        assert_eq!(due, at("2026-03-09T09:00"));
        assert_eq!(due.duration_since(at("2026-03-06T09:00")).as_hours(), 71);
    }

    #[test]
    fn a_patient_writes_only_to_their_care_team() {
        let (home, other) = (SiteId::new(), SiteId::new());
        let dr = UserId::new();
        assert!(check_patient_recipient(home, None, &[home], &[]).is_ok());
        assert!(check_patient_recipient(home, Some(dr), &[home], &[dr]).is_ok());
        let err = check_patient_recipient(other, None, &[home], &[dr])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("site_id"), "{err}");
        let err = check_patient_recipient(home, Some(UserId::new()), &[home], &[dr])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("clinician_id"), "{err}");
    }
}
