//! The web pages' form bodies: `application/x-www-form-urlencoded` read into `FormData` as the
//! handlers read it, then every use case input a page builds from a form (patients, tasks,
//! risks, check-in questionnaires, notes, visit types, users, slot searches, the consent tick,
//! the CSRF field and the return address); and `multipart/form-data` bodies (the forms that
//! attach files), boundary and all; and the pages' query strings.

use server::web::fuzzing;

use super::{Target, mutate_form, run};

#[test]
fn fuzz_web_form_bodies_into_use_case_inputs() {
    let target = Target::new("web-form")
        .words(fuzzing::FIELD_NAMES)
        .words([
            "primary_care",
            "behavioral_health",
            "urgent_care",
            "video",
            "yes",
            "no",
            "true",
            "milestone",
            "task",
            "blocked",
            "female",
            "NY",
            "es-US",
            "/front-desk",
            "/schedule?day=2026-12-07",
            "/appointments/",
            "J06.9",
            "clinician",
            "org_admin",
        ])
        .structured(mutate_form);
    run(target, |input| {
        let _ = fuzzing::form_body(input);
    });
}

/// An input is the `Content-Type` header's value, a line break, then the body.
#[test]
fn fuzz_web_multipart_bodies() {
    let target = Target::new("web-multipart")
        .words(fuzzing::FIELD_NAMES)
        .words([
            "multipart/form-data; boundary=",
            "boundary=\"",
            "\r\n\r\n",
            "--",
            "Content-Disposition: form-data; name=\"",
            "; filename=\"",
            "Content-Type: image/png",
            "\u{89}PNG\r\n\u{1a}\n",
            "%PDF-1.4",
            "\u{ff}\u{d8}\u{ff}",
        ]);
    run(target, |input| {
        let (content_type, body) = match input.iter().position(|b| *b == b'\n') {
            Some(at) => (&input[..at], &input[at + 1..]),
            None => (&input[..0], input),
        };
        let _ = fuzzing::multipart_body(&String::from_utf8_lossy(content_type), body);
    });
}

/// A page's query string (`PageQuery`), read into every parameter type of the pages.
#[test]
fn fuzz_web_page_query_strings() {
    let target = Target::new("web-query")
        .words([
            "done",
            "back",
            "clinician",
            "leave",
            "site",
            "date",
            "patient",
            "patient_id",
            "q",
            "view",
            "by",
            "expired",
            "locked",
            "signed_out",
            "reset",
            "site_id",
            "status",
            "mine",
            "unread",
            "overdue",
            "before",
            "visit_type_id",
            "patient_state",
            "language",
            "from",
            "to",
            "reschedule",
            "slot",
            "day",
            "week",
            "month",
            "/front-desk",
        ])
        .structured(mutate_form);
    run(target, |input| {
        let _ = fuzzing::page_query(&String::from_utf8_lossy(input));
    });
}
