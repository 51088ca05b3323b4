//! The fields of a scheduling request as a client spells them, parsed one by one: each front
//! door's `TryFrom` (the JSON API) or form reader (the web) uses these, so a bad value is named
//! by its field the same way everywhere. Blank is "not given".

use jiff::civil::Date;

use crate::error::{DomainError, DomainResult};
use crate::identity::{UsState, parse_date, parse_language};
use crate::scheduling::ServiceLine;

/// An id as a request spells it; the error names the field.
pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str, what: &str) -> DomainResult<T> {
    raw.trim()
        .parse()
        .map_err(|_| DomainError::invalid(field, format!("must be the id of a {what}")))
}

/// The text of an optional field, trimmed; blank is none.
fn given(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|r| !r.is_empty())
}

/// An optional id.
pub fn opt_id<T: std::str::FromStr>(
    field: &str,
    raw: Option<&str>,
    what: &str,
) -> DomainResult<Option<T>> {
    given(raw).map(|r| parse_id(field, r, what)).transpose()
}

/// An optional US state.
pub fn opt_state(field: &str, raw: Option<&str>) -> DomainResult<Option<UsState>> {
    given(raw).map(|r| UsState::parse(field, r)).transpose()
}

/// An optional service line (`primary_care`, `urgent_care`...).
pub fn opt_line(field: &str, raw: Option<&str>) -> DomainResult<Option<ServiceLine>> {
    given(raw).map(|r| ServiceLine::parse(field, r)).transpose()
}

/// An optional calendar date, `YYYY-MM-DD`.
pub fn opt_date(field: &str, raw: Option<&str>) -> DomainResult<Option<Date>> {
    given(raw).map(|r| parse_date(field, r)).transpose()
}

/// An optional language tag (`en`, `es-US`), lower-cased.
pub fn opt_language(field: &str, raw: Option<&str>) -> DomainResult<Option<String>> {
    given(raw).map(|r| parse_language(field, r)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SiteId;

    #[test]
    fn blank_is_not_given_and_a_bad_value_names_its_field() {
        assert_eq!(opt_state("patient_state", Some("  ")).unwrap(), None);
        assert_eq!(opt_date("from", None).unwrap(), None);
        assert_eq!(
            opt_date("from", Some(" 2027-01-05 ")).unwrap(),
            Some(jiff::civil::date(2027, 1, 5))
        );
        assert_eq!(
            opt_language("language", Some("ES")).unwrap().as_deref(),
            Some("es")
        );
        for (err, field) in [
            (
                opt_state("patient_state", Some("ZZ")).unwrap_err(),
                "patient_state",
            ),
            (opt_date("to", Some("tomorrow")).unwrap_err(), "to"),
            (
                opt_line("service_line", Some("surgery")).unwrap_err(),
                "service_line",
            ),
            (
                opt_language("language", Some("en us")).unwrap_err(),
                "language",
            ),
            (
                opt_id::<SiteId>("site_id", Some("not-an-id"), "site").unwrap_err(),
                "site_id",
            ),
        ] {
            match err {
                DomainError::Invalid(f) => assert_eq!(f.field, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
