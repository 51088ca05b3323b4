//! Telemed's domain: types, rules, use cases and the storage port. No IO lives here.

#[macro_use]
mod named;

pub mod access;
pub mod clock;
pub mod compliance;
pub mod context;
pub mod error;
pub mod identity;
pub mod ids;
pub mod messaging;
pub mod notes;
pub mod program;
pub mod scheduling;
pub mod store;
pub mod training;
pub mod visits;

pub use access::{Actor, Permission, Principal};
pub use clock::{Clock, FixedClock, SystemClock};
pub use context::Ctx;
pub use error::{DomainError, ErrorClass, ErrorKind, FieldError};
pub use store::Store;
