//! ICD-10-CM diagnosis codes: the billable codes of the CDC/NCHS release bundled with the binary,
//! looked up by code and searched by code or words.
//!
//! The list is `data/icd10cm-2026.tsv.gz` (April 1, 2026 release, public domain; made by
//! `scripts/icd10cm-codes.py`): one `CODE<TAB>DESCRIPTION` line per billable code. A code that
//! is a prefix of billable codes but not one itself (`E11`) is a category: not billable.

use std::sync::OnceLock;

use crate::error::DomainError;

/// The release the bundled list comes from, shown beside diagnoses.
pub const RELEASE: &str = "ICD-10-CM April 1, 2026 (CDC/NCHS)";

const DATA: &[u8] = include_bytes!("../../data/icd10cm-2026.tsv.gz");

/// One billable code and its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icd10Code {
    pub code: &'static str,
    pub description: &'static str,
}

struct CodeList {
    /// Sorted by code (without its dot), for binary search.
    codes: Vec<Icd10Code>,
    /// Each code's key (code without dot, upper case) and lower-case description, for search.
    keys: Vec<(String, String)>,
}

/// The list, decompressed once on first use. It never changes while the program runs, so one
/// shared copy is not mutable state.
fn list() -> &'static CodeList {
    static LIST: OnceLock<CodeList> = OnceLock::new();
    LIST.get_or_init(|| {
        let text = gunzip(DATA).unwrap_or_default();
        // Leaked once: the list lives as long as the program and lends `&'static str`s.
        let text: &'static str = Box::leak(text.into_boxed_str());
        let mut codes: Vec<Icd10Code> = text
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(code, description)| Icd10Code { code, description })
            .collect();
        codes.sort_by_key(|c| key(c.code));
        let keys = codes
            .iter()
            .map(|c| (key(c.code), c.description.to_lowercase()))
            .collect();
        CodeList { codes, keys }
    })
}

/// The gzip member's deflate stream, inflated. The bundled file has the plain 10-byte header
/// (no name, no extra field), which is all this reads.
fn gunzip(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 18 || bytes[0..3] != [0x1f, 0x8b, 8] || bytes[3] != 0 {
        return None;
    }
    let inflated = miniz_oxide::inflate::decompress_to_vec(&bytes[10..bytes.len() - 8]).ok()?;
    String::from_utf8(inflated).ok()
}

/// `e11.9` and `E119` both become `E119`.
fn key(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|c| *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// How many billable codes the bundled list holds.
pub fn count() -> usize {
    list().codes.len()
}

/// The billable code written `raw` (with or without its dot, any case), if there is one.
pub fn lookup(raw: &str) -> Option<Icd10Code> {
    let list = list();
    let k = key(raw);
    list.keys
        .binary_search_by(|(key, _)| key.as_str().cmp(&k))
        .ok()
        .map(|i| list.codes[i])
}

/// Checks one diagnosis code: it must be a billable code of the bundled release.
pub fn check_billable(field: &str, raw: &str) -> Result<Icd10Code, DomainError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid(field, "enter an ICD-10-CM code"));
    }
    if let Some(code) = lookup(trimmed) {
        return Ok(code);
    }
    let k = key(trimmed);
    let list = list();
    let start = list
        .keys
        .partition_point(|(key, _)| key.as_str() < k.as_str());
    match list.keys.get(start) {
        Some((more, _)) if more.starts_with(&k) => Err(DomainError::invalid(
            field,
            format!(
                "{trimmed} is an ICD-10-CM category, not a billable code; choose a more specific code such as {}",
                list.codes[start].code
            ),
        )),
        _ => Err(DomainError::invalid(
            field,
            format!("{trimmed} is not an ICD-10-CM code of the {RELEASE} release"),
        )),
    }
}

/// Codes matching `query`: a code or the start of one (`J06`), or words that must all begin a
/// word of the description (`acute sinus`). At most `limit`, codes in code order.
pub fn search(query: &str, limit: usize) -> Vec<Icd10Code> {
    let query = query.trim();
    if query.is_empty() || limit == 0 {
        return Vec::new();
    }
    let list = list();
    let k = key(query);
    let looks_like_code = k.len() >= 2
        && k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars().nth(1).is_some_and(|c| c.is_ascii_digit());
    if looks_like_code {
        let start = list
            .keys
            .partition_point(|(key, _)| key.as_str() < k.as_str());
        let found: Vec<Icd10Code> = list.keys[start..]
            .iter()
            .take_while(|(key, _)| key.starts_with(&k))
            .take(limit)
            .enumerate()
            .map(|(i, _)| list.codes[start + i])
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    list.keys
        .iter()
        .enumerate()
        .filter(|(_, (_, description))| {
            words.iter().all(|w| {
                description
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|dw| dw.starts_with(w.as_str()))
            })
        })
        .take(limit)
        .map(|(i, _)| list.codes[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_release_holds_every_billable_code() {
        // 74,714 leaf codes in the April 2026 tabular list, 7th characters expanded.
        assert_eq!(count(), 74_714);
        assert_eq!(
            lookup("E11.A").map(|c| c.description),
            Some("Type 2 diabetes mellitus without complications in remission")
        );
        assert_eq!(lookup("s0001xa").map(|c| c.code), Some("S00.01XA"));
        assert_eq!(lookup("S00.01X"), None);
        assert_eq!(lookup("S00.01XA").map(|c| c.code), Some("S00.01XA"));
        assert_eq!(lookup("I10").map(|c| c.code), Some("I10"));
        assert_eq!(lookup("j069").map(|c| c.code), Some("J06.9"));
    }

    #[test]
    fn a_category_is_refused_as_not_billable_and_an_unknown_code_as_unknown() {
        let err = check_billable("diagnoses[0]", "E11")
            .unwrap_err()
            .to_string();
        assert!(err.contains("category, not a billable code"), "{err}");
        assert!(err.starts_with("diagnoses[0]"), "{err}");
        let err = check_billable("diagnoses[1]", "Q99.99")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not an ICD-10-CM code"), "{err}");
        assert!(check_billable("d", " ").is_err());
        assert_eq!(
            check_billable("d", "f41.1").map(|c| c.code).ok(),
            Some("F41.1")
        );
    }

    #[test]
    fn search_finds_codes_by_their_start_and_by_words() {
        let by_code = search("J06", 10);
        assert_eq!(
            by_code.iter().map(|c| c.code).collect::<Vec<_>>(),
            ["J06.0", "J06.9"]
        );
        let by_words = search("generalized anxiety", 10);
        assert!(by_words.iter().any(|c| c.code == "F41.1"), "{by_words:?}");
        let by_prefixes = search("acute upper resp", 5);
        assert!(
            by_prefixes.iter().any(|c| c.code == "J06.9"),
            "{by_prefixes:?}"
        );
        assert!(search("zzzzqqq", 5).is_empty());
        assert_eq!(search("diabetes", 3).len(), 3);
    }
}
