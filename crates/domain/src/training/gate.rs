//! The competency gate filled by training: a clinician may be booked for, or host, a virtual
//! visit only with a certification valid at the visit's time, or a program manager's exception
//! covering it. An organization that has no certifying course for clinicians yet has not
//! decided to require one, and its clinicians pass.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::error::{DomainError, DomainResult};
use crate::identity::{Role, User};
use crate::scheduling::CompetencyGate;
use crate::store::Store;

pub struct CertificationGate {
    store: Arc<dyn Store>,
}

impl CertificationGate {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl CompetencyGate for CertificationGate {
    async fn check_virtual_visit(&self, clinician: &User, at: Timestamp) -> DomainResult<()> {
        let org = clinician.org_id;
        if !self
            .store
            .has_certifying_course(org, Role::Clinician)
            .await?
        {
            return Ok(());
        }
        let certifications = self
            .store
            .list_certifications(org, Some(clinician.id))
            .await?;
        if certifications.iter().any(|c| c.valid_at(at)) {
            return Ok(());
        }
        let exceptions = self
            .store
            .list_gate_exceptions(org, Some(clinician.id))
            .await?;
        if exceptions.iter().any(|e| e.covers(at)) {
            return Ok(());
        }
        Err(DomainError::ClinicianNotCertified)
    }
}
