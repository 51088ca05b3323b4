//! The virtual visit's state machine: what the waiting room, the call and every participant's
//! screen follow.
//!
//! ```text
//! waiting ──admit──▶ admitted ──connect──▶ in_call ──drop──▶ reconnecting
//!    │                  │                     ▲  │              │
//!    │                  │                     │  └──────────────┘ connect
//!    │                  └──────────────┬──────┴──────── end(outcome) ──▶ ended
//!    └──cancel──▶ cancelled ◀──cancel──┘
//! ```
//! Leaving (closing the tab, pressing Back, losing the network) is never an event here: only the
//! clinician ends a visit, choosing how it ended; until then everyone can come back.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

named_values!(
    /// Where a visit stands.
    VisitState, "a visit state" {
        /// Checked in, in the waiting room.
        Waiting => ("waiting", "Waiting"),
        /// The clinician let the patient in; the call is being set up.
        Admitted => ("admitted", "Admitted"),
        InCall => ("in_call", "In call"),
        /// A participant's connection dropped; the call is re-established (ICE restart).
        Reconnecting => ("reconnecting", "Reconnecting"),
        Ended => ("ended", "Ended"),
        Cancelled => ("cancelled", "Cancelled"),
    }
);

named_values!(
    /// How an ended visit ended.
    VisitOutcome, "a visit outcome" {
        Completed => ("completed", "Completed"),
        PatientLeft => ("patient_left", "Patient left"),
        TechnicalFailure => ("technical_failure", "Technical failure"),
    }
);

/// What happens to a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitEvent {
    Admit,
    /// Media flows between the participants.
    Connect,
    /// A participant's connection was lost.
    Drop,
    End(VisitOutcome),
    Cancel,
}

impl VisitState {
    /// The visit is over: nobody joins it any more.
    pub fn is_over(self) -> bool {
        matches!(self, VisitState::Ended | VisitState::Cancelled)
    }

    /// Participants may be in the call (or coming back to it).
    pub fn in_progress(self) -> bool {
        matches!(
            self,
            VisitState::Admitted | VisitState::InCall | VisitState::Reconnecting
        )
    }
}

impl VisitEvent {
    pub fn name(self) -> &'static str {
        match self {
            VisitEvent::Admit => "admit",
            VisitEvent::Connect => "connect",
            VisitEvent::Drop => "drop",
            VisitEvent::End(_) => "end",
            VisitEvent::Cancel => "cancel",
        }
    }
}

/// The state after `event`, or the refusal naming both.
pub fn next(from: VisitState, event: VisitEvent) -> Result<VisitState, DomainError> {
    use VisitEvent as E;
    use VisitState as S;
    let to = match (from, event) {
        (S::Waiting, E::Admit) => S::Admitted,
        (S::Admitted | S::Reconnecting, E::Connect) => S::InCall,
        (S::InCall, E::Drop) => S::Reconnecting,
        (S::Admitted | S::InCall | S::Reconnecting, E::End(_)) => S::Ended,
        (S::Waiting | S::Admitted, E::Cancel) => S::Cancelled,
        _ => {
            return Err(DomainError::InvalidTransition {
                from: from.as_str(),
                action: event.name(),
            });
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_events() -> Vec<VisitEvent> {
        let mut events = vec![
            VisitEvent::Admit,
            VisitEvent::Connect,
            VisitEvent::Drop,
            VisitEvent::Cancel,
        ];
        events.extend(VisitOutcome::ALL.iter().map(|o| VisitEvent::End(*o)));
        events
    }

    #[test]
    fn every_state_and_event_pair_is_either_listed_or_refused() {
        use VisitEvent as E;
        use VisitState as S;
        let allowed = |from: S, e: E| -> Option<S> {
            match (from, e) {
                (S::Waiting, E::Admit) => Some(S::Admitted),
                (S::Admitted, E::Connect) | (S::Reconnecting, E::Connect) => Some(S::InCall),
                (S::InCall, E::Drop) => Some(S::Reconnecting),
                (S::Admitted | S::InCall | S::Reconnecting, E::End(_)) => Some(S::Ended),
                (S::Waiting | S::Admitted, E::Cancel) => Some(S::Cancelled),
                _ => None,
            }
        };
        let mut refused = 0;
        for &from in VisitState::ALL {
            for e in all_events() {
                match (next(from, e), allowed(from, e)) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} + {e:?}"),
                    (Err(DomainError::InvalidTransition { .. }), None) => refused += 1,
                    (got, want) => panic!("{from} + {e:?}: got {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(refused, 6 * 7 - 15);
    }

    #[test]
    fn leaving_is_not_an_event_and_an_ended_visit_takes_none() {
        for e in all_events() {
            assert!(next(VisitState::Ended, e).is_err());
            assert!(next(VisitState::Cancelled, e).is_err());
        }
        // A dropped call comes back, as often as it drops.
        let mut s = VisitState::InCall;
        for _ in 0..3 {
            s = next(s, VisitEvent::Drop).unwrap_or(s);
            assert_eq!(s, VisitState::Reconnecting);
            s = next(s, VisitEvent::Connect).unwrap_or(s);
            assert_eq!(s, VisitState::InCall);
        }
    }
}
