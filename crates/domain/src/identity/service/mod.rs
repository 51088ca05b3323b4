//! Identity's use cases: organizations and sites, staff accounts, patients.

pub mod org;
pub mod patients;
pub mod users;
