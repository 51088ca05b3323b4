//! Helpers several use cases share: scheduling's own (booking, appointments, consent, the queue,
//! calendars) and those of visits, which may use scheduling (never the reverse). The booking
//! rules that are checked again later (at check-in) are [`check_virtual_visit`], so booking and
//! the re-check cannot drift apart.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::Ctx;
use crate::access::{Actor, Permission, Principal};
use crate::compliance::{
    AuditAction, AuditEntry, Outcome, PatientConsent, check_clinician_licensed_in, describe_check,
};
use crate::error::{DomainError, DomainResult};
use crate::identity::{Patient, Role, Site, UsState, User};
use crate::ids::{AppointmentEventId, AppointmentId, OrgId, PatientId, SiteId, UserId};
use crate::scheduling::{AppointmentAction, AppointmentEvent, AppointmentStatus};

/// An audit entry for a scheduling action of `actor` in `org`.
pub(crate) fn entry(
    ctx: Ctx<'_>,
    actor: &Actor,
    action: AuditAction,
    resource_type: &str,
    org: OrgId,
) -> AuditEntry {
    AuditEntry::new(ctx.clock.now(), actor.audit_actor(), action, resource_type)
        .org(org)
        .from_ip(actor.source_ip.clone())
}

/// An active clinician of the organization, or "clinician not found".
pub(crate) async fn clinician(ctx: Ctx<'_>, org: OrgId, id: UserId) -> DomainResult<User> {
    match ctx.store.get_user(org, id).await? {
        Some(user) if user.role == Role::Clinician && user.active => Ok(user),
        _ => Err(DomainError::NotFound {
            resource: "clinician",
        }),
    }
}

/// A site of the organization with its time zone.
pub(crate) async fn site_with_zone(
    ctx: Ctx<'_>,
    org: OrgId,
    id: SiteId,
) -> DomainResult<(Site, TimeZone)> {
    let site = ctx
        .store
        .get_site(org, id)
        .await?
        .ok_or(DomainError::NotFound { resource: "site" })?;
    let tz = zone_of(&site)?;
    Ok((site, tz))
}

pub(crate) fn zone_of(site: &Site) -> DomainResult<TimeZone> {
    TimeZone::get(site.time_zone.as_str()).map_err(|e| {
        DomainError::Storage(format!(
            "the time zone {} of a site is unknown here: {e}",
            site.time_zone.as_str()
        ))
    })
}

/// The calendar date of an instant at a place.
pub(crate) fn date_at(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned(tz.clone()).date()
}

/// Is the actor the clinician themselves?
pub(crate) fn is_self(actor: &Actor, user: UserId) -> bool {
    matches!(actor.principal, Principal::User(id) if id == user)
}

/// May the actor look after this clinician's schedule? Themselves; staff of a site the
/// clinician works at; organization administrators and integration clients anywhere.
pub(crate) fn may_manage_clinician(actor: &Actor, clinician: &User) -> bool {
    match (&actor.principal, actor.role) {
        (Principal::User(_), Some(Role::OrgAdmin)) => true,
        (Principal::User(id), Some(Role::Clinician)) => *id == clinician.id,
        (Principal::User(_), Some(Role::FrontDesk | Role::SiteAdmin)) => clinician
            .site_ids
            .iter()
            .any(|s| actor.site_ids.contains(s)),
        (Principal::User(_) | Principal::VisitLink { .. }, _) => false,
        (Principal::Client(_) | Principal::Operator, _) => true,
    }
}

/// A date `YYYY-MM-DD`, or today when blank.
pub(crate) fn date_or(field: &str, raw: Option<&str>, default: Date) -> DomainResult<Date> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(raw) => crate::identity::parse_date(field, raw),
    }
}

/// An instant: an RFC 3339 timestamp with an offset (`2026-12-24T14:00:00Z`), or a local date and
/// time (`2026-12-24T09:00`) or a date alone (its midnight) at `tz`.
pub(crate) fn parse_instant(field: &str, raw: &str, tz: &TimeZone) -> DomainResult<Timestamp> {
    let raw = raw.trim();
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil = raw.parse::<jiff::civil::DateTime>().or_else(|_| {
        raw.parse::<Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    match civil {
        Ok(dt) => dt.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(|_| {
            DomainError::invalid(
                field,
                format!("'{raw}' cannot be placed in the site's time zone"),
            )
        }),
        Err(_) => Err(DomainError::invalid(
            field,
            format!(
                "'{raw}' is not a time such as 2026-12-24T09:00 (local to the site), 2026-12-24, or 2026-12-24T14:00:00Z"
            ),
        )),
    }
}

/// A patient record the actor may book for: their own (patients), one they may open (staff), or
/// any of the organization (integration clients with appointment rights).
pub(crate) async fn patient_for(
    ctx: Ctx<'_>,
    actor: &Actor,
    org: OrgId,
    id: PatientId,
) -> DomainResult<Patient> {
    let not_found = || DomainError::NotFound {
        resource: "patient",
    };
    let patient = ctx
        .store
        .get_patient(org, id)
        .await?
        .ok_or_else(not_found)?;
    match (&actor.principal, actor.role) {
        (Principal::User(_) | Principal::VisitLink { .. }, Some(Role::Patient)) => {
            if actor.own_patient == Some(id) {
                Ok(patient)
            } else {
                Err(not_found())
            }
        }
        (Principal::User(_), Some(_)) => {
            crate::identity::service::patients::patient_access(
                ctx,
                actor,
                &patient,
                Permission::ReadPatient,
            )
            .await?;
            Ok(patient)
        }
        (Principal::User(_) | Principal::VisitLink { .. }, _) => Err(not_found()),
        (Principal::Client(_) | Principal::Operator, _) => {
            if actor.in_org(patient.org_id) {
                Ok(patient)
            } else {
                Err(not_found())
            }
        }
    }
}

/// Checks licensure; a refusal is audited at once (and returned), a pass comes back as the audit
/// entry to write with the change it allowed.
pub(crate) async fn check_licensure(
    ctx: Ctx<'_>,
    actor: &Actor,
    clinician: &User,
    patient: &Patient,
    state: UsState,
    visit_date: jiff::civil::Date,
) -> DomainResult<AuditEntry> {
    let licenses = clinician
        .clinician
        .as_ref()
        .map(|p| p.licenses.as_slice())
        .unwrap_or(&[]);
    let found = check_clinician_licensed_in(licenses, state, visit_date);
    let audit = entry(
        ctx,
        actor,
        AuditAction::LicensureCheck,
        "Practitioner",
        patient.org_id,
    )
    .resource(clinician.id)
    .patient(patient.id)
    .detail(describe_check(
        state,
        visit_date,
        found.as_ref().ok().copied(),
    ));
    match found {
        Ok(_) => Ok(audit),
        Err(refusal) => {
            ctx.store
                .record_audit(audit.outcome(Outcome::Denied))
                .await?;
            Err(refusal)
        }
    }
}

/// A virtual visit about to be booked or checked in: who sees whom, where the patient will be,
/// and when (in the site's time zone, which decides the date licensure is checked for).
pub(crate) struct VirtualVisit<'a> {
    pub clinician: &'a User,
    pub patient: &'a Patient,
    pub patient_state: UsState,
    pub start: Timestamp,
    pub tz: &'a TimeZone,
}

/// The rules of a virtual visit, checked when it is booked and again at check-in (where the
/// patient is may have changed, a certification may have lapsed), in this order: the clinician
/// is licensed where the patient will be on the visit's date (audited either way), holds a
/// telehealth certification at the start, and the patient has consented to telehealth
/// (accepting `consent_version` now if given). Returns the licensure check's audit entry, to
/// write with the change it allowed, and the consent given along the way.
pub(crate) async fn check_virtual_visit(
    ctx: Ctx<'_>,
    actor: &Actor,
    visit: VirtualVisit<'_>,
    consent_version: Option<i64>,
) -> DomainResult<(AuditEntry, Option<PatientConsent>)> {
    let check = check_licensure(
        ctx,
        actor,
        visit.clinician,
        visit.patient,
        visit.patient_state,
        date_at(visit.start, visit.tz),
    )
    .await?;
    ctx.competency
        .check_virtual_visit(visit.clinician, visit.start)
        .await?;
    let consent =
        super::consent::require_or_accept(ctx, actor, visit.patient, consent_version).await?;
    Ok((check, consent))
}

/// An event of an appointment's history, by `actor` now.
pub(crate) fn event(
    ctx: Ctx<'_>,
    actor: &Actor,
    appointment: AppointmentId,
    action: AppointmentAction,
    from: Option<AppointmentStatus>,
    to: AppointmentStatus,
    detail: Option<String>,
) -> AppointmentEvent {
    AppointmentEvent {
        id: AppointmentEventId::new(),
        appointment_id: appointment,
        at: ctx.clock.now(),
        action,
        from_status: from,
        to_status: to,
        actor: actor.audit_actor(),
        detail,
    }
}
