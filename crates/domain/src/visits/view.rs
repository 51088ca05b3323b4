//! What each participant of a visit's live room may see of the visit: a guest only the call; the
//! patient also their wait, the visit's outcome and its guests; the clinician also where the
//! patient is, the questionnaire's flags and the connection drops.
//!
//! The live room (who is connected, who is let in) is the server's; the visit's state is the
//! domain's. This is where one meets the other: the server sends each participant the view of
//! their role, and nothing else of the visit.

use jiff::Timestamp;

use super::model::{GuestRelation, Invite, ParticipantRole, Visit};
use super::state::{VisitOutcome, VisitState};
use crate::identity::UsState;
use crate::ids::{AppointmentId, InviteId};
use crate::scheduling::Modality;

/// A visit as the live room reloads it: the visit, its invitations and, while the patient waits,
/// the estimated wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVisit {
    pub visit: Visit,
    pub invites: Vec<Invite>,
    /// Minutes the patient may still wait (only while waiting).
    pub wait_minutes: Option<i64>,
}

impl LiveVisit {
    /// The invitations whose guest the clinician let in.
    pub fn admitted_guests(&self) -> Vec<InviteId> {
        self.invites
            .iter()
            .filter(|i| i.admitted_at.is_some())
            .map(|i| i.id)
            .collect()
    }

    /// The visit as a participant in `role` may see it at `now`.
    pub fn view_for(&self, role: ParticipantRole, now: Timestamp) -> VisitView {
        let v = &self.visit;
        let shared = (role != ParticipantRole::Guest).then(|| SharedView {
            outcome: v.outcome,
            modality: v.modality,
            checked_in_at: v.checked_in_at,
            wait_minutes: self.wait_minutes,
            guests: self
                .invites
                .iter()
                .map(|i| GuestView {
                    id: i.id,
                    name: i.name.clone(),
                    relation: i.relation,
                    status: i.status(now),
                })
                .collect(),
        });
        let clinical = (role == ParticipantRole::Clinician).then(|| ClinicalView {
            location_state: v.location_state,
            location_text: v.location_text.clone(),
            flags: v.flags(),
            drops: v.drops,
        });
        VisitView {
            id: v.appointment_id,
            state: v.state,
            audio_only: v.audio_only,
            shared,
            clinical,
        }
    }
}

/// One participant's view of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitView {
    pub id: AppointmentId,
    pub state: VisitState,
    pub audio_only: bool,
    /// For the patient and the clinician; `None` for a guest.
    pub shared: Option<SharedView>,
    /// For the clinician only.
    pub clinical: Option<ClinicalView>,
}

/// What the patient and the clinician both see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedView {
    pub outcome: Option<VisitOutcome>,
    pub modality: Modality,
    pub checked_in_at: Timestamp,
    pub wait_minutes: Option<i64>,
    pub guests: Vec<GuestView>,
}

/// A guest as the patient and the clinician see them (never the email or the link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestView {
    pub id: InviteId,
    pub name: String,
    pub relation: GuestRelation,
    /// invited, waiting, admitted or expired.
    pub status: &'static str,
}

/// What only the clinician sees: where the patient is (for licensure and emergencies), what the
/// questionnaire flagged, how often the connection dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicalView {
    pub location_state: UsState,
    pub location_text: String,
    pub flags: Vec<String>,
    pub drops: i64,
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::ids::{OrgId, PatientId, SiteId, UserId};
    use crate::visits::{InviteDelivery, QuestionnaireAnswers, QuestionnaireKind};

    fn at(minutes: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .saturating_add(SignedDuration::from_mins(minutes))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn live() -> LiveVisit {
        let org = OrgId::new();
        let id = AppointmentId::new();
        let visit = Visit {
            appointment_id: id,
            org_id: org,
            site_id: SiteId::new(),
            clinician_id: UserId::new(),
            patient_id: PatientId::new(),
            state: VisitState::Waiting,
            outcome: None,
            modality: Modality::Video,
            audio_only: false,
            audio_only_used: false,
            location_state: UsState::parse("patient_state", "NY").unwrap(),
            location_text: "home, 12 Elm Street".into(),
            questionnaire: Some(QuestionnaireAnswers {
                kind: QuestionnaireKind::UrgentSymptoms,
                phq9: Vec::new(),
                complaint: Some("chest hurts".into()),
                days: Some(1),
                fever: Some(false),
                chest_pain: Some(true),
                trouble_breathing: Some(false),
                pain: Some(6),
                notes: None,
                score: None,
                flags: vec!["chest pain".into()],
            }),
            checked_in_at: at(0),
            admitted_at: None,
            started_at: None,
            ended_at: None,
            drops: 2,
            updated_at: at(0),
        };
        let invite = |name: &str, admitted: bool| Invite {
            id: InviteId::new(),
            appointment_id: id,
            org_id: org,
            name: name.into(),
            relation: GuestRelation::Interpreter,
            email: None,
            token_hash: "secret hash".into(),
            created_by: visit.clinician_id,
            created_at: at(0),
            expires_at: at(60),
            delivery: InviteDelivery::LinkShown,
            used_at: Some(at(1)),
            session_hash: Some("another secret".into()),
            admitted_at: admitted.then(|| at(2)),
        };
        LiveVisit {
            invites: vec![invite("Ana Ruiz", true), invite("Bo Li", false)],
            visit,
            wait_minutes: Some(7),
        }
    }

    #[test]
    fn a_guest_sees_only_the_call() {
        let view = live().view_for(ParticipantRole::Guest, at(5));
        assert_eq!(view.state, VisitState::Waiting);
        assert!(!view.audio_only);
        assert_eq!(view.shared, None, "no wait, outcome or other guests");
        assert_eq!(view.clinical, None, "no location, flags or drops");
    }

    #[test]
    fn the_patient_sees_their_wait_and_guests_but_not_the_clinicians_details() {
        let l = live();
        let view = l.view_for(ParticipantRole::Patient, at(5));
        let shared = view.shared.unwrap();
        assert_eq!(shared.wait_minutes, Some(7));
        assert_eq!(shared.modality, Modality::Video);
        assert_eq!(shared.checked_in_at, at(0));
        let guests: Vec<_> = shared
            .guests
            .iter()
            .map(|g| (g.name.as_str(), g.status))
            .collect();
        assert_eq!(guests, [("Ana Ruiz", "admitted"), ("Bo Li", "waiting")]);
        assert_eq!(view.clinical, None);
    }

    #[test]
    fn the_clinician_also_sees_where_the_patient_is_the_flags_and_the_drops() {
        let view = live().view_for(ParticipantRole::Clinician, at(5));
        assert!(view.shared.is_some());
        let clinical = view.clinical.unwrap();
        assert_eq!(clinical.location_state.code(), "NY");
        assert_eq!(clinical.location_text, "home, 12 Elm Street");
        assert_eq!(clinical.flags, ["chest pain"]);
        assert_eq!(clinical.drops, 2);
    }

    #[test]
    fn only_guests_let_in_are_admitted_and_an_unused_link_expires() {
        let mut l = live();
        assert_eq!(l.admitted_guests(), [l.invites[0].id]);
        l.invites[1].used_at = None;
        let view = l.view_for(ParticipantRole::Patient, at(90));
        let statuses: Vec<_> = view
            .shared
            .map(|s| s.guests.iter().map(|g| g.status).collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["admitted", "expired"]);
    }
}
