//! A patient's join link: staff send a patient without a portal account a one-time link into
//! their own video visit (by email, or shown to pass on by text message). The link leads to
//! check-in and the waiting room with no sign-up. It is bound to one appointment, works once (the
//! browser that opens it gets a session of its own, bound to that appointment), lasts until a
//! while after the visit's planned end, and is replaced when sent again. Only the SHA-256 of its
//! token and of the session's token are stored.

use jiff::{SignedDuration, Timestamp};

use crate::access::{Actor, Principal};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Email, Role};
use crate::ids::{AppointmentId, OrgId, PatientId, UserId, VisitLinkId};
use crate::scheduling::{Appointment, AppointmentStatus, Modality};
use crate::visits::InviteDelivery;

/// A link (and the session it opened) works until this long after the visit's planned end, so a
/// visit that runs late, or a patient who drops and comes back, is not cut off.
pub const VALID_AFTER_END: SignedDuration = SignedDuration::from_hours(1);

/// One join link, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitLink {
    pub id: VisitLinkId,
    pub org_id: OrgId,
    pub appointment_id: AppointmentId,
    pub patient_id: PatientId,
    /// SHA-256 (hex) of the token in the link.
    pub token_hash: String,
    /// Where it was emailed; `None` when it was shown to pass on.
    pub email: Option<Email>,
    pub delivery: InviteDelivery,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The link was opened (it works once).
    pub used_at: Option<Timestamp>,
    /// SHA-256 of the session token given to the browser that opened it.
    pub session_hash: Option<String>,
    /// A newer link for the same visit replaced this one.
    pub revoked_at: Option<Timestamp>,
}

impl VisitLink {
    /// Where the link stands, for the staff who sent it.
    pub fn status(&self, now: Timestamp) -> &'static str {
        if self.revoked_at.is_some() {
            "replaced"
        } else if now >= self.expires_at {
            "expired"
        } else if self.used_at.is_some() {
            "opened"
        } else {
            "sent"
        }
    }
}

/// When a link for this appointment stops working.
pub fn link_expiry(a: &Appointment) -> Timestamp {
    a.end_at.saturating_add(VALID_AFTER_END).unwrap_or(a.end_at)
}

/// A link may be sent for a video (or audio) visit that has not ended, been cancelled or missed,
/// and whose time is not long past.
pub fn check_may_issue(a: &Appointment, now: Timestamp) -> DomainResult<()> {
    if !a.modality.is_virtual() || a.modality == Modality::AsyncEVisit {
        return Err(DomainError::invalid(
            "appointment",
            "this is not a video or phone visit: a join link is only for those",
        ));
    }
    match a.status {
        AppointmentStatus::Proposed
        | AppointmentStatus::Booked
        | AppointmentStatus::CheckedIn
        | AppointmentStatus::InVisit => {}
        other => {
            return Err(DomainError::invalid(
                "appointment",
                format!(
                    "this visit is {}: there is nothing to join",
                    other.label().to_lowercase()
                ),
            ));
        }
    }
    if now >= link_expiry(a) {
        return Err(DomainError::invalid(
            "appointment",
            "the time of this visit has passed",
        ));
    }
    Ok(())
}

/// A link may be opened once, before it expires, unless a newer one replaced it.
pub fn check_usable(link: &VisitLink, now: Timestamp) -> DomainResult<()> {
    let unusable = |why: &str| Err(DomainError::InviteUnusable(why.into()));
    if link.revoked_at.is_some() {
        return unusable(
            "this link was replaced by a newer one: use the latest link the clinic sent you",
        );
    }
    if link.used_at.is_some() {
        return unusable(
            "this link was used already: it works once, on one device; ask the clinic for a new one",
        );
    }
    if now >= link.expires_at {
        return unusable("this link has expired; ask the clinic for a new one");
    }
    Ok(())
}

/// The session a link opened still holds while the link is neither replaced nor expired.
pub fn session_valid(link: &VisitLink, now: Timestamp) -> bool {
    link.used_at.is_some() && link.revoked_at.is_none() && now < link.expires_at
}

/// The session works on its own appointment only; any other is "not found".
pub fn check_bound(link: &VisitLink, appointment: AppointmentId) -> DomainResult<()> {
    if link.appointment_id == appointment {
        Ok(())
    } else {
        Err(DomainError::NotFound { resource: "visit" })
    }
}

/// The actor of a browser holding an opened link: the visit's patient, on that appointment only.
pub fn link_actor(link: &VisitLink, source_ip: Option<String>) -> Actor {
    Actor {
        principal: Principal::VisitLink {
            link: link.id,
            appointment: link.appointment_id,
        },
        org_id: Some(link.org_id),
        role: Some(Role::Patient),
        site_ids: Vec::new(),
        own_patient: Some(link.patient_id),
        scopes: Vec::new(),
        source_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{self, Permission};
    use crate::ids::{SiteId, VisitTypeId};
    use crate::scheduling::ServiceLine;

    fn t(minutes: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(minutes)
    }

    fn appointment(status: AppointmentStatus, modality: Modality) -> Appointment {
        Appointment {
            id: AppointmentId::new(),
            org_id: OrgId::new(),
            patient_id: PatientId::new(),
            clinician_id: UserId::new(),
            site_id: SiteId::new(),
            slot_id: None,
            visit_type_id: VisitTypeId::new(),
            service_line: ServiceLine::PrimaryCare,
            modality,
            start_at: t(600),
            end_at: t(620),
            patient_state: crate::identity::UsState::parse("state", "NY").unwrap(),
            status,
            reason: None,
            late_cancellation: false,
            cancel_reason: None,
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn link_for(a: &Appointment) -> VisitLink {
        VisitLink {
            id: VisitLinkId::new(),
            org_id: a.org_id,
            appointment_id: a.id,
            patient_id: a.patient_id,
            token_hash: "h".into(),
            email: None,
            delivery: InviteDelivery::LinkShown,
            created_by: UserId::new(),
            created_at: t(0),
            expires_at: link_expiry(a),
            used_at: None,
            session_hash: None,
            revoked_at: None,
        }
    }

    #[test]
    fn a_link_lasts_until_an_hour_after_the_visit_ends() {
        let a = appointment(AppointmentStatus::Booked, Modality::Video);
        assert_eq!(link_expiry(&a), t(680));
        let link = link_for(&a);
        assert!(check_usable(&link, t(679)).is_ok());
        assert!(matches!(
            check_usable(&link, t(680)),
            Err(DomainError::InviteUnusable(m)) if m.contains("expired")
        ));
    }

    #[test]
    fn a_link_works_once_and_not_after_a_newer_one_replaced_it() {
        let a = appointment(AppointmentStatus::Booked, Modality::Video);
        let used = VisitLink {
            used_at: Some(t(1)),
            ..link_for(&a)
        };
        assert!(matches!(
            check_usable(&used, t(2)),
            Err(DomainError::InviteUnusable(m)) if m.contains("used already")
        ));
        assert!(session_valid(&used, t(2)));
        let replaced = VisitLink {
            revoked_at: Some(t(3)),
            ..used.clone()
        };
        assert!(matches!(
            check_usable(&replaced, t(4)),
            Err(DomainError::InviteUnusable(m)) if m.contains("replaced")
        ));
        assert!(
            !session_valid(&replaced, t(4)),
            "replacing ends the session"
        );
        assert!(!session_valid(&used, t(680)), "the session expires with it");
        assert!(
            !session_valid(&link_for(&a), t(2)),
            "an unopened link holds no session"
        );
    }

    #[test]
    fn links_are_sent_only_for_virtual_visits_still_ahead_or_under_way() {
        let now = t(100);
        for status in [
            AppointmentStatus::Proposed,
            AppointmentStatus::Booked,
            AppointmentStatus::CheckedIn,
            AppointmentStatus::InVisit,
        ] {
            assert!(check_may_issue(&appointment(status, Modality::Video), now).is_ok());
        }
        assert!(
            check_may_issue(
                &appointment(AppointmentStatus::Booked, Modality::AudioOnly),
                now
            )
            .is_ok()
        );
        for status in [
            AppointmentStatus::Completed,
            AppointmentStatus::Cancelled,
            AppointmentStatus::NoShow,
        ] {
            let refused = check_may_issue(&appointment(status, Modality::Video), now);
            assert!(
                matches!(&refused, Err(DomainError::Invalid(e)) if e.field == "appointment"),
                "{status:?}: {refused:?}"
            );
        }
        for modality in [Modality::InPerson, Modality::AsyncEVisit] {
            let refused = check_may_issue(&appointment(AppointmentStatus::Booked, modality), now);
            assert!(
                matches!(refused, Err(DomainError::Invalid(e)) if e.message.contains("not a video"))
            );
        }
        let past = check_may_issue(
            &appointment(AppointmentStatus::Booked, Modality::Video),
            t(680),
        );
        assert!(matches!(past, Err(DomainError::Invalid(e)) if e.message.contains("passed")));
    }

    #[test]
    fn the_session_is_bound_to_its_one_visit_and_grants_no_permission() {
        let a = appointment(AppointmentStatus::Booked, Modality::Video);
        let link = link_for(&a);
        assert!(check_bound(&link, a.id).is_ok());
        assert!(matches!(
            check_bound(&link, AppointmentId::new()),
            Err(DomainError::NotFound { .. })
        ));
        let actor = link_actor(&link, None);
        assert_eq!(actor.own_patient, Some(a.patient_id));
        assert_eq!(actor.user_id(), None);
        for p in [
            Permission::ReadPatient,
            Permission::ReadAppointments,
            Permission::ManageAppointments,
            Permission::SearchSlots,
            Permission::ListPatients,
        ] {
            assert!(access::require(&actor, p).is_err(), "{p:?}");
        }
        assert!(crate::scheduling::service::appointments::may_see(
            &actor, &a
        ));
        let other = Appointment {
            id: AppointmentId::new(),
            ..a.clone()
        };
        assert!(
            !crate::scheduling::service::appointments::may_see(&actor, &other),
            "the same patient's other appointment is not reachable"
        );
    }

    #[test]
    fn statuses_read_for_staff() {
        let a = appointment(AppointmentStatus::Booked, Modality::Video);
        let link = link_for(&a);
        assert_eq!(link.status(t(1)), "sent");
        let opened = VisitLink {
            used_at: Some(t(1)),
            ..link.clone()
        };
        assert_eq!(opened.status(t(2)), "opened");
        assert_eq!(opened.status(t(700)), "expired");
        let replaced = VisitLink {
            revoked_at: Some(t(3)),
            ..opened
        };
        assert_eq!(replaced.status(t(4)), "replaced");
    }
}
