//! The storage port of visits, and the notifier port through which the domain tells every screen
//! watching a visit that it changed.

use async_trait::async_trait;
use jiff::Timestamp;

use super::model::{
    AheadInQueue, Escalation, Invite, InviteDelivery, QualitySample, Visit, VisitLogEntry,
};
use super::state::{VisitOutcome, VisitState};
use super::visit_link::VisitLink;
use crate::compliance::AuditEntry;
use crate::error::StoreResult;
use crate::ids::{AppointmentId, EscalationId, InviteId, OrgId, SiteId, UserId, VisitLinkId};
use crate::scheduling::{AppointmentEvent, AppointmentStatus, StatusChange};

/// Which visits a waiting-room list wants.
#[derive(Debug, Clone, Default)]
pub struct VisitQuery {
    pub site_ids: Option<Vec<SiteId>>,
    pub clinician_id: Option<UserId>,
    pub states: Option<Vec<VisitState>>,
    /// Visits checked in at or after this instant.
    pub since: Option<Timestamp>,
    pub limit: i64,
}

/// One step of the appointment that goes with a visit's change (admitting nothing; starting the
/// call starts the appointment; ending it completes the appointment).
#[derive(Debug, Clone)]
pub struct AppointmentStep {
    pub from: AppointmentStatus,
    pub to: AppointmentStatus,
    pub event: AppointmentEvent,
    /// A visit ended before its planned end frees the rest of the clinician's time.
    pub end_at: Option<Timestamp>,
}

/// A change of a visit's state, applied only if it is still `from`.
#[derive(Debug, Clone)]
pub struct VisitChange {
    pub org_id: OrgId,
    pub appointment_id: AppointmentId,
    pub from: VisitState,
    pub to: VisitState,
    pub at: Timestamp,
    pub outcome: Option<VisitOutcome>,
    /// The appointment's own steps, applied in the same transaction (each only if still `from`).
    pub appointment: Vec<AppointmentStep>,
    pub log: VisitLogEntry,
    pub audit: Vec<AuditEntry>,
}

/// What a logged happening changes in the visit's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VisitCounters {
    /// A connection dropped.
    pub drop: bool,
    /// The call switched to audio-only (`Some(true)`) or back to video (`Some(false)`).
    pub audio_only: Option<bool>,
}

#[async_trait]
pub trait VisitStore: Send + Sync {
    /// Checks the appointment in and opens its visit, in one transaction; false when the
    /// appointment was no longer in the expected status (nothing written).
    async fn open_visit(
        &self,
        check_in: StatusChange,
        visit: &Visit,
        log: VisitLogEntry,
    ) -> StoreResult<bool>;
    async fn get_visit(&self, org: OrgId, id: AppointmentId) -> StoreResult<Option<Visit>>;
    /// Visits by check-in time, oldest first.
    async fn list_visits(&self, org: OrgId, query: &VisitQuery) -> StoreResult<Vec<Visit>>;
    /// The visits ahead of `visit` in its clinician's queue (checked in since `since`): those in a
    /// call, and those waiting that checked in earlier, with their appointments' planned times.
    async fn queue_ahead(&self, visit: &Visit, since: Timestamp) -> StoreResult<Vec<AheadInQueue>>;
    /// False when the visit was no longer in `change.from` (nothing written).
    async fn change_visit(&self, change: VisitChange) -> StoreResult<bool>;
    /// Records a happening that is not a change of state (a drop, a switch to audio, a guest).
    async fn log_visit(&self, entry: &VisitLogEntry, counters: VisitCounters) -> StoreResult<()>;
    async fn visit_log(&self, org: OrgId, id: AppointmentId) -> StoreResult<Vec<VisitLogEntry>>;
    async fn record_quality(&self, samples: &[QualitySample]) -> StoreResult<()>;
    async fn quality(&self, org: OrgId, id: AppointmentId) -> StoreResult<Vec<QualitySample>>;

    // Guests.
    async fn create_invite(&self, invite: &Invite, audit: AuditEntry) -> StoreResult<()>;
    async fn set_invite_delivery(&self, id: InviteId, delivery: InviteDelivery) -> StoreResult<()>;
    async fn invite_by_token(&self, token_hash: &str) -> StoreResult<Option<Invite>>;
    async fn invite_by_session(&self, session_hash: &str) -> StoreResult<Option<Invite>>;
    /// Uses the link once: binds the guest's session to it; false if it was used already.
    async fn claim_invite(
        &self,
        id: InviteId,
        session_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// False if the guest was admitted already or never opened the link.
    async fn admit_guest(
        &self,
        org: OrgId,
        id: InviteId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    async fn list_invites(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<Invite>>;

    // Emergencies and check-in alerts.
    async fn create_escalation(
        &self,
        escalation: &Escalation,
        audit: AuditEntry,
    ) -> StoreResult<()>;
    /// Escalations nobody acknowledged yet at these sites, newest first.
    async fn open_escalations(&self, org: OrgId, sites: &[SiteId]) -> StoreResult<Vec<Escalation>>;
    async fn visit_escalations(
        &self,
        org: OrgId,
        id: AppointmentId,
    ) -> StoreResult<Vec<Escalation>>;
    /// False if it was acknowledged already.
    async fn acknowledge_escalation(
        &self,
        org: OrgId,
        id: EscalationId,
        by: UserId,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
}

/// Patients' join links (`visit_link.rs`). Only token hashes are stored.
#[async_trait]
pub trait VisitLinkStore: Send + Sync {
    /// Stores a new link and, in the same transaction as its audit entry, replaces (revokes at
    /// `link.created_at`) every earlier link of the same appointment, ending their sessions.
    async fn create_visit_link(&self, link: &VisitLink, audit: AuditEntry) -> StoreResult<()>;
    async fn set_visit_link_delivery(
        &self,
        id: VisitLinkId,
        delivery: InviteDelivery,
    ) -> StoreResult<()>;
    async fn visit_link_by_token(&self, token_hash: &str) -> StoreResult<Option<VisitLink>>;
    async fn visit_link_by_session(&self, session_hash: &str) -> StoreResult<Option<VisitLink>>;
    /// Opens a link once: only if it is unused, not replaced and not expired at `at`, whatever
    /// the number of servers. False writes nothing, the audit entry included.
    async fn claim_visit_link(
        &self,
        id: VisitLinkId,
        session_hash: &str,
        at: Timestamp,
        audit: AuditEntry,
    ) -> StoreResult<bool>;
    /// An appointment's links, newest first.
    async fn list_visit_links(
        &self,
        org: OrgId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<VisitLink>>;
}

/// What a visit's watchers are told. Implemented by the server (its live connections, and other
/// servers through the database); the domain only says when.
pub trait VisitNotifier: Send + Sync {
    /// The visit changed: its state, its guests, its participants' media.
    fn visit_changed(&self, visit: &Visit);
    /// An emergency or a refused check-in at a site: its staff must see it now.
    fn alert_raised(&self, escalation: &Escalation);
}

/// A notifier that tells nobody (the command line, tests of the domain alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct NobodyWatching;

impl VisitNotifier for NobodyWatching {
    fn visit_changed(&self, _visit: &Visit) {}
    fn alert_raised(&self, _escalation: &Escalation) {}
}
