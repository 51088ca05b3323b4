//! The demo's visits about to start: whenever `telemed demo` runs, each patient who can sign in
//! has a video visit starting within the next few minutes, whatever the hour, so check-in, the
//! waiting room and the call can be tried at once. A visit still ahead from an earlier run is
//! kept; otherwise a clinician licensed where the patient lives takes one of their own open
//! slots, or works a short stretch of extra hours ("on call"), and the visit is booked in it
//! with every booking rule checked, as the front desk would.

use domain::DomainError;
use domain::access::Actor;
use domain::identity::{Organization, Patient, Role, Site, User};
use domain::ids::{AppointmentId, SiteId, SlotId, VisitTypeId};
use domain::scheduling::service::availability::{self, ExceptionInput};
use domain::scheduling::service::booking::{self, BookCommand, SlotRef};
use domain::scheduling::service::consent;
use domain::scheduling::{
    Appointment, AppointmentQuery, AppointmentStatus, Modality, ServiceLine, SlotQuery,
};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::state::AppState;

/// The visit type of the demo's visits about to start.
const VISIT_TYPE: &str = "Primary care video visit";
/// How far ahead "about to start" reaches: check-in opens this many minutes before the start at
/// most (the default check-in window), so the patient can check in straight away.
const SOON_MINUTES: i64 = 30;
/// At the busiest hours every clinician may be taken for the next half hour: then within the
/// hour (check-in opens a little later).
const LATER_MINUTES: i64 = 60;
/// The shortest time before the start, so the visit is not gone before the newcomer signs in.
const LEAD_MINUTES: i64 = 5;
/// The length of an on-call stretch (one slot of the visit type's length).
const ON_CALL_MINUTES: i64 = 20;

/// A demo patient's visit about to start, for the printout.
#[derive(Debug, Clone)]
pub struct ReadyVisit {
    pub patient_email: String,
    pub patient_name: String,
    pub clinician_email: String,
    pub clinician_name: String,
    pub site_name: String,
    pub site_id: SiteId,
    pub time_zone: TimeZone,
    pub appointment_id: AppointmentId,
    pub start: Timestamp,
    /// Booked by this run (rather than kept from an earlier one).
    pub booked_now: bool,
    /// The visit's nurse, when one is named: "Ana Diaz, RN (nurse.diaz@...)".
    pub nurse: Option<String>,
}

/// A patient account, its record, and its visit about to start (booked by this run or not).
type Candidate = (User, Patient, Option<(Appointment, bool)>);

/// Makes sure each patient with a portal account has a video visit starting within the next
/// [`SOON_MINUTES`] minutes (or, when every clinician who could see them is taken, within the
/// hour). Patients no clinician can see right now (none licensed in their state holds a current
/// telehealth certification) are left out of the answer.
pub async fn ensure(state: &AppState, org: &Organization) -> Result<Vec<ReadyVisit>, DomainError> {
    let Setting {
        operator,
        video,
        sites,
        clinicians,
    } = setting(state, org).await?;
    let mut accounts: Vec<User> = state.store.list_users(org.id, Some(Role::Patient)).await?;
    accounts.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
    let mut found: Vec<Candidate> = Vec::new();
    for account in accounts {
        let Some(patient_id) = account.patient_id else {
            continue;
        };
        let Some(patient) = state.store.get_patient(org.id, patient_id).await? else {
            continue;
        };
        let kept = upcoming(state, &patient).await?.map(|a| (a, false));
        found.push((account, patient, kept));
    }
    // The patients fewest clinicians can see choose first, and everyone is tried within the
    // half hour before anyone is booked later.
    let mut able = Vec::new();
    for (_, patient, _) in &found {
        able.push(able_clinicians(state, patient, &clinicians).await?);
    }
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by_key(|i| able[*i].len());
    for latest in [SOON_MINUTES, LATER_MINUTES] {
        for i in &order {
            if found[*i].2.is_some() {
                continue;
            }
            let booked = book_soon(
                state,
                &operator,
                &found[*i].1,
                video,
                &able[*i],
                &sites,
                latest,
            )
            .await?;
            found[*i].2 = booked.map(|a| (a, true));
        }
    }
    let mut ready = Vec::new();
    for (account, patient, visit) in found {
        let Some((appointment, booked_now)) = visit else {
            continue;
        };
        let clinician = clinicians.iter().find(|c| c.id == appointment.clinician_id);
        let site = sites.iter().find(|s| s.id == appointment.site_id);
        ready.push(ReadyVisit {
            patient_email: account.email.as_str().to_string(),
            patient_name: patient.full_name(),
            clinician_email: clinician
                .map(|c| c.email.as_str().to_string())
                .unwrap_or_default(),
            clinician_name: clinician
                .map(|c| c.display_name.clone())
                .unwrap_or_default(),
            site_name: site.map(|s| s.name.clone()).unwrap_or_default(),
            site_id: appointment.site_id,
            time_zone: site
                .and_then(|s| TimeZone::get(s.time_zone.as_str()).ok())
                .unwrap_or(TimeZone::UTC),
            appointment_id: appointment.id,
            start: appointment.start_at,
            booked_now,
            nurse: None,
        });
    }
    name_a_nurse(state, org, &operator, &mut ready).await?;
    Ok(ready)
}

/// Puts the first demo nurse on the first visit at a site she works at (once: a visit that
/// has a nurse keeps her), so the care team around a visit can be tried.
async fn name_a_nurse(
    state: &AppState,
    org: &Organization,
    operator: &Actor,
    ready: &mut [ReadyVisit],
) -> Result<(), DomainError> {
    let mut nurses = state.store.list_users(org.id, Some(Role::Nurse)).await?;
    nurses.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
    let Some(nurse) = nurses.into_iter().find(|n| n.active) else {
        return Ok(());
    };
    let ctx = state.ctx();
    for visit in ready.iter_mut() {
        let on = state
            .store
            .visit_staff(org.id, visit.appointment_id)
            .await?;
        if let Some(s) = on.first() {
            if let Some(u) = state.store.get_user(org.id, s.user_id).await? {
                visit.nurse = Some(format!("{} ({})", u.display_name, u.email.as_str()));
            }
            return Ok(());
        }
    }
    let Some(visit) = ready
        .iter_mut()
        .find(|v| nurse.site_ids.contains(&v.site_id))
    else {
        return Ok(());
    };
    domain::visits::service::staff::add_nurse(
        ctx,
        operator,
        visit.appointment_id,
        &nurse.id.to_string(),
    )
    .await?;
    visit.nurse = Some(format!("{} ({})", nurse.display_name, nurse.email.as_str()));
    Ok(())
}

/// What booking a demo visit needs: who books, the visit type, the sites and the clinicians.
struct Setting {
    operator: Actor,
    video: VisitTypeId,
    sites: Vec<Site>,
    clinicians: Vec<User>,
}

async fn setting(state: &AppState, org: &Organization) -> Result<Setting, DomainError> {
    let video: VisitTypeId = state
        .store
        .list_visit_types(org.id)
        .await?
        .into_iter()
        .find(|t| t.name == VISIT_TYPE && t.active)
        .map(|t| t.id)
        .ok_or(DomainError::NotFound {
            resource: "visit type",
        })?;
    let clinicians = state
        .store
        .list_users(org.id, Some(Role::Clinician))
        .await?
        .into_iter()
        .filter(|c| c.active)
        .collect();
    Ok(Setting {
        operator: Actor {
            org_id: Some(org.id),
            ..Actor::operator()
        },
        video,
        sites: state.store.list_sites(org.id).await?,
        clinicians,
    })
}

/// The same for one patient record (the demo's patient without an account): their video visit
/// about to start, kept from an earlier run or booked now; `None` when no clinician can see them.
pub async fn ensure_for(
    state: &AppState,
    org: &Organization,
    patient: &Patient,
) -> Result<Option<Appointment>, DomainError> {
    if let Some(kept) = upcoming(state, patient).await? {
        return Ok(Some(kept));
    }
    let s = setting(state, org).await?;
    let able = able_clinicians(state, patient, &s.clinicians).await?;
    for latest in [SOON_MINUTES, LATER_MINUTES] {
        let booked = book_soon(
            state,
            &s.operator,
            patient,
            s.video,
            &able,
            &s.sites,
            latest,
        )
        .await?;
        if booked.is_some() {
            return Ok(booked);
        }
    }
    Ok(None)
}

/// A video visit of the patient that is about to start or under way: booked and starting within
/// the next few minutes, or checked in (or in the call) and not over.
async fn upcoming(state: &AppState, patient: &Patient) -> Result<Option<Appointment>, DomainError> {
    let now = state.clock.now();
    let query = AppointmentQuery {
        patient_id: Some(patient.id),
        from: Some(minutes_from(now, -120)),
        to: Some(minutes_from(now, LATER_MINUTES)),
        statuses: Some(vec![
            AppointmentStatus::Booked,
            AppointmentStatus::CheckedIn,
            AppointmentStatus::InVisit,
        ]),
        limit: 50,
        ..AppointmentQuery::default()
    };
    let found = state
        .store
        .list_appointments(patient.org_id, &query)
        .await?;
    Ok(found.into_iter().find(|a| {
        a.modality == Modality::Video
            && match a.status {
                AppointmentStatus::Booked => a.start_at > minutes_from(now, 1),
                _ => a.end_at > now,
            }
    }))
}

fn minutes_from(at: Timestamp, minutes: i64) -> Timestamp {
    at.saturating_add(SignedDuration::from_mins(minutes))
        .unwrap_or(at)
}

/// The first whole five minutes at least [`LEAD_MINUTES`] ahead.
fn first_start(now: Timestamp) -> Timestamp {
    let step = 5 * 60;
    let earliest = minutes_from(now, LEAD_MINUTES).as_second();
    let rounded = (earliest + step - 1).div_euclid(step) * step;
    Timestamp::from_second(rounded).unwrap_or(now)
}

/// Clinicians who could see the patient by video now: licensed in the patient's state, those
/// working at the patient's own clinic first.
fn candidates<'a>(patient: &Patient, clinicians: &'a [User], now: Timestamp) -> Vec<&'a User> {
    let today = now.to_zoned(TimeZone::UTC).date();
    let mut found: Vec<&User> = clinicians
        .iter()
        .filter(|c| {
            let licenses = c
                .clinician
                .as_ref()
                .map(|p| p.licenses.as_slice())
                .unwrap_or(&[]);
            domain::compliance::check_clinician_licensed_in(licenses, patient.address.state, today)
                .is_ok()
        })
        .collect();
    found.sort_by_key(|c| !c.site_ids.contains(&patient.primary_site_id));
    found
}

/// Where the clinician works the on-call stretch: the patient's clinic, else one of their clinics
/// in the patient's state, else their first.
fn on_call_site(clinician: &User, patient: &Patient, sites: &[Site]) -> Option<SiteId> {
    if clinician.site_ids.contains(&patient.primary_site_id) {
        return Some(patient.primary_site_id);
    }
    sites
        .iter()
        .find(|s| clinician.site_ids.contains(&s.id) && s.state == patient.address.state)
        .map(|s| s.id)
        .or_else(|| clinician.site_ids.first().copied())
}

/// Clinicians who can see the patient by video now: licensed in their state, certified, and
/// holding primary care hours.
async fn able_clinicians(
    state: &AppState,
    patient: &Patient,
    clinicians: &[User],
) -> Result<Vec<User>, DomainError> {
    let ctx = state.ctx();
    let now = state.clock.now();
    let mut able = Vec::new();
    for clinician in candidates(patient, clinicians, now) {
        let certified = ctx
            .competency
            .check_virtual_visit(clinician, first_start(now))
            .await
            .is_ok();
        let primary_care = state
            .store
            .list_templates(patient.org_id, Some(clinician.id))
            .await?
            .iter()
            .any(|t| t.service_lines.contains(ServiceLine::PrimaryCare));
        if certified && primary_care {
            able.push(clinician.clone());
        }
    }
    Ok(able)
}

/// Books the patient into a video visit starting within `latest` minutes, if one of the able
/// clinicians can take it.
async fn book_soon(
    state: &AppState,
    operator: &Actor,
    patient: &Patient,
    video: VisitTypeId,
    able: &[User],
    sites: &[Site],
    latest: i64,
) -> Result<Option<Appointment>, DomainError> {
    let ctx = state.ctx();
    let now = state.clock.now();
    let start = first_start(now);
    let latest = minutes_from(now, latest);
    // A patient who has not agreed yet agrees on the phone while the front desk books.
    let version = consent::current(ctx, patient.org_id).await?.version;
    let book = |slot: SlotId| BookCommand {
        patient_id: Some(patient.id),
        reason: Some("Trying a video visit".into()),
        consent_version: Some(version),
        ..BookCommand::new(SlotRef::Id(slot), video)
    };
    // An open slot of a clinician's own hours first, the soonest of them all.
    let mut open = Vec::new();
    for clinician in able {
        let query = SlotQuery {
            from: minutes_from(now, LEAD_MINUTES),
            to: latest,
            service_line: Some(ServiceLine::PrimaryCare),
            min_minutes: Some(ON_CALL_MINUTES),
            clinician_id: Some(clinician.id),
            site_id: None,
            slot_id: None,
            licensed_in: None,
            language: None,
            open_only: true,
            limit: 10,
        };
        open.extend(state.store.search_slots(patient.org_id, &query).await?);
    }
    open.sort_by_key(|v| v.slot.start_at);
    for view in open {
        if let Some(a) = try_book(ctx, operator, &book(view.slot.id)).await? {
            return Ok(Some(a));
        }
    }
    // Otherwise a short stretch on call, the soonest any of them is free.
    let mut at = start;
    while at <= latest {
        let end = minutes_from(at, ON_CALL_MINUTES);
        for clinician in able {
            let Some(site) = on_call_site(clinician, patient, sites) else {
                continue;
            };
            let input = ExceptionInput {
                kind: "extra_hours".into(),
                site_id: Some(site.to_string()),
                start: at.to_string(),
                end: end.to_string(),
                slot_minutes: Some(ON_CALL_MINUTES),
                buffer_minutes: Some(0),
                service_lines: vec![ServiceLine::PrimaryCare.as_str().into()],
                reason: Some("On call for video visits".into()),
            };
            match availability::add_exception(ctx, operator, clinician.id, &input).await {
                Ok(_) => {
                    let slot = state
                        .store
                        .find_slot(patient.org_id, clinician.id, at)
                        .await?;
                    if let Some(view) = slot
                        && let Some(a) = try_book(ctx, operator, &book(view.slot.id)).await?
                    {
                        return Ok(Some(a));
                    }
                }
                // Busy then (their own hours, or on call for someone else already).
                Err(DomainError::AvailabilityOverlap(_)) => {}
                Err(e) => return Err(e),
            }
        }
        at = minutes_from(at, 5);
    }
    Ok(None)
}

/// Books, or answers `None` when a rule refuses this slot (another one may do).
async fn try_book(
    ctx: domain::Ctx<'_>,
    operator: &Actor,
    input: &BookCommand,
) -> Result<Option<Appointment>, DomainError> {
    match booking::book(ctx, operator, input).await {
        Ok(a) => Ok(Some(a)),
        Err(e) if e.refuses_the_time() => Ok(None),
        Err(e) => Err(e),
    }
}
