//! Organizations, sites, users, roles, clinician and patient profiles.

pub mod model;
pub mod reset;
pub mod service;
pub mod values;

pub use model::*;
pub use reset::*;
pub use values::*;
pub mod store;
pub use store::*;
