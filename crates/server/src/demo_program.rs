//! The demo's implementation program, in flight: started 35 weeks ago from the template, the
//! pilot phase ending (its support period late, its evaluation under way), Brooklyn live after a
//! pilot that was evaluated "go", Albany preparing, Oakland not started; a governance roster, a risk
//! register with one review overdue, and six months of past visits whose digital share rises
//! towards the organization's goal of 30% by 2028-11-30.

use domain::DomainError;
use domain::access::{Actor, Principal};
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::{Organization, Patient, Role, UsState, User};
use domain::ids::{AppointmentEventId, AppointmentId, SiteId};
use domain::program::TaskStatus;
use domain::program::service::{self as program, RiskInput, TaskCommand};
use domain::scheduling::{
    Appointment, AppointmentAction, AppointmentEvent, AppointmentStatus, Modality, NewBooking,
    ServiceLine, VisitType,
};
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::state::AppState;

/// Past visits per month at each site, and how many of them were video, month by month (oldest
/// first): the digital share climbs from 10% to 35%.
const PAST_MONTHLY: usize = 20;
const DIGITAL_PER_MONTH: [usize; 6] = [2, 3, 4, 5, 6, 7];

fn find<'a>(users: &'a [User], email: &str) -> Option<&'a User> {
    users.iter().find(|u| u.email.as_str() == email)
}

pub async fn seed(
    state: &AppState,
    org: &Organization,
    site_ids: &[SiteId],
    patients: &[Patient],
    types: &[VisitType],
) -> Result<(), DomainError> {
    let users = state.store.list_users(org.id, None).await?;
    let Some(pm) = users.iter().find(|u| u.role == Role::ProgramManager) else {
        return Ok(());
    };
    let ctx = state.ctx();
    let actor = Actor {
        principal: Principal::User(pm.id),
        org_id: Some(org.id),
        role: Some(Role::ProgramManager),
        ..Actor::operator()
    };
    let today = state.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let start = today.checked_sub((35 * 7).days()).unwrap_or(today);
    program::start_in(
        ctx,
        &actor,
        org.id,
        "Riverside telehealth rollout",
        &start.to_string(),
    )
    .await?;

    // Progress: everything due more than three weeks ago is done; what has started since is in
    // progress (the pilot's support period, due a week ago, is late).
    let plan = program::plan(ctx, &actor).await?;
    for task in &plan.tasks {
        let status = if task.due_on < today.checked_sub(21.days()).unwrap_or(today) {
            TaskStatus::Done
        } else if task.starts_on <= today {
            TaskStatus::InProgress
        } else {
            continue;
        };
        let input = TaskCommand {
            owner_id: Some(pm.id),
            status,
            ..TaskCommand::from(task)
        };
        // In date order, so what a task depends on is done before it.
        program::update_task(ctx, &actor, task.id, &input).await?;
    }

    let roster = [
        ("org.admin@riverside.example", "executive_sponsor", None),
        ("program@riverside.example", "program_manager", None),
        ("dr.adams@riverside.example", "clinical_champion", Some(0)),
        ("nurse.diaz@riverside.example", "super_user", Some(0)),
        ("dr.baker@riverside.example", "clinical_champion", Some(2)),
        ("auditor@riverside.example", "compliance_officer", None),
        ("site.admin@riverside.example", "training_lead", None),
    ];
    for (email, role, site) in roster {
        if let Some(u) = find(&users, email) {
            let site = site
                .and_then(|i: usize| site_ids.get(i))
                .map(ToString::to_string);
            program::set_roster(ctx, &actor, &u.id.to_string(), role, site.as_deref()).await?;
        }
    }

    let risks = [
        (
            "Patients without broadband at home cannot join video",
            "adoption",
            4,
            4,
            "Audio-only fallback offered in every reminder; library kiosks in Albany",
            10,
        ),
        (
            "EHR integration late: visit notes typed twice",
            "technical",
            4,
            3,
            "Vendor escalation; interim CSV export of visits",
            -5,
        ),
        (
            "Interstate licensure gaps for Oakland clinicians",
            "regulatory",
            3,
            5,
            "Licensure checks at booking; apply for compact licenses",
            20,
        ),
        (
            "Clinicians revert to the phone after the pilot",
            "adoption",
            3,
            3,
            "Clinical champions per site; monthly digital share review",
            30,
        ),
        (
            "Reimbursement rules for audio-only visits change",
            "financial",
            2,
            4,
            "Billing codes with effective dates; payer watch list",
            45,
        ),
    ];
    for (title, category, likelihood, impact, mitigation, review_in_days) in risks {
        let input = RiskInput {
            title: title.into(),
            category: category.into(),
            likelihood,
            impact,
            owner_id: Some(pm.id.to_string()),
            mitigation: mitigation.into(),
            status: Some("open".into()),
            next_review_on: today
                .checked_add(review_in_days.days())
                .unwrap_or(today)
                .to_string(),
        };
        program::save_risk(ctx, &actor, None, &input).await?;
    }

    seed_past_visits(state, org, site_ids, patients, types, &users).await?;

    // Brooklyn: ready, piloted, evaluated "go", live. Albany: preparing. Oakland: not started.
    if let [brooklyn, albany, ..] = site_ids {
        for item in [
            "equipment_tested",
            "workflows_configured",
            "patient_information_ready",
            "support_rota",
        ] {
            program::set_readiness(ctx, &actor, *brooklyn, item, true).await?;
        }
        program::move_site(ctx, &actor, *brooklyn, "preparing", None).await?;
        // Its clinicians and nurses are certified and its super-user named: the gate opens.
        program::move_site(ctx, &actor, *brooklyn, "pilot", None).await?;
        program::evaluate_pilot(
            ctx,
            &actor,
            *brooklyn,
            20,
            10,
            "go",
            "Digital share above target; no-shows down",
        )
        .await?;
        program::move_site(ctx, &actor, *brooklyn, "live", None).await?;
        program::set_readiness(ctx, &actor, *albany, "equipment_tested", true).await?;
        program::move_site(ctx, &actor, *albany, "preparing", None).await?;
    }
    let by = "2028-11-30";
    program::add_goal(ctx, &actor, None, 30, by).await?;
    if let Some(brooklyn) = site_ids.first() {
        program::add_goal(ctx, &actor, Some(&brooklyn.to_string()), 40, by).await?;
    }
    Ok(())
}

/// Six months of completed visits (and a few no-shows) at Brooklyn and Albany, written as they
/// would have been: each a booking with its event and audit record.
async fn seed_past_visits(
    state: &AppState,
    org: &Organization,
    site_ids: &[SiteId],
    patients: &[Patient],
    types: &[VisitType],
    users: &[User],
) -> Result<(), DomainError> {
    let (Some(video), Some(in_person)) = (
        types.iter().find(|t| t.name == "Primary care video visit"),
        types.iter().find(|t| t.name == "Clinic visit"),
    ) else {
        return Ok(());
    };
    let Some(adams) = find(users, "dr.adams@riverside.example") else {
        return Ok(());
    };
    let ny = UsState::parse("state", "NY")?;
    let now = state.clock.now();
    let this_month = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month();
    for (age, digital) in DIGITAL_PER_MONTH.iter().enumerate() {
        let months_back = (DIGITAL_PER_MONTH.len() - age) as i64;
        let month = this_month
            .checked_sub(months_back.months())
            .unwrap_or(this_month);
        for (site_index, site) in site_ids.iter().take(2).enumerate() {
            for n in 0..PAST_MONTHLY {
                // One visit a day at 14:00 or 15:00 UTC, on days 1 to 20.
                let day = month.checked_add((n as i64).days()).unwrap_or(month);
                let start: Timestamp = day
                    .at(14 + site_index as i8, 0, 0, 0)
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .map(|z| z.timestamp())
                    .unwrap_or(now);
                let is_digital = n < *digital;
                let status = if n % 9 == 8 {
                    AppointmentStatus::NoShow
                } else {
                    AppointmentStatus::Completed
                };
                let visit_type = if is_digital { video } else { in_person };
                let patient = &patients[(n + site_index * PAST_MONTHLY + age * 3) % patients.len()];
                let a = Appointment {
                    id: AppointmentId::new(),
                    org_id: org.id,
                    patient_id: patient.id,
                    clinician_id: adams.id,
                    site_id: *site,
                    slot_id: None,
                    visit_type_id: visit_type.id,
                    service_line: ServiceLine::PrimaryCare,
                    modality: if is_digital {
                        Modality::Video
                    } else {
                        Modality::InPerson
                    },
                    start_at: start,
                    end_at: start
                        .checked_add(SignedDuration::from_mins(20))
                        .unwrap_or(start),
                    patient_state: ny,
                    status,
                    reason: Some("Follow-up".into()),
                    late_cancellation: false,
                    cancel_reason: None,
                    created_at: start,
                    updated_at: start,
                };
                state.store.book(history_booking(a)).await?;
            }
        }
    }
    Ok(())
}

/// A booking written as the demo's history: its booking event and audit record at its start.
pub(crate) fn history_booking(a: Appointment) -> NewBooking {
    let start = a.start_at;
    NewBooking {
        event: AppointmentEvent {
            id: AppointmentEventId::new(),
            appointment_id: a.id,
            at: start,
            action: AppointmentAction::Book,
            from_status: None,
            to_status: a.status,
            actor: AuditActor::Operator,
            detail: Some("demo history".into()),
        },
        consent: None,
        audit: vec![
            AuditEntry::new(
                start,
                AuditActor::Operator,
                AuditAction::AppointmentCreate,
                "Appointment",
            )
            .org(a.org_id)
            .resource(a.id)
            .patient(a.patient_id)
            .detail("demo history"),
        ],
        appointment: a,
    }
}
