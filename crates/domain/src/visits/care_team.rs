//! The care team around a visit: the staff besides its clinician who take part (the visit's
//! nurse), and the storage port that finds a staff member's appointments with a patient.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::access::CareLink;
use crate::compliance::AuditEntry;
use crate::identity::Role;
use crate::ids::{AppointmentId, OrgId, PatientId, UserId};
use crate::store::StoreResult;

/// A staff member on a visit besides its clinician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitStaff {
    pub appointment_id: AppointmentId,
    pub user_id: UserId,
    pub role: Role,
    pub added_at: Timestamp,
}

#[async_trait]
pub trait CareTeamStore: Send + Sync {
    /// The appointments (not cancelled) of `patient` that `user` is the clinician of or is on
    /// as visit staff, as care links.
    async fn care_links(
        &self,
        org: OrgId,
        user: UserId,
        patient: PatientId,
    ) -> StoreResult<Vec<CareLink>>;
    /// Puts a staff member on a visit; a second time is a no-op.
    async fn add_visit_staff(
        &self,
        org: OrgId,
        staff: &VisitStaff,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    async fn visit_staff(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<VisitStaff>>;
}
