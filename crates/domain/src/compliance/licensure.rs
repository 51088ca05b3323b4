//! Interstate licensure: a clinician may see a patient only with a license, valid on the visit
//! date, for the state where the patient is during the visit. Checked on the server, at booking
//! and again at check-in, and audited either way.

use jiff::civil::Date;

use crate::error::DomainError;
use crate::identity::{StateLicense, UsState};

/// The license that allows a visit with a patient located in `state` on `visit_date`.
pub fn check_clinician_licensed_in(
    licenses: &[StateLicense],
    state: UsState,
    visit_date: Date,
) -> Result<&StateLicense, DomainError> {
    licenses
        .iter()
        .find(|l| l.state == state && l.expires_on >= visit_date)
        .ok_or(DomainError::ClinicianNotLicensed {
            state: state.code(),
        })
}

/// The audit note for a licensure check: which state, which date, and which license (or none).
pub fn describe_check(state: UsState, visit_date: Date, found: Option<&StateLicense>) -> String {
    match found {
        Some(l) => format!(
            "licensure {} on {visit_date}: license {} valid until {}",
            state.code(),
            l.number,
            l.expires_on
        ),
        None => format!(
            "licensure {} on {visit_date}: no valid license",
            state.code()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(state: &str, expires: Date) -> StateLicense {
        StateLicense {
            state: UsState::parse("s", state).unwrap_or_else(|e| panic!("{e}")),
            number: format!("{state}-1"),
            expires_on: expires,
        }
    }

    #[test]
    fn a_license_counts_through_its_expiry_date_and_not_after() {
        let licenses = [license("NY", jiff::civil::date(2027, 3, 31))];
        let ny = licenses[0].state;
        assert!(check_clinician_licensed_in(&licenses, ny, jiff::civil::date(2027, 3, 31)).is_ok());
        let err = check_clinician_licensed_in(&licenses, ny, jiff::civil::date(2027, 4, 1));
        assert!(matches!(
            err,
            Err(DomainError::ClinicianNotLicensed { state: "NY" })
        ));
    }

    #[test]
    fn a_license_in_another_state_does_not_count() {
        let licenses = [license("CA", jiff::civil::date(2030, 1, 1))];
        let nj = UsState::parse("s", "NJ").unwrap_or_else(|e| panic!("{e}"));
        let err = check_clinician_licensed_in(&licenses, nj, jiff::civil::date(2027, 1, 1));
        assert!(matches!(
            err,
            Err(DomainError::ClinicianNotLicensed { state: "NJ" })
        ));
        assert!(
            err.err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("NJ")
        );
    }
}
