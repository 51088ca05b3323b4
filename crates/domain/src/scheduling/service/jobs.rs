//! The scheduling work a clock drives: no-shows, reminders due, and keeping slots published to
//! the horizon. Each is a `run_once` the server's job loop calls and tests call with a fixed clock.

use jiff::{SignedDuration, Timestamp};

use super::appointments::{is_overdue, mark_overdue};
use super::availability::publish_for;
use crate::Ctx;
use crate::access::Actor;
use crate::error::DomainResult;
use crate::scheduling::Appointment;

/// How many appointments one run looks at, at most (the next run takes the rest).
const BATCH: i64 = 500;

/// Marks booked appointments not checked in within the grace period as no-shows; returns how many.
pub async fn mark_no_shows_once(ctx: Ctx<'_>) -> DomainResult<u64> {
    let now = ctx.clock.now();
    let grace = SignedDuration::from_mins(ctx.scheduling.no_show_grace_minutes);
    let cutoff = now.saturating_sub(grace).unwrap_or(now);
    let mut marked = 0;
    for a in ctx.store.overdue_booked(cutoff, BATCH).await? {
        if is_overdue(&ctx.scheduling, &a, now) && mark_overdue(ctx, &a).await? {
            marked += 1;
        }
    }
    Ok(marked)
}

/// A reminder to send now: which appointment, and which offset before its start it is for.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub appointment: Appointment,
    pub offset_minutes: i64,
}

/// The reminder each booked appointment is due now, at most one each: the smallest configured
/// offset that the time left has reached (so a server that was down sends one reminder, not a
/// burst), unless the appointment was booked after that reminder's time (the booking itself told
/// the patient). Claiming (so it is sent once) is the caller's job.
pub async fn due_reminders(
    ctx: Ctx<'_>,
    offsets_minutes: &[i64],
) -> DomainResult<Vec<DueReminder>> {
    let Some(&longest) = offsets_minutes.iter().max() else {
        return Ok(Vec::new());
    };
    let now = ctx.clock.now();
    let until = now
        .saturating_add(SignedDuration::from_mins(longest))
        .unwrap_or(now);
    let mut due = Vec::new();
    for a in ctx.store.booked_between(now, until, BATCH).await? {
        if let Some(offset) = reminder_due(&a, offsets_minutes, now) {
            due.push(DueReminder {
                appointment: a,
                offset_minutes: offset,
            });
        }
    }
    Ok(due)
}

/// The offset whose reminder is due for `a` at `now`, if any.
pub fn reminder_due(a: &Appointment, offsets_minutes: &[i64], now: Timestamp) -> Option<i64> {
    let left = a.start_at.duration_since(now);
    if left <= SignedDuration::ZERO {
        return None;
    }
    let offset = offsets_minutes
        .iter()
        .copied()
        .filter(|o| left <= SignedDuration::from_mins(*o))
        .min()?;
    let reminder_time = a
        .start_at
        .saturating_sub(SignedDuration::from_mins(offset))
        .unwrap_or(a.start_at);
    (a.created_at <= reminder_time).then_some(offset)
}

/// Publishes every clinician's slots up to the booking horizon (new days come into reach daily).
pub async fn publish_horizon_once(ctx: Ctx<'_>) -> DomainResult<u64> {
    let now = ctx.clock.now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let system = Actor::operator();
    let mut total = 0;
    for (org, clinician) in ctx.store.clinicians_with_templates(today).await? {
        total += publish_for(ctx, &system, org, clinician, today, None).await?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::UsState;
    use crate::ids::*;
    use crate::scheduling::{AppointmentStatus, Modality, ServiceLine};

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn appointment(start: i64, created: i64) -> Appointment {
        Appointment {
            id: AppointmentId::new(),
            org_id: OrgId::new(),
            patient_id: PatientId::new(),
            clinician_id: UserId::new(),
            site_id: SiteId::new(),
            slot_id: Some(SlotId::new()),
            visit_type_id: VisitTypeId::new(),
            service_line: ServiceLine::PrimaryCare,
            modality: Modality::Video,
            start_at: at(start),
            end_at: at(start + 20),
            patient_state: UsState::parse("s", "NY").unwrap_or_else(|e| panic!("{e}")),
            status: AppointmentStatus::Booked,
            reason: None,
            late_cancellation: false,
            cancel_reason: None,
            created_at: at(created),
            updated_at: at(created),
        }
    }

    #[test]
    fn the_reminder_due_is_the_nearest_offset_reached() {
        let offsets = [24 * 60, 60];
        let a = appointment(3 * 24 * 60, 0);
        let start = 3 * 24 * 60;
        assert_eq!(reminder_due(&a, &offsets, at(start - 25 * 60)), None);
        assert_eq!(
            reminder_due(&a, &offsets, at(start - 24 * 60)),
            Some(24 * 60)
        );
        assert_eq!(
            reminder_due(&a, &offsets, at(start - 2 * 60)),
            Some(24 * 60)
        );
        assert_eq!(reminder_due(&a, &offsets, at(start - 59)), Some(60));
        assert_eq!(reminder_due(&a, &offsets, at(start)), None);
    }

    #[test]
    fn a_visit_booked_late_skips_the_reminders_whose_time_had_passed() {
        let offsets = [24 * 60, 60];
        // Booked five hours before the start: no 24-hour reminder, but the one-hour one.
        let a = appointment(600, 300);
        assert_eq!(reminder_due(&a, &offsets, at(310)), None);
        assert_eq!(reminder_due(&a, &offsets, at(545)), Some(60));
    }
}
