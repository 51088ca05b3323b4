//! Compliance: the hash-chained audit trail and emergency ("break-glass") access.

pub mod audit;
pub mod break_glass;

pub use audit::*;
pub use break_glass::*;
