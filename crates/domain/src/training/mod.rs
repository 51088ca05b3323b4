//! Staff training and the telehealth competency certification: courses per role (modules to
//! read, a pre-test and a post-test drawn from one question bank), enrolments, scores,
//! certifications that expire, remedial and refresher enrolments, and the gate that keeps an
//! uncertified clinician out of virtual visits.

mod gate;
mod model;
mod rules;
pub mod service;
mod store;
pub mod template;

pub use gate::CertificationGate;
pub use model::*;
pub use rules::*;
pub use store::*;
