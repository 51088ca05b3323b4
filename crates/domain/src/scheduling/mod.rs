//! Scheduling: visit types, clinician availability and the slots published from it, appointments
//! and their state machine, reminders, no-shows and the on-demand queue.

pub mod availability;
pub mod model;
pub mod service;
pub mod state;
pub mod store;

use async_trait::async_trait;
use jiff::Timestamp;

pub use model::*;
pub use store::*;

use crate::error::DomainResult;
use crate::identity::User;

/// Settings of the scheduling rules, from the server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulingPolicy {
    /// A patient cancelling later than this before the start is recorded as a late cancellation.
    pub cancellation_cutoff_hours: i64,
    /// A booked visit not checked in this long after its start is marked no-show.
    pub no_show_grace_minutes: i64,
    /// Check-in opens this long before the start.
    pub check_in_window_minutes: i64,
    /// How far ahead slots are published and may be booked.
    pub booking_horizon_days: i64,
}

impl Default for SchedulingPolicy {
    fn default() -> Self {
        Self {
            cancellation_cutoff_hours: 24,
            no_show_grace_minutes: 15,
            check_in_window_minutes: 30,
            booking_horizon_days: 90,
        }
    }
}

/// The place where the telehealth competency rule plugs in: a clinician without a current
/// certification may not be booked for, or host, a virtual visit. Asked at booking and at
/// check-in. Until training records exist, [`NoCertificationRequired`] lets everyone through.
#[async_trait]
pub trait CompetencyGate: Send + Sync {
    /// `Err(DomainError::ClinicianNotCertified)` when the clinician may not take a virtual visit at `at`.
    async fn check_virtual_visit(&self, clinician: &User, at: Timestamp) -> DomainResult<()>;
}

/// The gate before certification is tracked: every clinician passes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCertificationRequired;

#[async_trait]
impl CompetencyGate for NoCertificationRequired {
    async fn check_virtual_visit(&self, _clinician: &User, _at: Timestamp) -> DomainResult<()> {
        Ok(())
    }
}
