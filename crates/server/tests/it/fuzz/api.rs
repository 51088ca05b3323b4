//! JSON request bodies of the API, read as `ApiJson` reads them (serde_json into the request
//! type) and turned into the domain's commands and inputs with the same conversions as the
//! handlers, each checked where the domain checks it without a store. Query strings of the API
//! (`ApiQuery`: serde_urlencoded into the parameter types) are a target of their own.
//!
//! An input is `TypeName\n` and the body; a name that is not one of ours picks a type by its
//! hash, so every input reaches some request type.

use axum::response::IntoResponse;
use domain::DomainError;
use domain::notes::NoteTemplate;
use domain::visits::QuestionnaireKind;
use serde::de::DeserializeOwned;
use server::api::*;

use super::{Mutation, Rng, Target, mutate_form, mutate_json, run};

/// What the API answers for a refusal: the status and error body must come out for any error.
fn answered(err: DomainError) {
    let _ = server::error::ApiError::from(err).into_response();
}

fn json<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Some(value),
        Err(e) => {
            // The rejection's message is built from the error as `ApiJson` builds it.
            let _ = e.to_string();
            let _ = e.classify();
            None
        }
    }
}

fn checked<T>(outcome: Result<T, DomainError>) {
    if let Err(err) = outcome {
        answered(err);
    }
}

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 12, 7)
}

fn questionnaire(q: visits::QuestionnaireRequest) {
    let input = domain::visits::QuestionnaireInput::from(q);
    for kind in [
        QuestionnaireKind::Phq9,
        QuestionnaireKind::UrgentSymptoms,
        QuestionnaireKind::ReasonOnly,
    ] {
        checked(input.check(kind));
    }
}

fn note(fields: notes::NoteFields) {
    let input = domain::notes::NoteInput::from(fields);
    for template in NoteTemplate::ALL {
        checked(input.check(*template));
    }
}

fn message(subject: Option<&str>, body: &str, files: Vec<messages::FileUpload>) {
    if let Some(subject) = subject {
        checked(domain::messaging::rules::check_subject(subject));
    }
    checked(domain::messaging::rules::check_body(
        body,
        !files.is_empty(),
    ));
    match messages::uploads(files) {
        Ok(uploads) => {
            for u in uploads {
                checked(domain::messaging::rules::check_attachment(
                    "files",
                    &u.file_name,
                    &u.bytes,
                    10_485_760,
                ));
            }
        }
        Err(err) => answered(err),
    }
}

/// A request type by name, and what reading one does.
type Entry<T> = (&'static str, fn(&T));

/// The request body types, by name: each deserializes the body and converts it.
const BODIES: &[Entry<[u8]>] = &[
    ("SiteRequest", |b| {
        let _ = json::<admin::SiteRequest>(b);
    }),
    ("UserRequest", |b| {
        let _ = json::<admin::UserRequest>(b);
    }),
    ("BookingRequest", |b| {
        if let Some(r) = json::<appointments::BookingRequest>(b) {
            checked(domain::scheduling::service::booking::BookCommand::try_from(
                r,
            ));
        }
    }),
    ("RescheduleRequest", |b| {
        if let Some(r) = json::<appointments::RescheduleRequest>(b) {
            checked(domain::scheduling::service::booking::RescheduleCommand::try_from(r));
        }
    }),
    ("CancelRequest", |b| {
        let _ = json::<appointments::CancelRequest>(b);
    }),
    ("ConfirmRequest", |b| {
        let _ = json::<appointments::ConfirmRequest>(b);
    }),
    ("CheckInRequest", |b| {
        if let Some(r) = json::<appointments::CheckInRequest>(b) {
            checked(domain::identity::values::UsState::parse(
                "patient_state",
                &r.patient_state,
            ));
            if let Some(q) = r.questionnaire {
                questionnaire(q);
            }
        }
    }),
    ("ReviewRequest", |b| {
        let _ = json::<audit::ReviewRequest>(b);
    }),
    ("VisitTypeRequest", |b| {
        if let Some(r) = json::<availability::VisitTypeRequest>(b) {
            checked(domain::scheduling::service::visit_types::VisitTypeInput::from(r).validate());
        }
    }),
    ("TemplateRequest", |b| {
        if let Some(r) = json::<availability::TemplateRequest>(b) {
            checked(domain::scheduling::availability::TemplateInput::from(r).validate());
        }
    }),
    ("EndTemplateRequest", |b| {
        let _ = json::<availability::EndTemplateRequest>(b);
    }),
    ("ExceptionRequest", |b| {
        if let Some(r) = json::<availability::ExceptionRequest>(b) {
            let input = domain::scheduling::service::availability::ExceptionInput::from(r);
            checked(domain::scheduling::ExceptionKind::parse(
                "kind",
                &input.kind,
            ));
            checked(domain::scheduling::ServiceLines::parse_list(
                "service_lines",
                &input.service_lines,
            ));
        }
    }),
    ("PublishRequest", |b| {
        let _ = json::<availability::PublishRequest>(b);
    }),
    ("ConsentTextRequest", |b| {
        let _ = json::<consent::ConsentTextRequest>(b);
    }),
    ("GiveConsentRequest", |b| {
        let _ = json::<consent::GiveConsentRequest>(b);
    }),
    ("NewThreadRequest", |b| {
        if let Some(r) = json::<messages::NewThreadRequest>(b) {
            message(Some(&r.subject), &r.body, r.files);
        }
    }),
    ("ReplyRequest", |b| {
        if let Some(r) = json::<messages::ReplyRequest>(b) {
            message(None, &r.body, r.files);
        }
    }),
    ("AssignRequest", |b| {
        let _ = json::<messages::AssignRequest>(b);
    }),
    ("SaveNoteRequest", |b| {
        if let Some(r) = json::<notes::SaveNoteRequest>(b) {
            note(r.fields);
        }
    }),
    ("SignNoteRequest", |b| {
        if let Some(r) = json::<notes::SignNoteRequest>(b)
            && let Some(fields) = r.fields
        {
            note(fields);
        }
    }),
    ("AddendumRequest", |b| {
        let _ = json::<notes::AddendumRequest>(b);
    }),
    ("PatientRequest", |b| {
        if let Some(r) = json::<patients::PatientRequest>(b) {
            checked(domain::identity::service::patients::PatientInput::from(r).validate(today()));
        }
    }),
    ("BreakGlassRequest", |b| {
        let _ = json::<patients::BreakGlassRequest>(b);
    }),
    ("StartRequest", |b| {
        let _ = json::<program::StartRequest>(b);
    }),
    ("TaskRequest", |b| {
        if let Some(r) = json::<program::TaskRequest>(b) {
            checked(domain::program::service::TaskCommand::try_from(r));
        }
    }),
    ("RiskRequest", |b| {
        if let Some(r) = json::<program::RiskRequest>(b) {
            let input = domain::program::service::RiskInput::from(r);
            checked(domain::program::check_rating(
                "likelihood",
                input.likelihood,
            ));
            checked(domain::program::check_rating("impact", input.impact));
        }
    }),
    ("StageRequest", |b| {
        let _ = json::<program::StageRequest>(b);
    }),
    ("GoalRequest", |b| {
        let _ = json::<program::GoalRequest>(b);
    }),
    ("JoinQueueRequest", |b| {
        let _ = json::<queue::JoinQueueRequest>(b);
    }),
    ("TakeRequest", |b| {
        let _ = json::<queue::TakeRequest>(b);
    }),
    ("SignInRequest", |b| {
        let _ = json::<session::SignInRequest>(b);
    }),
    ("CodeRequest", |b| {
        if let Some(r) = json::<session::CodeRequest>(b) {
            let _ = server::auth::totp::check(
                "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
                &r.code,
                jiff::Timestamp::UNIX_EPOCH,
            );
            let _ = server::auth::totp::normalise_recovery_code(&r.code);
        }
    }),
    ("CourseRequest", |b| {
        if let Some(r) = json::<training::CourseRequest>(b) {
            checked(domain::training::CourseInput::from(r).validate());
        }
    }),
    ("TestRequest", |b| {
        let _ = json::<training::TestRequest>(b);
    }),
    ("GateExceptionRequest", |b| {
        let _ = json::<training::GateExceptionRequest>(b);
    }),
    ("QuestionnaireRequest", |b| {
        if let Some(q) = json::<visits::QuestionnaireRequest>(b) {
            questionnaire(q);
        }
    }),
    ("EndVisitRequest", |b| {
        let _ = json::<visits::EndVisitRequest>(b);
    }),
    ("InviteRequest", |b| {
        let _ = json::<visits::InviteRequest>(b);
    }),
    ("EmergencyRequest", |b| {
        let _ = json::<visits::EmergencyRequest>(b);
    }),
];

fn query<T: DeserializeOwned>(q: &str) -> Option<T> {
    serde_urlencoded::from_str::<T>(q)
        .map_err(|e| e.to_string())
        .ok()
}

/// The query parameter types of the API, by name.
const QUERIES: &[Entry<str>] = &[
    ("UserListParams", |q| {
        let _ = query::<admin::UserListParams>(q);
    }),
    ("SlotSearchParams", |q| {
        if let Some(p) = query::<appointments::SlotSearchParams>(q) {
            checked(domain::scheduling::service::booking::SlotSearch::try_from(
                p,
            ));
        }
    }),
    ("AppointmentListParams", |q| {
        let _ = query::<appointments::AppointmentListParams>(q);
    }),
    ("AuditParams", |q| {
        if let Some(p) = query::<audit::AuditParams>(q) {
            checked(p.to_search());
            let zone = jiff::tz::TimeZone::get("America/New_York");
            checked(p.to_search_in(&zone.unwrap_or(jiff::tz::TimeZone::UTC)));
        }
    }),
    ("BreakGlassParams", |q| {
        let _ = query::<audit::BreakGlassParams>(q);
    }),
    ("InboxParams", |q| {
        let _ = query::<messages::InboxParams>(q);
    }),
    ("CodeSearch", |q| {
        // The code is read as the search reads one (the word search that follows is a scan of
        // the bundled list, not a parser, and is left out to keep the inputs fast).
        if let Some(p) = query::<notes::CodeSearch>(q) {
            checked(domain::notes::icd10::check_billable("q", &p.q));
        }
    }),
    ("ListParams", |q| {
        let _ = query::<patients::ListParams>(q);
    }),
    ("PlaceParams", |q| {
        let _ = query::<queue::PlaceParams>(q);
    }),
    ("WaitingRoomParams", |q| {
        let _ = query::<visits::WaitingRoomParams>(q);
    }),
    ("TokenRequest", |q| {
        if let Some(t) = query::<oauth::TokenRequest>(q)
            && let Some(scope) = t.scope
        {
            checked(domain::access::Scope::parse_list(&scope));
        }
    }),
];

/// Splits `Name\nbody` and finds the entry named (or one picked by the name's hash).
fn dispatch<'a, F>(table: &'a [(&str, F)], input: &'a [u8]) -> (&'a F, &'a [u8]) {
    let (name, body) = match input.iter().position(|b| *b == b'\n') {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (&input[..0], input),
    };
    let entry = table
        .iter()
        .find(|(n, _)| n.as_bytes() == name)
        .unwrap_or_else(|| &table[(super::fnv(name) % table.len() as u64) as usize]);
    (&entry.1, body)
}

/// Keeps the type line and mutates the body (as JSON or as a query), now and then moving the
/// body to another type.
fn mutate_typed(
    rng: &mut Rng,
    base: &[u8],
    words: &[Vec<u8>],
    names: &[&str],
    body: Mutation,
) -> Vec<u8> {
    let (name, rest) = match base.iter().position(|b| *b == b'\n') {
        Some(at) => (&base[..at], &base[at + 1..]),
        None => (&base[..0], base),
    };
    let name = if rng.chance(10) {
        rng.pick(names).as_bytes()
    } else {
        name
    };
    let mut out = name.to_vec();
    out.push(b'\n');
    out.extend(body(rng, rest, words));
    out
}

fn mutate_body(rng: &mut Rng, base: &[u8], words: &[Vec<u8>]) -> Vec<u8> {
    let names: Vec<&str> = BODIES.iter().map(|(n, _)| *n).collect();
    mutate_typed(rng, base, words, &names, mutate_json)
}

fn mutate_query(rng: &mut Rng, base: &[u8], words: &[Vec<u8>]) -> Vec<u8> {
    let names: Vec<&str> = QUERIES.iter().map(|(n, _)| *n).collect();
    mutate_typed(rng, base, words, &names, mutate_form)
}

/// Field names of every request type, from the OpenAPI document.
fn schema_words() -> Vec<String> {
    let (_, doc) = server::api::router();
    let doc = serde_json::to_value(&doc).unwrap_or_default();
    let mut words = Vec::new();
    collect_keys(&doc["components"]["schemas"], &mut words);
    let params = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(|item| item.as_object())
        .flat_map(|item| item.values())
        .filter_map(|op| op["parameters"].as_array())
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string));
    words.extend(params);
    words.extend(
        [
            "primary_care",
            "behavioral_health",
            "urgent_care",
            "video",
            "audio_only",
            "in_person",
            "leave",
            "extra_hours",
            "monday",
            "09:00",
            "milestone",
            "task",
            "done",
            "client_credentials",
            "patient:read",
            "female",
            "NY",
            "en",
            "es-US",
        ]
        .map(String::from),
    );
    words.sort();
    words.dedup();
    words
}

fn collect_keys(schemas: &serde_json::Value, out: &mut Vec<String>) {
    for schema in schemas.as_object().into_iter().flat_map(|s| s.values()) {
        if let Some(props) = schema["properties"].as_object() {
            out.extend(props.keys().cloned());
        }
    }
}

#[test]
fn fuzz_api_json_bodies_into_domain_commands() {
    let target = Target::new("api-json")
        .words(schema_words())
        .words(BODIES.iter().map(|(n, _)| *n))
        .structured(mutate_body);
    run(target, |input| {
        let (convert, body) = dispatch(BODIES, input);
        convert(body);
    });
}

#[test]
fn fuzz_api_query_strings() {
    let target = Target::new("api-query")
        .words(schema_words())
        .words(QUERIES.iter().map(|(n, _)| *n))
        .structured(mutate_query);
    run(target, |input| {
        let (convert, q) = dispatch(QUERIES, input);
        convert(&String::from_utf8_lossy(q));
    });
}
