//! The appointment state machine: the only way an appointment's status changes.
//!
//! ```text
//! proposed ──confirm──▶ booked ──check_in──▶ checked_in ──start──▶ in_visit ──complete──▶ completed
//!    │                    │  ╲                   │
//!    └──cancel──▶ cancelled ◀─cancel             └──cancel──▶ cancelled
//!                         └──mark_no_show──▶ no_show
//! ```
//! Creating an appointment (book, propose, take from the queue) and rescheduling it are not status
//! changes and have their own rules in `scheduling::service`.

use super::model::{AppointmentAction, AppointmentStatus};
use crate::error::DomainError;

/// The status after `action`, or the refusal naming both.
pub fn next(
    from: AppointmentStatus,
    action: AppointmentAction,
) -> Result<AppointmentStatus, DomainError> {
    use AppointmentAction as A;
    use AppointmentStatus as S;
    let to = match (from, action) {
        (S::Proposed, A::Confirm) => S::Booked,
        (S::Booked, A::CheckIn) => S::CheckedIn,
        (S::CheckedIn, A::Start) => S::InVisit,
        (S::InVisit, A::Complete) => S::Completed,
        (S::Proposed | S::Booked | S::CheckedIn, A::Cancel) => S::Cancelled,
        // Only a patient who never checked in is a no-show; one waiting in the waiting room came.
        (S::Booked, A::MarkNoShow) => S::NoShow,
        _ => {
            return Err(DomainError::InvalidTransition {
                from: from.as_str(),
                action: action.as_str(),
            });
        }
    };
    Ok(to)
}

/// May the appointment move to another slot in this status?
pub fn can_reschedule(status: AppointmentStatus) -> Result<(), DomainError> {
    if status.is_upcoming() {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition {
            from: status.as_str(),
            action: AppointmentAction::Reschedule.as_str(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table: every (status, action) pair is either listed here or refused.
    const ALLOWED: [(AppointmentStatus, AppointmentAction, AppointmentStatus); 8] = [
        (
            AppointmentStatus::Proposed,
            AppointmentAction::Confirm,
            AppointmentStatus::Booked,
        ),
        (
            AppointmentStatus::Proposed,
            AppointmentAction::Cancel,
            AppointmentStatus::Cancelled,
        ),
        (
            AppointmentStatus::Booked,
            AppointmentAction::CheckIn,
            AppointmentStatus::CheckedIn,
        ),
        (
            AppointmentStatus::Booked,
            AppointmentAction::Cancel,
            AppointmentStatus::Cancelled,
        ),
        (
            AppointmentStatus::Booked,
            AppointmentAction::MarkNoShow,
            AppointmentStatus::NoShow,
        ),
        (
            AppointmentStatus::CheckedIn,
            AppointmentAction::Start,
            AppointmentStatus::InVisit,
        ),
        (
            AppointmentStatus::CheckedIn,
            AppointmentAction::Cancel,
            AppointmentStatus::Cancelled,
        ),
        (
            AppointmentStatus::InVisit,
            AppointmentAction::Complete,
            AppointmentStatus::Completed,
        ),
    ];

    #[test]
    fn every_listed_transition_is_allowed_and_every_other_one_refused() {
        let mut refused = 0;
        for &from in AppointmentStatus::ALL {
            for &action in AppointmentAction::ALL {
                let expected = ALLOWED
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (next(from, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} + {action}"),
                    (Err(DomainError::InvalidTransition { from: f, action: a }), None) => {
                        assert_eq!((f, a), (from.as_str(), action.as_str()));
                        refused += 1;
                    }
                    (got, want) => panic!("{from} + {action}: got {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(
            refused,
            AppointmentStatus::ALL.len() * AppointmentAction::ALL.len() - ALLOWED.len()
        );
    }

    #[test]
    fn finished_appointments_accept_nothing() {
        for from in [
            AppointmentStatus::Completed,
            AppointmentStatus::Cancelled,
            AppointmentStatus::NoShow,
        ] {
            for &action in AppointmentAction::ALL {
                assert!(next(from, action).is_err(), "{from} + {action}");
            }
            assert!(can_reschedule(from).is_err());
        }
    }

    #[test]
    fn only_upcoming_appointments_can_be_rescheduled() {
        for &status in AppointmentStatus::ALL {
            assert_eq!(
                can_reschedule(status).is_ok(),
                matches!(
                    status,
                    AppointmentStatus::Proposed | AppointmentStatus::Booked
                ),
                "{status}"
            );
        }
    }
}
