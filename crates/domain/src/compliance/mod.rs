//! Compliance: the hash-chained audit trail, emergency ("break-glass") access, telehealth consent
//! and interstate licensure.

pub mod audit;
pub mod break_glass;
pub mod chain;
pub mod checkpoint;
pub mod consent;
pub mod licensure;
pub mod search;
pub mod service;

pub use audit::*;
pub use break_glass::*;
pub use chain::*;
pub use checkpoint::{Checkpoint, CheckpointBreak, CheckpointReport, SignatureCheck};
pub use consent::*;
pub use licensure::*;
pub use search::*;
pub mod store;
pub use store::*;
