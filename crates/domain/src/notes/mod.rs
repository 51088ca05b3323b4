//! Visit notes: one per visit or appointment, from a template per service line, with the
//! telehealth facts taken from the visit record, ICD-10-CM diagnoses, a signature that locks the
//! note (SHA-256 shown), signed addenda, and the after-visit summary the patient reads.

pub mod icd10;
pub mod model;
pub mod rules;
pub mod service;
pub mod store;
pub mod summary;

pub use model::*;
pub use rules::{NoteDraft, NoteInput};
pub use store::*;

/// Settings of the clinical areas (notes, messaging, e-consults), from the server's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClinicalPolicy {
    /// A draft older than this shows on its clinician's home page (default 72 hours).
    pub unsigned_note_hours: i64,
    /// Target time to answer a patient's message, in business days of the site (default 2).
    pub reply_business_days: i64,
    /// Largest attachment accepted, in bytes (default 10 MB).
    pub attachment_max_bytes: usize,
}

impl Default for ClinicalPolicy {
    fn default() -> Self {
        Self {
            unsigned_note_hours: 72,
            reply_business_days: 2,
            attachment_max_bytes: 10 * 1024 * 1024,
        }
    }
}
