//! The demo's visit notes: recent video visits of the patients who can sign in, each with a
//! note written and signed by its clinician through the same use cases as the pages (so their
//! after-visit summaries are in the portal), one with an addendum; and one draft of Dr. Adams
//! older than the unsigned-note limit, so her home page asks her to sign it.

use domain::DomainError;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::{Organization, Patient, User};
use domain::ids::{AppointmentEventId, AppointmentId, NoteId, SiteId};
use domain::notes::rules::{self, VisitRecord};
use domain::notes::service as notes;
use domain::notes::{Note, NoteInput, NoteStatus, NoteTemplate};
use domain::scheduling::{
    Appointment, AppointmentAction, AppointmentEvent, AppointmentStatus, Modality, NewBooking,
    VisitType,
};
use jiff::{SignedDuration, Timestamp};

use crate::auth::actor::actor_for_user;
use crate::state::AppState;

struct Written {
    clinician: &'static str,
    patient: usize,
    site: usize,
    visit_type: &'static str,
    days_ago: i64,
    input: fn() -> NoteInput,
    addendum: Option<&'static str>,
}

fn sinusitis() -> NoteInput {
    NoteInput {
        subjective:
            "Ten days of nasal congestion and facial pressure, worse when bending forward. \
                     Thick yellow discharge since Sunday. No fever, no vision changes."
                .into(),
        objective: "On video: alert, speaking in full sentences. Tender over both maxillary \
                    sinuses on self-palpation. Temperature 37.4 °C on home thermometer."
            .into(),
        assessment: "Acute maxillary sinusitis, likely viral; symptoms beyond ten days.".into(),
        plan: "Saline rinses twice daily, intranasal fluticasone. Antibiotics only if no \
               improvement in 7 days or if fever develops."
            .into(),
        instructions: "Rinse your nose with salt water twice a day and use the nasal spray \
                       every morning. Drink plenty of fluids. Most sinus infections clear in \
                       one to two weeks without antibiotics."
            .into(),
        warning_signs: "Message us if you are not better in 7 days. Call 911 or go to the \
                        emergency department if you have swelling around the eyes, trouble \
                        seeing, a severe headache or a stiff neck."
            .into(),
        diagnoses: vec!["J01.00".into()],
        ..NoteInput::default()
    }
}

fn hypertension() -> NoteInput {
    NoteInput {
        subjective: "Follow-up of blood pressure after starting lisinopril 10 mg four weeks \
                     ago. Home readings 132-138 / 82-86. Mild dry cough at night."
            .into(),
        objective: "Home cuff shown on camera: 134/84, pulse 72. No ankle swelling on video."
            .into(),
        assessment: "Essential hypertension, improving; possible ACE-inhibitor cough.".into(),
        plan: "Switch to losartan 50 mg daily. Basic metabolic panel in two weeks. Continue \
               home readings."
            .into(),
        instructions: "Stop lisinopril and start losartan 50 mg once a day from tomorrow. \
                       Keep measuring your blood pressure each morning and write it down. \
                       Have your blood test at the Albany Clinic lab within two weeks."
            .into(),
        diagnoses: vec!["I10".into(), "R05.8".into()],
        follow_up_days: Some("30".into()),
        follow_up_modality: Some("video".into()),
        follow_up_reason: Some("blood pressure review".into()),
        ..NoteInput::default()
    }
}

fn anxiety() -> NoteInput {
    NoteInput {
        subjective: "Worry most days for months, trouble falling asleep, tension in shoulders. \
                     Work stress. PHQ-9 at check-in reviewed together."
            .into(),
        objective: "Calm, good eye contact, speech normal, mood 'on edge', affect congruent."
            .into(),
        assessment: "Generalized anxiety disorder, moderate.".into(),
        plan: "Start weekly cognitive behavioral therapy. Sleep hygiene. Discuss an SSRI at \
               the next visit if no improvement."
            .into(),
        risk_assessment: "Denies thoughts of self-harm or suicide, no plan or intent. \
                          Protective factors: partner, work, no substance use."
            .into(),
        instructions: "Try the breathing exercise we practised twice a day and keep the \
                       sleep diary. Our next session is in two weeks."
            .into(),
        diagnoses: vec!["F41.1".into()],
        follow_up_days: Some("14".into()),
        follow_up_modality: Some("video".into()),
        follow_up_reason: Some("therapy session".into()),
        ..NoteInput::default()
    }
}

const WRITTEN: [Written; 3] = [
    Written {
        clinician: "dr.adams@riverside.example",
        patient: 0,
        site: 0,
        visit_type: "Primary care video visit",
        days_ago: 2,
        input: sinusitis,
        addendum: Some(
            "Patient messaged on day 3: congestion easing, no fever. No change to the plan.",
        ),
    },
    Written {
        clinician: "dr.adams@riverside.example",
        patient: 1,
        site: 1,
        visit_type: "Primary care video visit",
        days_ago: 6,
        input: hypertension,
        addendum: None,
    },
    Written {
        clinician: "dr.chen@riverside.example",
        patient: 2,
        site: 2,
        visit_type: "Therapy session",
        days_ago: 9,
        input: anxiety,
        addendum: None,
    },
];

/// A completed appointment in the past, written as the booking it was.
async fn past_visit(
    state: &AppState,
    org: &Organization,
    clinician: &User,
    patient: &Patient,
    site: SiteId,
    visit_type: &VisitType,
    days_ago: i64,
) -> Result<Appointment, DomainError> {
    // Three hours before now, that many days ago; an hour earlier if that time is taken.
    for shift in 0..4 {
        let start = state
            .clock
            .now()
            .checked_sub(SignedDuration::from_hours(24 * days_ago + 3 + shift))
            .unwrap_or(state.clock.now());
        match book_past(state, org, clinician, patient, site, visit_type, start).await {
            Err(DomainError::ClinicianBusy | DomainError::PatientDoubleBooked) => continue,
            other => return other,
        }
    }
    Err(DomainError::ClinicianBusy)
}

async fn book_past(
    state: &AppState,
    org: &Organization,
    clinician: &User,
    patient: &Patient,
    site: SiteId,
    visit_type: &VisitType,
    start: Timestamp,
) -> Result<Appointment, DomainError> {
    let a = Appointment {
        id: AppointmentId::new(),
        org_id: org.id,
        patient_id: patient.id,
        clinician_id: clinician.id,
        site_id: site,
        slot_id: None,
        visit_type_id: visit_type.id,
        service_line: visit_type.service_line,
        modality: Modality::Video,
        start_at: start,
        end_at: start
            .checked_add(SignedDuration::from_mins(visit_type.duration_minutes))
            .unwrap_or(start),
        patient_state: patient.address.state,
        status: AppointmentStatus::Completed,
        reason: Some("Video visit".into()),
        late_cancellation: false,
        cancel_reason: None,
        created_at: start,
        updated_at: start,
    };
    let booking = NewBooking {
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
            .org(org.id)
            .resource(a.id)
            .patient(a.patient_id)
            .detail("demo history"),
        ],
        appointment: a.clone(),
    };
    state.store.book(booking).await?;
    Ok(a)
}

pub async fn seed(
    state: &AppState,
    org: &Organization,
    site_ids: &[SiteId],
    patients: &[Patient],
    types: &[VisitType],
) -> Result<(), DomainError> {
    let users = state.store.list_users(org.id, None).await?;
    let find = |email: &str| users.iter().find(|u| u.email.as_str() == email);
    let ctx = state.ctx();
    for w in &WRITTEN {
        let (Some(clinician), Some(patient), Some(site), Some(visit_type)) = (
            find(w.clinician),
            patients.get(w.patient),
            site_ids.get(w.site),
            types.iter().find(|t| t.name == w.visit_type),
        ) else {
            continue;
        };
        let a = past_visit(
            state, org, clinician, patient, *site, visit_type, w.days_ago,
        )
        .await?;
        let actor = actor_for_user(clinician, None);
        let note = notes::start(ctx, &actor, a.id).await?;
        let signed = notes::sign(ctx, &actor, note.id, note.version, Some(&(w.input)())).await?;
        if let Some(text) = w.addendum {
            notes::addend(ctx, &actor, signed.id, text).await?;
        }
    }
    // A draft from four days ago that Dr. Adams has not signed yet.
    let (Some(adams), Some(patient), Some(visit_type)) = (
        find("dr.adams@riverside.example"),
        patients.get(3),
        types.iter().find(|t| t.name == "Primary care video visit"),
    ) else {
        return Ok(());
    };
    let a = past_visit(state, org, adams, patient, site_ids[0], visit_type, 4).await?;
    let Some(site) = state.store.get_site(org.id, a.site_id).await? else {
        return Ok(());
    };
    let started: Timestamp = a.end_at;
    let draft = NoteInput {
        subjective: "Low back pain for five days after lifting boxes. No numbness, no leg \
                     weakness, bladder and bowel normal."
            .into(),
        objective: "Moves stiffly on video, able to stand on heels and toes.".into(),
        diagnoses: vec!["M54.50".into()],
        ..NoteInput::default()
    }
    .check(NoteTemplate::Soap)?;
    let note = Note {
        id: NoteId::new(),
        org_id: org.id,
        appointment_id: a.id,
        patient_id: a.patient_id,
        clinician_id: adams.id,
        site_id: a.site_id,
        template: NoteTemplate::Soap,
        status: NoteStatus::Draft,
        facts: rules::facts_from(VisitRecord {
            appointment: &a,
            visit: None,
            log: &[],
            guests: &[],
            site: &site,
            consent: None,
        }),
        sections: draft.sections,
        diagnoses: draft.diagnoses,
        version: 1,
        created_by: adams.id,
        created_at: started,
        updated_by: adams.id,
        updated_at: started,
        signature: None,
        summary_notified_at: None,
        summary_read_at: None,
    };
    let audit = AuditEntry::new(
        started,
        AuditActor::User {
            id: adams.id,
            role: adams.role,
        },
        AuditAction::NoteWrite,
        "Note",
    )
    .org(org.id)
    .resource(note.id)
    .patient(note.patient_id)
    .detail("started");
    state.store.create_note(&note, audit).await
}
