//! Visit notes in the browser: `/visits/{id}/note` (start, the draft form with Save and Sign,
//! the signed note with its SHA-256 and addenda; the patient's summaries are `summaries.rs`).
//! Without JavaScript every button posts and redirects; with it, `notes.js` saves the draft as
//! the clinician types and looks up ICD-10-CM codes.

use askama::Template;
use axum::extract::{Path, State};
use jiff::tz::TimeZone;

use domain::DomainError;
use domain::identity::Role;
use domain::ids::{AppointmentId, NoteId};
use domain::notes::service::{self as notes, NoteView};
use domain::notes::{
    Note, NoteInput, NoteStatus, NoteTemplate, TriageAcuity, TriageDisposition, icd10,
};
use domain::scheduling::Modality;
use domain::scheduling::service::appointments;
use serde::Deserialize;

use crate::state::AppState;

use super::appointment_view::Directory;
use super::appointments::Detail;
use super::form::{Field, FormData, FormErrors, PageQuery, Select, choices};
use super::page::{PageError, PageResult, ok, render, see_other};
use super::session::{PageUser, check_csrf};
use super::shell::{Section, Shell};
use super::when;

/// Diagnosis inputs on the form (a note holds up to 12; more through the API).
const DIAGNOSIS_FIELDS: usize = 6;

/// Labels of the form's fields, for error messages that read as sentences.
const LABELS: &[(&str, &str)] = &[
    ("subjective", "Subjective"),
    ("objective", "Objective"),
    ("assessment", "Assessment"),
    ("plan", "Plan"),
    ("instructions", "Instructions for the patient"),
    ("warning_signs", "When to seek care sooner"),
    ("risk_assessment", "Risk assessment"),
    ("acuity", "Acuity"),
    ("disposition", "Disposition"),
    ("diagnoses", "Diagnoses"),
    ("diagnoses[0]", "Diagnosis 1"),
    ("diagnoses[1]", "Diagnosis 2"),
    ("diagnoses[2]", "Diagnosis 3"),
    ("diagnoses[3]", "Diagnosis 4"),
    ("diagnoses[4]", "Diagnosis 5"),
    ("diagnoses[5]", "Diagnosis 6"),
    ("follow_up_days", "Follow-up in days"),
    ("follow_up_modality", "Follow-up visit"),
    ("follow_up_reason", "Follow-up reason"),
    ("text", "Addendum"),
];

pub struct CodeRow {
    pub code: &'static str,
    pub description: &'static str,
}

pub struct AddendumRow {
    pub text: String,
    pub signed: String,
    pub sha256: String,
}

#[derive(Template)]
#[template(path = "pages/note.html")]
struct NotePage {
    shell: Shell,
    heading: String,
    visit_href: String,
    record_href: String,
    /// No note yet: the start button (for clinicians and nurses).
    can_start: bool,
    note_id: String,
    version: i64,
    signed: bool,
    can_edit: bool,
    can_sign: bool,
    emergency: bool,
    template_label: &'static str,
    facts: Vec<Detail>,
    sections: Vec<Field>,
    acuity: Option<Select>,
    disposition: Option<Select>,
    diagnoses: Vec<Field>,
    follow_up_days: Field,
    follow_up_modality: Select,
    follow_up_reason: Field,
    /// The signed note, read only.
    signed_sections: Vec<Detail>,
    signed_diagnoses: Vec<Detail>,
    signature: Vec<Detail>,
    addenda: Vec<AddendumRow>,
    addendum: Field,
    query: String,
    codes: Vec<CodeRow>,
    errors: FormErrors,
    release: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoteParams {
    /// ICD-10-CM search without JavaScript.
    pub q: Option<String>,
    pub done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("saved") => Some("Draft saved."),
        Some("signed") => Some("Note signed. The patient's summary is ready."),
        Some("addendum") => Some("Addendum signed and added."),
        _ => None,
    }
}

fn detail(label: &'static str, value: String) -> Detail {
    Detail { label, value }
}

fn sections_of(template: NoteTemplate) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = vec![
        (
            "subjective",
            "Subjective",
            "What the patient reports: history, symptoms, concerns.",
        ),
        (
            "objective",
            "Objective",
            "What you observed on video or audio, and any readings.",
        ),
        ("assessment", "Assessment", "Your clinical impression."),
        ("plan", "Plan", "Treatment, tests, referrals."),
    ];
    if template == NoteTemplate::BehavioralHealth {
        out.push((
            "risk_assessment",
            "Risk assessment",
            "Suicide and self-harm risk, protective factors, safety plan.",
        ));
    }
    out.push((
        "instructions",
        "Instructions for the patient",
        "Shown in the after-visit summary, in plain words.",
    ));
    out.push((
        "warning_signs",
        "When to seek care sooner",
        "Shown in the summary. Leave blank for the standard advice.",
    ));
    out
}

/// The form's values: from the note, or from the form that was refused.
fn input_of(note: &Note) -> NoteInput {
    let s = &note.sections;
    let mut diagnoses: Vec<String> = note.diagnoses.iter().map(|d| d.code.clone()).collect();
    diagnoses.resize(DIAGNOSIS_FIELDS.max(diagnoses.len()), String::new());
    NoteInput {
        subjective: s.subjective.clone(),
        objective: s.objective.clone(),
        assessment: s.assessment.clone(),
        plan: s.plan.clone(),
        instructions: s.instructions.clone(),
        warning_signs: s.warning_signs.clone(),
        risk_assessment: s.risk_assessment.clone(),
        acuity: s.acuity.map(|a| a.as_str().to_string()),
        disposition: s.disposition.map(|d| d.as_str().to_string()),
        diagnoses,
        follow_up_days: s.follow_up.as_ref().map(|f| f.in_days.to_string()),
        follow_up_modality: s
            .follow_up
            .as_ref()
            .map(|f| f.modality.as_str().to_string()),
        follow_up_reason: s.follow_up.as_ref().map(|f| f.reason.clone()),
    }
}

pub(super) fn input_from(form: &FormData) -> NoteInput {
    NoteInput {
        subjective: form.get("subjective").into(),
        objective: form.get("objective").into(),
        assessment: form.get("assessment").into(),
        plan: form.get("plan").into(),
        instructions: form.get("instructions").into(),
        warning_signs: form.get("warning_signs").into(),
        risk_assessment: form.get("risk_assessment").into(),
        acuity: form.optional("acuity"),
        disposition: form.optional("disposition"),
        diagnoses: (0..DIAGNOSIS_FIELDS)
            .map(|i| form.get(&format!("diagnoses[{i}]")).to_string())
            .collect(),
        follow_up_days: form.optional("follow_up_days"),
        follow_up_modality: form.optional("follow_up_modality"),
        follow_up_reason: form.optional("follow_up_reason"),
    }
}

fn facts_rows(note: &Note, tz: &TimeZone) -> Vec<Detail> {
    let f = &note.facts;
    let at =
        |t: Option<jiff::Timestamp>| t.map_or_else(|| "Not recorded".into(), |t| when::when(t, tz));
    let mut how = f.modality_used.label().to_string();
    if let Some(since) = f.audio_only_since {
        how = format!(
            "{how}: switched to audio only at {}",
            when::clock(since, tz)
        );
    }
    let participants = if f.participants.is_empty() {
        "Patient and clinician only".to_string()
    } else {
        f.participants
            .iter()
            .map(|p| format!("{} ({})", p.name, p.relation))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows = vec![
        detail("How the visit was held", how),
        detail("Booked as", f.modality.label().to_string()),
        detail(
            "Patient's location at check-in",
            f.patient_state
                .map_or_else(|| "Not given".into(), |s| s.code().to_string()),
        ),
        detail(
            "Clinician's site",
            format!("{} ({})", f.clinician_site, f.clinician_site_state.code()),
        ),
        detail("Others present", participants),
        detail(
            "Telehealth consent",
            match (f.consent_version, f.consent_given_at) {
                (Some(v), Some(at)) => format!("Version {v}, agreed {}", when::when(at, tz)),
                _ => "No consent on record".into(),
            },
        ),
        detail("Checked in", at(f.checked_in_at)),
        detail(
            "Call",
            match (f.call_started_at, f.call_ended_at) {
                (Some(s), Some(e)) => format!(
                    "{} to {} ({})",
                    when::when(s, tz),
                    when::clock(e, tz),
                    f.call_minutes.map_or_else(String::new, when::minutes)
                ),
                (Some(s), None) => format!("Started {}", when::when(s, tz)),
                _ => "No media recorded".into(),
            },
        ),
    ];
    if let Some(score) = f.phq9_score {
        rows.push(detail(
            "PHQ-9 at check-in",
            format!("{score} ({})", f.phq9_severity.clone().unwrap_or_default()),
        ));
    }
    rows
}

struct Context {
    heading: String,
    tz: TimeZone,
}

async fn context(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    id: AppointmentId,
) -> Result<Context, PageError> {
    let actor = &me.actor;
    let (appointment, _) = appointments::get(state.ctx(), actor, id).await?;
    let dir = Directory::load(state, actor)
        .await?
        .with_patients(state, actor, std::slice::from_ref(&appointment))
        .await?;
    let tz = dir.zone(appointment.site_id);
    let patient = dir
        .patient(appointment.patient_id)
        .map_or_else(|| "the patient".to_string(), |p| p.full_name());
    Ok(Context {
        heading: format!(
            "Visit note: {patient}, {}",
            when::when(appointment.start_at, &tz)
        ),
        tz,
    })
}

/// What the form shows when it comes back refused: what was typed, and what was wrong.
#[derive(Default)]
struct Typed<'a> {
    values: Option<NoteInput>,
    errors: FormErrors,
    addendum: &'a str,
}

fn page(
    me: &crate::auth::actor::SignedIn,
    id: AppointmentId,
    cx: Context,
    view: Option<&NoteView>,
    typed: Typed<'_>,
    params: &NoteParams,
) -> NotePage {
    let Typed {
        values,
        errors,
        addendum: addendum_text,
    } = typed;
    let note = view.map(|v| &v.note);
    let template = note.map_or(NoteTemplate::Soap, |n| n.template);
    let values = values.or_else(|| note.map(input_of)).unwrap_or_default();
    let field = |name: &str, label: &str, hint: &str, value: &str| {
        Field::new(name, label, value)
            .hint(hint)
            .optional()
            .errors(&errors)
    };
    let sections = sections_of(template)
        .into_iter()
        .map(|(name, label, hint)| {
            let value = match name {
                "subjective" => &values.subjective,
                "objective" => &values.objective,
                "assessment" => &values.assessment,
                "plan" => &values.plan,
                "risk_assessment" => &values.risk_assessment,
                "instructions" => &values.instructions,
                _ => &values.warning_signs,
            };
            field(name, label, hint, value)
        })
        .collect();
    let urgent = template == NoteTemplate::UrgentCare;
    let acuity = urgent.then(|| {
        Select::new(
            "acuity",
            "Acuity",
            choices(TriageAcuity::ALL, TriageAcuity::as_str, TriageAcuity::label),
            values.acuity.as_deref().unwrap_or_default(),
            Some("Not assessed yet"),
        )
        .errors(&errors)
    });
    let disposition = urgent.then(|| {
        Select::new(
            "disposition",
            "Disposition",
            choices(
                TriageDisposition::ALL,
                TriageDisposition::as_str,
                TriageDisposition::label,
            ),
            values.disposition.as_deref().unwrap_or_default(),
            Some("Not decided yet"),
        )
        .errors(&errors)
    });
    let mut codes = values.diagnoses.clone();
    codes.resize(DIAGNOSIS_FIELDS.max(codes.len()), String::new());
    let diagnoses = codes
        .iter()
        .enumerate()
        .take(DIAGNOSIS_FIELDS)
        .map(|(i, code)| {
            let name = format!("diagnoses[{i}]");
            let label = format!("Diagnosis {}", i + 1);
            let described = note
                .and_then(|n| {
                    n.diagnoses
                        .iter()
                        .find(|d| d.code.eq_ignore_ascii_case(code.trim()))
                })
                .map(|d| d.description.clone())
                .unwrap_or_default();
            Field::new(&name, &label, code.as_str())
                .hint(&described)
                .optional()
                .datalist("icd10-codes")
                .errors(&errors)
        })
        .collect();
    let signed = note.is_some_and(|n| n.status == NoteStatus::Signed);
    let signed_sections = match note {
        Some(n) if signed => sections_of(n.template)
            .into_iter()
            .filter_map(|(name, label, _)| {
                let s = &n.sections;
                let text = match name {
                    "subjective" => &s.subjective,
                    "objective" => &s.objective,
                    "assessment" => &s.assessment,
                    "plan" => &s.plan,
                    "risk_assessment" => &s.risk_assessment,
                    "instructions" => &s.instructions,
                    _ => &s.warning_signs,
                };
                (!text.is_empty()).then(|| detail(label, text.clone()))
            })
            .chain(
                n.sections
                    .acuity
                    .map(|a| detail("Acuity", a.label().into())),
            )
            .chain(
                n.sections
                    .disposition
                    .map(|d| detail("Disposition", d.label().into())),
            )
            .chain(n.sections.follow_up.as_ref().map(|f| {
                detail(
                    "Follow-up",
                    format!("{} in {} days {}", f.modality.label(), f.in_days, f.reason),
                )
            }))
            .collect(),
        _ => Vec::new(),
    };
    let signature = match (view, note.and_then(|n| n.signature.as_ref())) {
        (Some(v), Some(s)) => vec![
            detail("Signed", when::when(s.at, &cx.tz)),
            detail("SHA-256", s.sha256.clone()),
            detail(
                "Content check",
                if v.signature_matches {
                    "The note matches its signature".into()
                } else {
                    "The note does NOT match its signature: report this to the privacy officer"
                        .into()
                },
            ),
        ],
        _ => Vec::new(),
    };
    let query = params.q.clone().unwrap_or_default();
    NotePage {
        shell: Shell::new(me, Section::Schedule).notice(notice(params.done.as_deref())),
        heading: cx.heading,
        visit_href: format!("/visits/{id}"),
        record_href: format!("/visits/{id}/record"),
        can_start: view.is_none() && matches!(me.user.role, Role::Clinician | Role::Nurse),
        note_id: note.map(|n| n.id.to_string()).unwrap_or_default(),
        version: note.map_or(0, |n| n.version),
        signed,
        can_edit: view.is_some_and(|v| v.can_edit),
        can_sign: view.is_some_and(|v| v.can_sign),
        emergency: view.is_some_and(|v| v.emergency),
        template_label: template.label(),
        facts: note.map(|n| facts_rows(n, &cx.tz)).unwrap_or_default(),
        sections,
        acuity,
        disposition,
        diagnoses,
        follow_up_days: field(
            "follow_up_days",
            "Follow-up in days",
            "Blank: no follow-up visit proposed.",
            values.follow_up_days.as_deref().unwrap_or_default(),
        )
        .inputmode("numeric"),
        follow_up_modality: Select::new(
            "follow_up_modality",
            "Follow-up visit",
            choices(Modality::ALL, Modality::as_str, Modality::label),
            values.follow_up_modality.as_deref().unwrap_or("video"),
            None,
        ),
        follow_up_reason: field(
            "follow_up_reason",
            "Follow-up reason",
            "",
            values.follow_up_reason.as_deref().unwrap_or_default(),
        ),
        signed_diagnoses: note
            .filter(|_| signed)
            .map(|n| {
                n.diagnoses
                    .iter()
                    .map(|d| Detail {
                        label: "ICD-10-CM",
                        value: format!("{} {}", d.code, d.description),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        signed_sections,
        signature,
        addenda: view
            .map(|v| {
                v.addenda
                    .iter()
                    .map(|a| AddendumRow {
                        text: a.text.clone(),
                        signed: when::when(a.signature.at, &cx.tz),
                        sha256: a.signature.sha256.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        addendum: Field::new("text", "Addendum", addendum_text).errors(&errors),
        codes: if query.trim().is_empty() {
            Vec::new()
        } else {
            icd10::search(&query, 25)
                .into_iter()
                .map(|c| CodeRow {
                    code: c.code,
                    description: c.description,
                })
                .collect()
        },
        query,
        errors,
        release: icd10::RELEASE,
    }
}

fn parse_appointment(raw: &str) -> Result<AppointmentId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

pub(super) fn parse_note(raw: &str) -> Result<NoteId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

fn staff_only(me: &crate::auth::actor::SignedIn) -> Result<(), PageError> {
    if me.user.role == Role::Patient {
        Err(PageError::NotFound)
    } else {
        Ok(())
    }
}

/// `GET /visits/{id}/note`: the note of a visit, or the button that starts it.
pub async fn show(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    PageQuery(params): PageQuery<NoteParams>,
) -> PageResult {
    staff_only(&me)?;
    let id = parse_appointment(&raw)?;
    let cx = context(&state, &me, id).await?;
    let view = notes::for_appointment(state.ctx(), &me.actor, id).await?;
    Ok(ok(&page(
        &me,
        id,
        cx,
        view.as_ref(),
        Typed::default(),
        &params,
    )))
}

/// `POST /visits/{id}/note`: starts the note from the visit record.
pub async fn start(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_appointment(&raw)?;
    notes::start(state.ctx(), &me.actor, id).await?;
    Ok(see_other(&format!("/visits/{id}/note")))
}

/// Shows the form again with what was typed and every problem beside its field.
async fn refused(
    state: &AppState,
    me: &crate::auth::actor::SignedIn,
    note_id: NoteId,
    err: DomainError,
    values: Option<NoteInput>,
    addendum: &str,
) -> PageResult {
    let view = notes::get(state.ctx(), &me.actor, note_id).await?;
    let id = view.note.appointment_id;
    let (errors, status) = FormErrors::refusal(err, LABELS)?;
    let cx = context(state, me, id).await?;
    let typed = Typed {
        values,
        errors,
        addendum,
    };
    let page = page(me, id, cx, Some(&view), typed, &NoteParams::default());
    Ok(render(status, &page))
}

/// `POST /notes/{id}/save` (Save draft) and `POST /notes/{id}/sign` (Sign), from the same form.
pub async fn save(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    write(state, me, raw, form, false).await
}

pub async fn sign(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    write(state, me, raw, form, true).await
}

async fn write(
    state: AppState,
    me: crate::auth::actor::SignedIn,
    raw: String,
    form: FormData,
    signing: bool,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_note(&raw)?;
    let version = form.get("version").trim().parse::<i64>().unwrap_or(-1);
    let input = input_from(&form);
    let done = if signing {
        notes::sign(state.ctx(), &me.actor, id, version, Some(&input)).await
    } else {
        notes::save(state.ctx(), &me.actor, id, version, &input).await
    };
    match done {
        Ok(note) => Ok(see_other(&format!(
            "/visits/{}/note?done={}",
            note.appointment_id,
            if signing { "signed" } else { "saved" }
        ))),
        Err(err @ (DomainError::NotFound { .. } | DomainError::Storage(_))) => Err(err.into()),
        Err(err) => refused(&state, &me, id, err, Some(input), "").await,
    }
}

/// `POST /notes/{id}/addenda`: a signed addendum.
pub async fn addend(
    State(state): State<AppState>,
    PageUser(me): PageUser,
    Path(raw): Path<String>,
    form: FormData,
) -> PageResult {
    check_csrf(&me.session.csrf_token, &form)?;
    let id = parse_note(&raw)?;
    let text = form.get("text");
    match notes::addend(state.ctx(), &me.actor, id, text).await {
        Ok(_) => {
            let view = notes::get(state.ctx(), &me.actor, id).await?;
            Ok(see_other(&format!(
                "/visits/{}/note?done=addendum",
                view.note.appointment_id
            )))
        }
        Err(err @ (DomainError::NotFound { .. } | DomainError::Storage(_))) => Err(err.into()),
        Err(err) => refused(&state, &me, id, err, None, text).await,
    }
}
