//! The auditor's search as asked (names or ids) and as answered (records with the names they
//! mention).

use super::audit::AuditQuery;
use super::chain::AuditRecord;
use crate::ids::PatientId;

/// What the auditor asked for: the filters, with who acted and whom it was about given as ids or
/// as names (resolved by [`super::service::search`]).
#[derive(Debug, Clone, Default)]
pub struct AuditSearch {
    pub query: AuditQuery,
    /// A user's or client's id, or part of their name or email.
    pub who: Option<String>,
    /// A patient's id, or the start of their name (each word) or MRN.
    pub patient: Option<String>,
}

/// The records found, and the names of the people they mention.
#[derive(Debug, Clone, Default)]
pub struct AuditResults {
    pub records: Vec<AuditRecord>,
    pub names: AuditNames,
}

/// Names of users, clients and patients, by id.
#[derive(Debug, Clone, Default)]
pub struct AuditNames {
    pub(crate) actors: std::collections::HashMap<String, String>,
    pub(crate) patients: std::collections::HashMap<PatientId, String>,
}

impl AuditNames {
    /// The name of a user or client, by the id the record holds.
    pub fn actor(&self, id: &str) -> Option<&str> {
        self.actors.get(id).map(String::as_str)
    }

    pub fn patient(&self, id: PatientId) -> Option<&str> {
        self.patients.get(&id).map(String::as_str)
    }
}
