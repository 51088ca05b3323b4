//! `Ctx`, what every use case is handed: the store, the clock, the policies and the ports.
//! Use cases live in their area's `service` (`scheduling::service::booking`, ...); each takes the
//! context and the acting `Actor` first, checks permission, and audits.

use crate::clock::Clock;
use crate::scheduling::{CompetencyGate, SchedulingPolicy};
use crate::store::Store;

/// What every use case needs from the outside world.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    /// How long an emergency access grant lasts.
    pub break_glass_minutes: i64,
    pub scheduling: SchedulingPolicy,
    /// Whether a clinician may take virtual visits (filled by training and certification).
    pub competency: &'a dyn CompetencyGate,
    /// Tells the screens watching a visit that it changed.
    pub notifier: &'a dyn crate::visits::VisitNotifier,
    /// How long around an appointment its clinician and nurse are in the patient's care team.
    pub care_team: crate::access::CareTeamWindow,
    /// Settings of notes, messaging and e-consults.
    pub clinical: crate::notes::ClinicalPolicy,
    /// Tells staff with an inbox open that a thread changed.
    pub inbox: &'a dyn crate::messaging::InboxNotifier,
}
