//! Identity's use cases: organizations and sites, staff accounts, patients, one's own account.

pub mod account;
pub mod org;
pub mod patients;
pub mod user_admin;
pub mod users;
