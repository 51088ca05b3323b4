//! The demo's visit notes, on video visits of the patients who can sign in: Dr. Adams's notes of
//! last month's visits (one with an addendum) and Dr. Chen's behavioral health note, each signed
//! half an hour after the visit with its real SHA-256 (so their after-visit summaries are in the
//! portal, already announced); and one draft of Dr. Adams left unsigned since, so her home page
//! asks her to sign it. They sit on visits the program's history already has (or, for Dr. Chen,
//! on one in the last full month), so the adoption figures stay as the program seeds them.

use domain::DomainError;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::{Organization, Patient, User};
use domain::ids::{AddendumId, AppointmentId, NoteId, SiteId};
use domain::notes::rules::{self, VisitRecord};
use domain::notes::{Addendum, Note, NoteInput, NoteStatus, NoteTemplate, Signature};
use domain::scheduling::{Appointment, AppointmentQuery, AppointmentStatus, Modality, VisitType};
use jiff::{SignedDuration, Timestamp};

use crate::state::AppState;

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

fn back_pain() -> NoteInput {
    NoteInput {
        subjective: "Low back pain for five days after lifting boxes. No numbness, no leg \
                     weakness, bladder and bowel normal."
            .into(),
        objective: "Moves stiffly on video, able to stand on heels and toes.".into(),
        diagnoses: vec!["M54.50".into()],
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

/// A completed appointment in the past, written as the booking it was.
async fn past_visit(
    state: &AppState,
    org: &Organization,
    clinician: &User,
    patient: &Patient,
    site: SiteId,
    visit_type: &VisitType,
    at: Timestamp,
) -> Result<Appointment, DomainError> {
    // At `at`, or an hour later if that time is taken.
    for shift in 0..4 {
        let start = at
            .checked_add(SignedDuration::from_hours(shift))
            .unwrap_or(at);
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
    state
        .store
        .book(crate::demo_program::history_booking(a.clone()))
        .await?;
    Ok(a)
}

/// The latest completed video visit of a patient with a clinician, from the demo's history.
async fn history_visit(
    state: &AppState,
    org: &Organization,
    clinician: &User,
    patient: &Patient,
) -> Result<Option<Appointment>, DomainError> {
    let query = AppointmentQuery {
        patient_id: Some(patient.id),
        clinician_id: Some(clinician.id),
        to: Some(state.clock.now()),
        statuses: Some(vec![AppointmentStatus::Completed]),
        limit: 200,
        ..AppointmentQuery::default()
    };
    Ok(state
        .store
        .list_appointments(org.id, &query)
        .await?
        .into_iter()
        .filter(|a| a.modality == Modality::Video)
        .max_by_key(|a| a.start_at))
}

/// Writes a note as its clinician would have: started at the end of the visit, signed (with its
/// digest) `sign_after` later unless `None`, the summary already announced to the patient.
async fn write_note(
    state: &AppState,
    a: &Appointment,
    input: NoteInput,
    sign_after: Option<SignedDuration>,
    addendum: Option<&str>,
) -> Result<(), DomainError> {
    let Some(site) = state.store.get_site(a.org_id, a.site_id).await? else {
        return Ok(());
    };
    let template = NoteTemplate::for_line(a.service_line);
    let draft = input.check(template)?;
    let started = a.end_at;
    let actor = AuditActor::User {
        id: a.clinician_id,
        role: domain::identity::Role::Clinician,
    };
    let mut note = Note {
        id: NoteId::new(),
        org_id: a.org_id,
        appointment_id: a.id,
        patient_id: a.patient_id,
        clinician_id: a.clinician_id,
        site_id: a.site_id,
        template,
        status: NoteStatus::Draft,
        facts: rules::facts_from(VisitRecord {
            appointment: a,
            visit: None,
            log: &[],
            guests: &[],
            site: &site,
            consent: None,
        }),
        sections: draft.sections,
        diagnoses: draft.diagnoses,
        version: 1,
        created_by: a.clinician_id,
        created_at: started,
        updated_by: a.clinician_id,
        updated_at: started,
        signature: None,
        summary_notified_at: None,
        summary_read_at: None,
    };
    let entry = |at: Timestamp, action: AuditAction| {
        AuditEntry::new(at, actor.clone(), action, "Note")
            .org(a.org_id)
            .resource(note.id)
            .patient(a.patient_id)
    };
    if let Some(after) = sign_after {
        let at = started.checked_add(after).unwrap_or(started);
        note.status = NoteStatus::Signed;
        note.updated_at = at;
        note.signature = Some(Signature {
            by: a.clinician_id,
            at,
            sha256: rules::note_digest(&note, a.clinician_id, at),
        });
        note.summary_notified_at = Some(at);
    }
    state
        .store
        .create_note(&note, entry(note.updated_at, AuditAction::NoteWrite))
        .await?;
    if let (Some(text), Some(signature)) = (addendum, &note.signature) {
        let at = signature
            .at
            .checked_add(SignedDuration::from_hours(50))
            .unwrap_or(signature.at);
        let addendum = Addendum {
            id: AddendumId::new(),
            note_id: note.id,
            org_id: note.org_id,
            text: text.to_string(),
            signature: Signature {
                by: a.clinician_id,
                at,
                sha256: rules::addendum_digest(&signature.sha256, text, a.clinician_id, at),
            },
        };
        state
            .store
            .add_addendum(&addendum, entry(at, AuditAction::NoteAddendum))
            .await?;
    }
    Ok(())
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
    let thirty_minutes = Some(SignedDuration::from_mins(30));
    if let Some(adams) = find("dr.adams@riverside.example") {
        let notes: [(usize, NoteInput, Option<SignedDuration>, Option<&str>); 3] = [
            (
                0,
                sinusitis(),
                thirty_minutes,
                Some(
                    "Patient messaged two days later: congestion easing, no fever. No change to the plan.",
                ),
            ),
            (1, hypertension(), thirty_minutes, None),
            (3, back_pain(), None, None),
        ];
        for (index, input, sign_after, addendum) in notes {
            let Some(patient) = patients.get(index) else {
                continue;
            };
            if let Some(a) = history_visit(state, org, adams, patient).await? {
                write_note(state, &a, input, sign_after, addendum).await?;
            }
        }
    }
    // Dr. Chen's therapy session with Emma, on the 15th of the last full month.
    let (Some(chen), Some(emma), Some(site), Some(therapy)) = (
        find("dr.chen@riverside.example"),
        patients.get(2),
        site_ids.get(2),
        types.iter().find(|t| t.name == "Therapy session"),
    ) else {
        return Ok(());
    };
    let now = state.clock.now();
    let last_month = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_sub(jiff::ToSpan::months(1))
        .and_then(|d| d.checked_add(jiff::ToSpan::days(14)))
        .ok()
        .and_then(|d| d.at(17, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or(now, |z| z.timestamp());
    let a = past_visit(state, org, chen, emma, *site, therapy, last_month).await?;
    write_note(state, &a, anxiety(), thirty_minutes, None).await
}
