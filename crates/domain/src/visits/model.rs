//! The records of a virtual visit: the visit itself, its log of happenings, connection quality,
//! guest invitations and emergencies.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::questionnaire::QuestionnaireAnswers;
use super::state::{VisitOutcome, VisitState};
use crate::compliance::AuditActor;
use crate::error::DomainError;
use crate::identity::{Email, UsState};
use crate::ids::{
    AppointmentId, EscalationId, InviteId, OrgId, PatientId, SiteId, UserId, VisitEventId,
};
use crate::scheduling::Modality;

/// A visit: opened at check-in, one per appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub appointment_id: AppointmentId,
    pub org_id: OrgId,
    pub site_id: SiteId,
    pub clinician_id: UserId,
    pub patient_id: PatientId,
    pub state: VisitState,
    pub outcome: Option<VisitOutcome>,
    /// As booked: video, audio-only...
    pub modality: Modality,
    /// The call is audio-only now (switched by a participant, or booked so).
    pub audio_only: bool,
    /// Somebody switched to audio-only at some point.
    pub audio_only_used: bool,
    /// Where the patient said they are for this visit: the state (licensure) and the place
    /// (an address or a description, for an emergency).
    pub location_state: UsState,
    pub location_text: String,
    pub questionnaire: Option<QuestionnaireAnswers>,
    pub checked_in_at: Timestamp,
    pub admitted_at: Option<Timestamp>,
    /// When media first flowed.
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// How many times a connection dropped during the call.
    pub drops: i64,
    pub updated_at: Timestamp,
}

impl Visit {
    /// The modality actually used: audio-only if the call went audio-only at any point.
    pub fn modality_used(&self) -> Modality {
        if self.audio_only_used {
            Modality::AudioOnly
        } else {
            self.modality
        }
    }

    /// Minutes from check-in to admission (or to now, while waiting).
    pub fn waiting_minutes(&self, now: Timestamp) -> i64 {
        let until = self.admitted_at.or(self.ended_at).unwrap_or(now);
        until.duration_since(self.checked_in_at).as_mins().max(0)
    }

    /// Minutes from the first media to the end.
    pub fn call_minutes(&self) -> Option<i64> {
        match (self.started_at, self.ended_at) {
            (Some(s), Some(e)) => Some(e.duration_since(s).as_mins().max(0)),
            _ => None,
        }
    }

    pub fn flags(&self) -> Vec<String> {
        self.questionnaire
            .as_ref()
            .map(|q| q.flags.clone())
            .unwrap_or_default()
    }
}

/// Who takes part in a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    Patient,
    Clinician,
    Guest,
}

impl ParticipantRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantRole::Patient => "patient",
            ParticipantRole::Clinician => "clinician",
            ParticipantRole::Guest => "guest",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Patient, Self::Clinician, Self::Guest]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// Something that happened in a visit, for its record (state changes, drops, switches, guests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitLogEntry {
    pub id: VisitEventId,
    pub appointment_id: AppointmentId,
    pub at: Timestamp,
    /// `checked_in`, `admitted`, `connected`, `dropped`, `reconnected`, `audio_only`, `video`,
    /// `guest_invited`, `guest_joined`, `guest_admitted`, `escalation`, `ended`, `cancelled`...
    pub kind: String,
    pub actor: AuditActor,
    /// A short note; never clinical content.
    pub detail: Option<String>,
}

/// One connection-quality report from a browser (`RTCPeerConnection.getStats()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySample {
    pub appointment_id: AppointmentId,
    pub at: Timestamp,
    pub role: ParticipantRole,
    pub round_trip_ms: Option<f64>,
    pub packet_loss_pct: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    pub frames_decoded: Option<i64>,
}

impl QualitySample {
    /// Checks the numbers a browser sent: finite and within physical bounds.
    pub fn check(&self) -> Result<(), DomainError> {
        let bounded = |field: &str, v: Option<f64>, max: f64| match v {
            Some(x) if !x.is_finite() || x < 0.0 || x > max => Err(DomainError::invalid(
                field,
                format!("must be a number between 0 and {max}"),
            )),
            _ => Ok(()),
        };
        bounded("round_trip_ms", self.round_trip_ms, 60_000.0)?;
        bounded("packet_loss_pct", self.packet_loss_pct, 100.0)?;
        bounded("bitrate_kbps", self.bitrate_kbps, 1_000_000.0)?;
        if self.frames_decoded.is_some_and(|f| f < 0) {
            return Err(DomainError::invalid(
                "frames_decoded",
                "must not be negative",
            ));
        }
        Ok(())
    }
}

/// Averages and worst values of a visit's quality reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    pub samples: i64,
    pub avg_round_trip_ms: Option<f64>,
    pub max_round_trip_ms: Option<f64>,
    pub avg_packet_loss_pct: Option<f64>,
    pub max_packet_loss_pct: Option<f64>,
    pub avg_bitrate_kbps: Option<f64>,
}

impl QualitySummary {
    pub fn of(samples: &[QualitySample]) -> Self {
        let stat = |f: fn(&QualitySample) -> Option<f64>| {
            let values: Vec<f64> = samples.iter().filter_map(f).collect();
            if values.is_empty() {
                (None, None)
            } else {
                let avg = values.iter().sum::<f64>() / values.len() as f64;
                let max = values.iter().copied().fold(f64::MIN, f64::max);
                (Some(avg), Some(max))
            }
        };
        let (avg_rtt, max_rtt) = stat(|s| s.round_trip_ms);
        let (avg_loss, max_loss) = stat(|s| s.packet_loss_pct);
        let (avg_rate, _) = stat(|s| s.bitrate_kbps);
        Self {
            samples: samples.len() as i64,
            avg_round_trip_ms: avg_rtt,
            max_round_trip_ms: max_rtt,
            avg_packet_loss_pct: avg_loss,
            max_packet_loss_pct: max_loss,
            avg_bitrate_kbps: avg_rate,
        }
    }
}

named_values!(
    /// Who a guest is to the patient.
    GuestRelation, "a guest relation" {
        Interpreter => ("interpreter", "Interpreter"),
        Family => ("family", "Family member"),
        Caregiver => ("caregiver", "Caregiver"),
        Other => ("other", "Guest"),
    }
);

named_values!(
    /// How an invitation reached the guest.
    InviteDelivery, "an invitation delivery" {
        /// The link was shown to whoever invited, to pass on.
        LinkShown => ("link_shown", "Link shown"),
        Emailed => ("emailed", "Emailed"),
        EmailFailed => ("email_failed", "Email failed"),
    }
);

/// A one-time link into a visit for a guest. Only the link token's hash is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: InviteId,
    pub appointment_id: AppointmentId,
    pub org_id: OrgId,
    pub name: String,
    pub relation: GuestRelation,
    pub email: Option<Email>,
    pub token_hash: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub delivery: InviteDelivery,
    /// The link was opened (it works once).
    pub used_at: Option<Timestamp>,
    /// Hash of the guest's own session token, given when the link was opened.
    pub session_hash: Option<String>,
    pub admitted_at: Option<Timestamp>,
}

impl Invite {
    /// Where the guest is: invited, waiting to be let in, in the call.
    pub fn status(&self, now: Timestamp) -> &'static str {
        match (self.used_at, self.admitted_at) {
            (_, Some(_)) => "admitted",
            (Some(_), None) => "waiting",
            (None, _) if now >= self.expires_at => "expired",
            (None, _) => "invited",
        }
    }
}

named_values!(
    /// Why the site's staff are alerted.
    EscalationKind, "an escalation kind" {
        /// The clinician raised an emergency during the visit.
        Emergency => ("emergency", "Emergency"),
        /// Check-in was stopped: the clinician is not licensed where the patient says they are.
        LicensureMismatch => ("licensure_mismatch", "Check-in stopped: licensure"),
    }
);

/// Something the site's staff must see now: an emergency raised during a visit, or a check-in
/// stopped by the licensure rule. Where the patient is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub id: EscalationId,
    pub kind: EscalationKind,
    pub appointment_id: AppointmentId,
    pub org_id: OrgId,
    pub site_id: SiteId,
    pub raised_by: Option<UserId>,
    pub raised_at: Timestamp,
    pub location_state: UsState,
    pub location_text: String,
    pub reason: String,
    pub acknowledged_by: Option<UserId>,
    pub acknowledged_at: Option<Timestamp>,
}

/// A visit ahead of a waiting patient in the clinician's queue.
#[derive(Debug, Clone, Copy)]
pub struct AheadInQueue {
    /// In the call now (only its remaining planned time counts), or still waiting.
    pub in_progress: bool,
    pub planned_start: Timestamp,
    pub planned_end: Timestamp,
}

/// Minutes a waiting patient can expect to wait: not before their planned start, and not before
/// the clinician has seen everyone ahead of them (the call in progress until its planned end, each
/// patient who checked in earlier for their planned length). An estimate, shown as "about".
pub fn estimate_wait_minutes(
    now: Timestamp,
    planned_start: Timestamp,
    ahead: &[AheadInQueue],
) -> i64 {
    let until_start = planned_start.duration_since(now).as_mins().max(0);
    let queue: i64 = ahead
        .iter()
        .map(|a| {
            if a.in_progress {
                a.planned_end.duration_since(now).as_mins().max(1)
            } else {
                a.planned_end
                    .duration_since(a.planned_start)
                    .as_mins()
                    .max(1)
            }
        })
        .sum();
    until_start.max(queue)
}

#[cfg(test)]
mod estimate_tests {
    use super::*;
    use jiff::SignedDuration;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH
            .saturating_add(SignedDuration::from_mins(minutes))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn the_wait_is_the_later_of_the_planned_start_and_the_queue_ahead() {
        // Early, nobody ahead: until the planned start.
        assert_eq!(estimate_wait_minutes(at(0), at(10), &[]), 10);
        // Late, nobody ahead: no wait expected.
        assert_eq!(estimate_wait_minutes(at(20), at(10), &[]), 0);
        // A call running until minute 25 and a 15-minute patient waiting before us.
        let ahead = [
            AheadInQueue {
                in_progress: true,
                planned_start: at(0),
                planned_end: at(25),
            },
            AheadInQueue {
                in_progress: false,
                planned_start: at(15),
                planned_end: at(30),
            },
        ];
        assert_eq!(estimate_wait_minutes(at(10), at(30), &ahead), 30);
        // A call overrunning its plan still counts a minute.
        let overrun = [AheadInQueue {
            in_progress: true,
            planned_start: at(0),
            planned_end: at(5),
        }];
        assert_eq!(estimate_wait_minutes(at(10), at(0), &overrun), 1);
    }
}
