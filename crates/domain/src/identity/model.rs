//! The records of the identity area, as the rest of the domain sees them.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::values::{Email, TimeZoneName, UsState};
use crate::error::DomainError;
use crate::ids::{OrgId, PatientId, SiteId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Clinician,
    Nurse,
    FrontDesk,
    SiteAdmin,
    OrgAdmin,
    ProgramManager,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Patient,
        Role::Clinician,
        Role::Nurse,
        Role::FrontDesk,
        Role::SiteAdmin,
        Role::OrgAdmin,
        Role::ProgramManager,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Nurse => "nurse",
            Role::FrontDesk => "front_desk",
            Role::SiteAdmin => "site_admin",
            Role::OrgAdmin => "org_admin",
            Role::ProgramManager => "program_manager",
            Role::Auditor => "auditor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Patient => "Patient",
            Role::Clinician => "Clinician",
            Role::Nurse => "Nurse",
            Role::FrontDesk => "Front desk",
            Role::SiteAdmin => "Site administrator",
            Role::OrgAdmin => "Organization administrator",
            Role::ProgramManager => "Program manager",
            Role::Auditor => "Auditor",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == raw.trim())
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!(
                        "'{}' is not a role; expected one of {}",
                        raw.trim(),
                        Role::ALL.map(Role::as_str).join(", ")
                    ),
                )
            })
    }

    /// Every role except patient is staff, and staff must use a second factor.
    pub fn is_staff(self) -> bool {
        self != Role::Patient
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub org_id: OrgId,
    pub name: String,
    pub state: UsState,
    pub time_zone: TimeZoneName,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateLicense {
    pub state: UsState,
    pub number: String,
    pub expires_on: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClinicianProfile {
    pub npi: String,
    pub specialties: Vec<String>,
    /// Languages the clinician holds visits in, as lower-case tags (`en`, `es`).
    pub languages: Vec<String>,
    pub licenses: Vec<StateLicense>,
}

/// A person who signs in. Secrets (password hash, TOTP secret) live only in the store's credential record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    /// Sites the user works at; staff see the patients of these sites.
    pub site_ids: Vec<SiteId>,
    /// For a patient account, the record it may read.
    pub patient_id: Option<PatientId>,
    pub clinician: Option<ClinicianProfile>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// What sign-in needs to know about a user, kept apart from [`User`] so secrets are not passed around.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    pub active: bool,
    pub password_hash: String,
    /// Base32 TOTP secret; `None` until the user has enrolled.
    pub totp_secret: Option<String>,
    pub totp_confirmed: bool,
    pub failed_attempts: i64,
    pub locked_until: Option<Timestamp>,
    /// The last TOTP time step accepted, so a code cannot be replayed.
    pub last_totp_step: Option<i64>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("password_hash", &"<redacted>")
            .field(
                "totp_secret",
                &self.totp_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, DomainError> {
        match raw.trim() {
            "female" => Ok(Sex::Female),
            "male" => Ok(Sex::Male),
            "other" => Ok(Sex::Other),
            "unknown" => Ok(Sex::Unknown),
            other => Err(DomainError::invalid(
                field,
                format!("'{other}' is not one of female, male, other, unknown"),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: UsState,
    pub postal_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub id: PatientId,
    pub org_id: OrgId,
    /// Medical record number, unique within the organization.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub email: Option<Email>,
    pub phone: Option<String>,
    pub address: Address,
    pub preferred_language: String,
    /// The clinic that cares for the patient; its staff see the record without emergency access.
    pub primary_site_id: SiteId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Patient {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// Filters for the staff patient list.
#[derive(Debug, Clone, Default)]
pub struct PatientQuery {
    /// Matches the start of the family name, given name or MRN (case-insensitive).
    pub text: Option<String>,
    /// Only patients of these sites; `None` means every site of the organization.
    pub site_ids: Option<Vec<SiteId>>,
    /// Only these patients; `None` means any.
    pub ids: Option<Vec<PatientId>>,
    pub limit: i64,
    pub offset: i64,
}
