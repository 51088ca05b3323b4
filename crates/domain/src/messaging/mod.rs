//! Secure messaging between patients and their care team: threads per site (or addressed to one
//! clinician who saw the patient), a staff inbox with assignment, states, unread counts, read
//! receipts and reply-time targets in business days, staff-only notes, and attachments checked
//! by content.

pub mod model;
pub mod rules;
pub mod service;
pub mod store;

pub use model::*;
pub use store::*;
