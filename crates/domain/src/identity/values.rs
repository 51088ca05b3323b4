//! Parsed values: once built, they are valid (parse, don't validate).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// A trimmed, lower-cased email address with one `@` and a dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let value = raw.trim().to_ascii_lowercase();
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !value.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(value))
        } else {
            Err(DomainError::invalid(
                field,
                "must be an email address such as name@example.org",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const US_STATES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
];

/// A US state or territory, by its two-letter postal code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UsState(u8);

impl UsState {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let upper = raw.trim().to_ascii_uppercase();
        US_STATES
            .iter()
            .position(|s| *s == upper)
            .and_then(|i| u8::try_from(i).ok())
            .map(Self)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("'{}' is not a US state code such as NY or CA", raw.trim()),
                )
            })
    }

    pub fn code(&self) -> &'static str {
        US_STATES[usize::from(self.0)]
    }

    pub fn all() -> &'static [&'static str] {
        &US_STATES
    }
}

impl TryFrom<String> for UsState {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("state", &value).map_err(|e| e.to_string())
    }
}

impl From<UsState> for String {
    fn from(value: UsState) -> Self {
        value.code().to_string()
    }
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An IANA time zone name the system's tz database knows, such as `America/New_York`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) if !name.is_empty() => Ok(Self(name.to_string())),
            _ => Err(DomainError::invalid(
                field,
                format!("'{name}' is not an IANA time zone such as America/New_York"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-empty, trimmed piece of text with an upper bound on its length.
pub fn required_text(field: &str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_string())
}

/// Like [`required_text`], but empty input means "not given".
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => required_text(field, value, max).map(Some),
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn parse_date(field: &str, raw: &str) -> Result<jiff::civil::Date, DomainError> {
    raw.trim().parse::<jiff::civil::Date>().map_err(|_| {
        DomainError::invalid(
            field,
            format!("'{}' is not a date in the form YYYY-MM-DD", raw.trim()),
        )
    })
}

/// A US National Provider Identifier: ten digits with a valid Luhn check digit (prefix 80840).
pub fn parse_npi(field: &str, raw: &str) -> Result<String, DomainError> {
    let npi = raw.trim();
    if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::invalid(field, "must be a 10-digit NPI"));
    }
    let digits = format!("80840{npi}");
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    if !sum.is_multiple_of(10) {
        return Err(DomainError::invalid(
            field,
            "is not a valid NPI (check digit mismatch)",
        ));
    }
    Ok(npi.to_string())
}

/// The password policy: long enough to resist guessing, short enough to hash quickly.
pub fn check_password_strength(field: &str, password: &str) -> Result<(), DomainError> {
    let len = password.chars().count();
    if len < 12 {
        return Err(DomainError::invalid(
            field,
            "must be at least 12 characters",
        ));
    }
    if len > 256 {
        return Err(DomainError::invalid(
            field,
            "must be at most 256 characters",
        ));
    }
    Ok(())
}

/// A language tag such as `en` or `es-US`, lower-cased.
pub fn parse_language(field: &str, raw: &str) -> DomainResult<String> {
    let tag = raw.trim().to_ascii_lowercase();
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(tag)
    } else {
        Err(DomainError::invalid(
            field,
            "must be a language tag such as en or es",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_with_a_valid_check_digit_is_accepted_and_a_wrong_one_refused() {
        assert!(parse_npi("npi", "1234567893").is_ok());
        assert!(parse_npi("npi", "1234567890").is_err());
        assert!(parse_npi("npi", "12345").is_err());
    }

    #[test]
    fn state_codes_are_case_insensitive_and_unknown_codes_are_refused() {
        assert_eq!(UsState::parse("s", "ny").map(|s| s.code()).ok(), Some("NY"));
        assert!(UsState::parse("s", "XX").is_err());
    }

    #[test]
    fn email_is_normalised_and_malformed_addresses_are_refused() {
        assert_eq!(
            Email::parse("e", " A@B.org ").map(|e| e.to_string()).ok(),
            Some("a@b.org".into())
        );
        for bad in ["", "a", "a@b", "@b.org", "a b@c.org", "a@b.org."] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_zones_must_be_known() {
        assert!(TimeZoneName::parse("tz", "America/New_York").is_ok());
        assert!(TimeZoneName::parse("tz", "Mars/Olympus").is_err());
    }
}
