//! Scheduling through the web pages with plain form posts, as a browser without JavaScript does:
//! booking, "My appointments", the front desk, calendars, availability, the urgent-care queue.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use reqwest::StatusCode;
use serde_json::{Value, json};

use domain::Clock;
use domain::access::Actor;
use domain::compliance::ConsentMethod;
use domain::identity::{Patient, Role};
use domain::ids::AppointmentId;
use domain::scheduling::availability::{TemplateInput, weekday_name};
use domain::scheduling::service::booking::{self, BookCommand, SlotRef};
use domain::scheduling::service::visit_types::{self, VisitTypeInput};
use domain::scheduling::service::{availability, consent};
use domain::scheduling::{Appointment, AppointmentStatus, QueueStatus, VisitType};
use server::auth::actor::actor_for_user;

use crate::helpers::*;
use crate::on_both_backends;

/// A browser without JavaScript: a cookie jar, redirects shown rather than followed.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Page {
    /// The session's CSRF token, from the first form of the page (the sign-out button).
    pub(crate) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).map(|i| i + marker.len());
        let start = start.unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body));
        let end = self.body[start..].find('"').map_or(start, |i| i + start);
        self.body[start..end].to_string()
    }

    /// The first link whose address starts with `prefix`, unescaped.
    pub(crate) fn link(&self, prefix: &str) -> String {
        let marker = format!("href=\"{prefix}");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no link to {prefix} in:\n{}", self.body))
            + "href=\"".len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end]
            .replace("&#38;", "&")
            .replace("&amp;", "&")
    }

    pub(crate) fn assert_redirect_starts(&self, prefix: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        assert!(
            self.location.starts_with(prefix),
            "redirected to {}, expected {prefix}…",
            self.location
        );
    }

    /// Pages pass the content security policy: no inline style or script anywhere.
    pub(crate) fn assert_no_inline_code(&self) {
        let html = self.body.to_ascii_lowercase();
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains(" style=") && !html.contains("<style"));
        assert!(!html.contains(" onclick=") && !html.contains("javascript:"));
    }
}

impl Browser {
    pub(crate) async fn page(response: reqwest::Response) -> Page {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Page {
            status: response.status(),
            location,
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let page = Self::page(response).await;
        assert_ne!(page.status, 500, "GET {path}:\n{}", page.body);
        page
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let page = Self::page(response).await;
        assert_ne!(page.status, 500, "POST {path}:\n{}", page.body);
        page
    }

    /// Follows a redirect the way a browser does after a form: GET the new address.
    pub(crate) async fn follow(&self, page: &Page) -> Page {
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        self.get(&page.location).await
    }
}

/// Signs in through the JSON session endpoint (password, then the code for staff).
pub(crate) async fn browser_for(app: &TestApp, user: &TestUser) -> Browser {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(app.url("/api/v1/session"))
        .json(&json!({ "email": user.email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    if body["status"] == "mfa_required" {
        let response = client
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": app.code_now(user) }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    Browser {
        client,
        base: format!("http://{}", app.addr),
    }
}

/// A clinic with a clinician licensed in NY, a 30-minute video visit type, and weekly hours
/// (09:00 to 12:00 New York time) on the weekday three days from now.
pub(crate) struct Clinic {
    pub(crate) org: TestOrg,
    pub(crate) clinician: TestUser,
    pub(crate) admin: Actor,
    pub(crate) video: VisitType,
    pub(crate) day: Date,
    /// 09:00 on that day: the first open time.
    pub(crate) first: Timestamp,
}

pub(crate) fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").unwrap()
}

pub(crate) async fn clinic(app: &TestApp, clinician_sites: &[usize]) -> Clinic {
    let org = app.org("Clinic").await;
    let clinician = app.staff(&org, Role::Clinician, clinician_sites).await;
    let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
    let admin = actor_for_user(&admin.user, None);
    let ctx = app.state.ctx();
    let video = visit_types::create(
        ctx,
        &admin,
        &VisitTypeInput {
            name: "Video check-up".into(),
            service_line: "primary_care".into(),
            modality: "video".into(),
            patient_kind: None,
            duration_minutes: 30,
            patient_bookable: true,
            active: None,
        },
    )
    .await
    .unwrap();
    let today = app.clock.now().to_zoned(new_york()).date();
    let day = today.checked_add(3.days()).unwrap();
    availability::add_template(
        ctx,
        &actor_for_user(&clinician.user, None),
        clinician.user.id,
        &TemplateInput {
            site_id: org.sites[0].id.to_string(),
            weekday: weekday_name(day.weekday()).into(),
            start_time: "09:00".into(),
            end_time: "12:00".into(),
            slot_minutes: 30,
            buffer_minutes: 0,
            service_lines: vec!["primary_care".into(), "urgent_care".into()],
            valid_from: today.to_string(),
            valid_until: None,
        },
    )
    .await
    .unwrap();
    let first = day.at(9, 0, 0, 0).to_zoned(new_york()).unwrap().timestamp();
    Clinic {
        org,
        clinician,
        admin,
        video,
        day,
        first,
    }
}

/// Books the 09:00 visit for a patient through the domain, as their own account.
pub(crate) async fn book_first(app: &TestApp, clinic: &Clinic, patient: &TestUser) -> Appointment {
    let slot = app
        .store()
        .find_slot(clinic.org.org.id, clinic.clinician.user.id, clinic.first)
        .await
        .unwrap()
        .expect("the 09:00 slot is published");
    booking::book(
        app.state.ctx(),
        &actor_for_user(&patient.user, None),
        &BookCommand {
            consent_version: Some(1),
            ..BookCommand::new(SlotRef::Id(slot.slot.id), clinic.video.id)
        },
    )
    .await
    .unwrap()
}

/// The query pairs of a link, as form fields.
fn pairs_of(app: &TestApp, href: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&app.url(href))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_with<'a>(
    pairs: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut form: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.extend_from_slice(extra);
    form
}

fn appointment_id(location: &str) -> AppointmentId {
    let rest = location.strip_prefix("/appointments/").unwrap();
    rest.split(['?', '/']).next().unwrap().parse().unwrap()
}

async fn appointments_of(app: &TestApp, org: &TestOrg, patient: &Patient) -> Vec<Appointment> {
    let query = domain::scheduling::AppointmentQuery {
        patient_id: Some(patient.id),
        limit: 100,
        ..Default::default()
    };
    app.store()
        .list_appointments(org.org.id, &query)
        .await
        .unwrap()
}

on_both_backends!(
    a_patient_searches_books_with_consent_sees_the_visit_and_cancels_it,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let b = browser_for(&app, &account).await;

        let home = b.get("/app").await;
        assert!(home.body.contains("href=\"/book\""), "{}", home.body);
        assert!(home.body.contains("href=\"/appointments\""));

        let form = b.get("/book").await;
        assert_eq!(form.status, 200);
        form.assert_no_inline_code();
        assert!(form.body.contains("State you will be in during the visit"));
        assert!(
            form.body.contains("<option value=\"NY\" selected>"),
            "the state defaults to the patient's address"
        );
        assert!(form.body.contains("Video check-up"));
        let unchosen = b
            .get("/book?visit_type_id=&patient_state=NY&from=&to=")
            .await;
        assert_eq!(unchosen.status, 422);
        assert!(unchosen.body.contains("href=\"#f-visit_type_id\""));

        let results = b
            .get(&format!(
                "/book?visit_type_id={}&patient_state=NY&language=&from=&to=",
                clinic.video.id
            ))
            .await;
        assert_eq!(results.status, 200, "{}", results.body);
        results.assert_no_inline_code();
        assert!(results.body.contains("Test Clinician"));
        // The soonest time at the top; times on a 12-hour clock for an English-speaking patient,
        // in their own time zone, each day's as a grid.
        for expected in [
            "<p class=\"next-available-title\">Next available</p>",
            "Test Clinician at ",
            "Times are shown in your time zone (E",
            ">9:00 AM<span class=\"visually-hidden\">",
            ">11:30 AM<span class=\"visually-hidden\">",
            "<ul class=\"time-grid\">",
        ] {
            assert!(
                results.body.contains(expected),
                "{expected} in:\n{}",
                results.body
            );
        }
        // The weekly hours repeat: one row of six times (9:00 to 11:30) per week in the range.
        let rows = results.body.matches("class=\"slot-row\"").count();
        assert!(rows >= 1);
        assert_eq!(
            results.body.matches("class=\"time-link\"").count(),
            6 * rows
        );
        assert!(
            results
                .body
                .contains(&jiff::fmt::strtime::format("%A %-d %B %Y", clinic.day).unwrap())
        );
        let confirm_href = results.link("/book/confirm?");

        let confirm = b.get(&confirm_href).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        confirm.assert_no_inline_code();
        assert!(confirm.body.contains("Telehealth consent"));
        assert!(
            confirm
                .body
                .contains("name=\"consent_version\" value=\"1\"")
        );
        assert!(confirm.body.contains("I agree to receive care by video"));

        let fields = pairs_of(&app, &confirm_href);
        let csrf = confirm.csrf();
        let without_consent = b
            .post(
                "/book/confirm",
                &form_with(&fields, &[("csrf", &csrf), ("reason", "Sore knee")]),
            )
            .await;
        assert_eq!(without_consent.status, 422);
        assert!(without_consent.body.contains("Tick the box to agree"));
        assert!(without_consent.body.contains("href=\"#f-consent_version\""));
        assert!(
            without_consent.body.contains(">Sore knee</textarea>"),
            "the reason is kept"
        );
        assert!(
            appointments_of(&app, &clinic.org, &patient)
                .await
                .is_empty()
        );

        let booked = b
            .post(
                "/book/confirm",
                &form_with(
                    &fields,
                    &[
                        ("csrf", &csrf),
                        ("reason", "Sore knee"),
                        ("consent_version", "1"),
                    ],
                ),
            )
            .await;
        booked.assert_redirect_starts("/appointments/");
        assert!(booked.location.ends_with("?done=booked"));
        let id = appointment_id(&booked.location);
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Booked);
        assert_eq!(stored.patient_id, patient.id);
        assert_eq!(stored.start_at, clinic.first);
        assert_eq!(stored.reason.as_deref(), Some("Sore knee"));
        let consents = app
            .store()
            .patient_consents(clinic.org.org.id, patient.id)
            .await
            .unwrap();
        assert_eq!(consents.len(), 1);
        assert_eq!(consents[0].method, ConsentMethod::Patient);

        let page = b.follow(&booked).await;
        assert_eq!(page.status, 200);
        page.assert_no_inline_code();
        assert!(page.body.contains("The visit is booked."));
        assert!(page.body.contains("(EST)") || page.body.contains("(EDT)"));
        assert!(page.body.contains("Test Clinician"));
        assert!(
            page.body
                .contains("<th scope=\"row\" data-label=\"What\">Booked</th>")
        );
        assert!(page.body.contains("<td data-label=\"Who\">You</td>"));
        assert!(page.body.contains("Choose a new time"));
        assert!(
            !page.body.contains("late cancellation"),
            "three days ahead is not late"
        );

        let mine = b.get("/appointments").await;
        assert_eq!(mine.status, 200);
        mine.assert_no_inline_code();
        let upcoming = &mine.body[..mine.body.find("Past and cancelled").unwrap()];
        assert!(upcoming.contains(&format!("/appointments/{id}")));
        assert!(upcoming.contains("Booked"));

        let cancelled = b
            .post(
                &format!("/appointments/{id}/cancel"),
                &[("csrf", &csrf), ("reason", "Feeling better"), ("back", "")],
            )
            .await;
        assert_eq!(
            cancelled.location,
            format!("/appointments/{id}?done=cancelled")
        );
        let page = b.follow(&cancelled).await;
        assert!(page.body.contains("The visit is cancelled."));
        assert!(page.body.contains("Feeling better"));
        assert!(!page.body.contains("Late cancellation"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Cancelled);
        assert!(!stored.late_cancellation);
        let mine = b.get("/appointments").await;
        let past = &mine.body[mine.body.find("Past and cancelled").unwrap()..];
        assert!(past.contains(&format!("/appointments/{id}")));
        assert!(past.contains("Cancelled"));
    }
);

on_both_backends!(
    a_slot_taken_meanwhile_sends_the_patient_back_to_pick_another_time,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let (_, rival) = app.patient_account(&clinic.org).await;
        let b = browser_for(&app, &account).await;
        let results = b
            .get(&format!(
                "/book?visit_type_id={}&patient_state=NY",
                clinic.video.id
            ))
            .await;
        let confirm_href = results.link("/book/confirm?");
        let confirm = b.get(&confirm_href).await;
        assert_eq!(confirm.status, 200);

        // Someone else books the same time while the patient reads the consent.
        let theirs = book_first(&app, &clinic, &rival).await;

        let fields = pairs_of(&app, &confirm_href);
        let csrf = confirm.csrf();
        let late = b
            .post(
                "/book/confirm",
                &form_with(&fields, &[("csrf", &csrf), ("consent_version", "1")]),
            )
            .await;
        assert_eq!(late.status, 409, "{}", late.body);
        late.assert_no_inline_code();
        assert!(late.body.contains("That time is no longer available"));
        assert!(late.body.contains("has just been booked by someone else"));
        let again = late.link("/book?");
        assert!(again.contains(&format!("visit_type_id={}", clinic.video.id)));
        assert!(
            appointments_of(&app, &clinic.org, &patient)
                .await
                .is_empty()
        );
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, theirs.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Booked);

        // The link of the taken time now says so too, and the search offers the next one.
        let reopened = b.get(&confirm_href).await;
        assert_eq!(reopened.status, 409);
        assert!(reopened.body.contains("no longer available"));
        let results = b.get(&again).await;
        assert_eq!(results.status, 200);
        assert!(results.body.contains(">9:30 AM<"), "{}", results.body);
    }
);

on_both_backends!(
    a_patient_moves_their_visit_checks_in_when_it_opens_and_a_late_cancel_is_named,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let b = browser_for(&app, &account).await;
        let page = b.get(&format!("/appointments/{}", visit.id)).await;
        let move_href = page.link("/book?reschedule=");
        let search = b.get(&move_href).await;
        assert_eq!(search.status, 200, "{}", search.body);
        assert!(search.body.contains("Choose a new time"));
        assert!(search.body.contains("The visit is now on"));
        assert!(
            search.body.contains("Video check-up"),
            "the type of visit stays"
        );
        let confirm_href = search.link("/book/confirm?");
        let confirm = b.get(&confirm_href).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(confirm.body.contains("Move the visit to this time?"));
        assert!(confirm.body.contains("Instead of"));
        assert!(
            !confirm.body.contains("name=\"consent_version\""),
            "consent was given when booking"
        );
        let action = format!("/appointments/{}/reschedule", visit.id);
        assert!(confirm.body.contains(&format!("action=\"{action}\"")));
        let fields = pairs_of(&app, &confirm_href);
        let moved = b
            .post(&action, &form_with(&fields, &[("csrf", &confirm.csrf())]))
            .await;
        assert_eq!(
            moved.location,
            format!("/appointments/{}?done=rescheduled", visit.id)
        );
        let page = b.follow(&moved).await;
        assert!(page.body.contains("The visit has moved to its new time."));
        assert!(page.body.contains(">Rescheduled</th>"));
        let local = |at: Timestamp| {
            at.to_zoned(new_york())
                .strftime("%a %-d %b, %H:%M (%Z)")
                .to_string()
        };
        let note = format!(
            "from {} to {}",
            local(clinic.first),
            local(clinic.first + SignedDuration::from_mins(30))
        );
        assert!(
            page.body.contains(&note),
            "the note reads in local time: {note}"
        );
        let new_start = clinic.first + SignedDuration::from_mins(30);
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.start_at, new_start);
        assert_eq!(stored.status, AppointmentStatus::Booked);
        assert!(page.body.contains("Check-in opens at"));
        assert!(!page.body.contains("/check-in\""));

        // Twenty minutes before the visit: check-in is open, and cancelling now would be late.
        let now = app.clock.now();
        app.clock
            .advance(new_start.duration_since(now) - SignedDuration::from_mins(20));
        let b = browser_for(&app, &account).await;
        let page = b.get(&format!("/appointments/{}", visit.id)).await;
        // A video visit is checked in on its own page (where, consent, questionnaire, devices).
        assert!(
            page.body
                .contains(&format!("href=\"/visits/{}/check-in\"", visit.id))
        );
        let form = b.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert!(form.body.contains("State you are in right now"));
        assert!(page.body.contains("recorded as a late cancellation"));
        let checked_in = b
            .post(
                &format!("/appointments/{}/check-in", visit.id),
                &[("csrf", &page.csrf()), ("patient_state", "NY")],
            )
            .await;
        let page = b.follow(&checked_in).await;
        assert!(page.body.contains("Checked in."));
        assert!(page.body.contains("badge-ok\">Checked in</span>"));
        let cancelled = b
            .post(
                &format!("/appointments/{}/cancel", visit.id),
                &[("csrf", &page.csrf()), ("reason", "Called away")],
            )
            .await;
        let page = b.follow(&cancelled).await;
        assert!(page.body.contains("Late cancellation"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Cancelled);
        assert!(stored.late_cancellation);
        let mine = b.get("/appointments").await;
        assert!(mine.body.contains("Late cancellation"));
    }
);

on_both_backends!(
    the_front_desk_sees_the_day_at_its_site_books_for_a_patient_and_checks_one_in,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let walk_in = app.patient_record(&clinic.org, 0).await;
        let visit = book_first(&app, &clinic, &account).await;
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let b = browser_for(&app, &desk).await;
        let site = clinic.org.sites[0].id;

        // Booking for a patient starts on their record.
        let record = b.get(&format!("/patients/{}", walk_in.id)).await;
        let book_href = record.link("/book?patient=");
        assert_eq!(book_href, format!("/book?patient={}", walk_in.id));
        let results = b
            .get(&format!(
                "/book?patient={}&visit_type_id={}&patient_state=NY",
                walk_in.id, clinic.video.id
            ))
            .await;
        assert_eq!(results.status, 200, "{}", results.body);
        assert!(results.body.contains("Book a visit for Ada Lovelace"));
        let confirm_href = results.link("/book/confirm?");
        let confirm = b.get(&confirm_href).await;
        assert!(confirm.body.contains("recorded in your name"));
        assert!(confirm.body.contains(&walk_in.mrn));
        let fields = pairs_of(&app, &confirm_href);
        let csrf = confirm.csrf();
        let booked = b
            .post(
                "/book/confirm",
                &form_with(&fields, &[("csrf", &csrf), ("consent_version", "1")]),
            )
            .await;
        booked.assert_redirect_starts("/appointments/");
        let consents = app
            .store()
            .patient_consents(clinic.org.org.id, walk_in.id)
            .await
            .unwrap();
        assert_eq!(consents[0].method, ConsentMethod::RecordedByStaff);
        assert_eq!(appointments_of(&app, &clinic.org, &walk_in).await.len(), 1);

        // Ten minutes before the first visit, the desk opens the day (a new session: days passed).
        let now = app.clock.now();
        app.clock
            .advance(clinic.first.duration_since(now) - SignedDuration::from_mins(10));
        let b = browser_for(&app, &desk).await;
        let day = b
            .get(&format!("/front-desk?site={site}&date={}", clinic.day))
            .await;
        assert_eq!(day.status, 200, "{}", day.body);
        day.assert_no_inline_code();
        assert!(day.body.contains("Lovelace, Ada"));
        assert!(day.body.contains(&patient.mrn));
        assert!(day.body.contains(&walk_in.mrn));
        assert!(day.body.contains("Test Clinician"));
        assert!(day.body.contains("Video check-up"));
        assert!(day.body.contains("2 visits"));
        let check_in = format!("/appointments/{}/check-in", visit.id);
        assert!(day.body.contains(&format!("action=\"{check_in}\"")));
        let back = format!("/front-desk?site={site}&date={}", clinic.day);
        let done = b
            .post(
                &check_in,
                &[
                    ("csrf", &day.csrf()),
                    ("patient_state", "NY"),
                    ("back", &back),
                ],
            )
            .await;
        assert_eq!(done.location, format!("{back}&done=checked_in"));
        let after = b.follow(&done).await;
        assert!(after.body.contains("Checked in."));
        assert!(after.body.contains("1 checked in and waiting"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::CheckedIn);

        // Another site's day is not theirs.
        let other = b
            .get(&format!("/front-desk?site={}", clinic.org.sites[1].id))
            .await;
        assert_eq!(other.status, 403);
        assert!(!other.body.contains("Lovelace"));
    }
);

on_both_backends!(
    the_front_desk_marks_a_no_show_once_the_visit_has_started,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let b = browser_for(&app, &desk).await;
        let path = format!(
            "/front-desk?site={}&date={}",
            clinic.org.sites[0].id, clinic.day
        );
        let before = b.get(&path).await;
        assert!(!before.body.contains("/no-show\""), "not before the start");
        let now = app.clock.now();
        app.clock
            .advance(clinic.first.duration_since(now) + SignedDuration::from_mins(5));
        let b = browser_for(&app, &desk).await;
        let during = b.get(&path).await;
        let action = format!("/appointments/{}/no-show", visit.id);
        assert!(during.body.contains(&format!("action=\"{action}\"")));
        let done = b
            .post(&action, &[("csrf", &during.csrf()), ("back", &path)])
            .await;
        let after = b.follow(&done).await;
        assert!(after.body.contains("Marked as a no-show."));
        assert!(after.body.contains("No-show"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::NoShow);
    }
);

on_both_backends!(
    the_clinicians_day_and_week_calendars_show_the_visit_and_open_times,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let b = browser_for(&app, &clinic.clinician).await;
        let home = b.get("/app").await;
        assert!(home.body.contains("href=\"/schedule\""));
        assert!(home.body.contains("href=\"/queue\""));

        let day = b
            .get(&format!("/schedule?view=day&date={}", clinic.day))
            .await;
        assert_eq!(day.status, 200, "{}", day.body);
        day.assert_no_inline_code();
        assert!(day.body.contains("My schedule"));
        assert!(day.body.contains("Lovelace, Ada"));
        assert!(
            day.body
                .contains(&format!("/appointments/{}?back=", visit.id))
        );
        assert!(day.body.contains("09:00–09:30"));
        assert_eq!(day.body.matches("Open time").count(), 5, "09:30 to 11:30");
        assert!(day.body.contains("href=\"/schedule/availability\""));
        assert!(day.body.contains(">Day</a>"));
        assert!(day.body.contains("aria-current=\"page\">Day<"));

        let week = b
            .get(&format!("/schedule?view=week&date={}", clinic.day))
            .await;
        assert_eq!(week.status, 200);
        assert!(week.body.contains("Lovelace, Ada"));
        assert_eq!(
            week.body.matches("<section class=\"calendar-day").count(),
            7
        );
        assert!(week.body.contains("aria-current=\"page\">Week<"));
        assert!(week.body.contains("Next week"));

        // The visit opens from the calendar with the way back to it.
        let open = b
            .get(&day.link(&format!("/appointments/{}", visit.id)))
            .await;
        assert_eq!(open.status, 200);
        assert!(open.body.contains("Back to the schedule"));
        assert!(open.body.contains("Ada Lovelace"));

        // A private calendar link, shown once; the feed it opens lists the visit, without the patient.
        assert!(week.body.contains("action=\"/schedule/calendar-feed\""));
        let made = b
            .post("/schedule/calendar-feed", &[("csrf", &week.csrf())])
            .await;
        assert_eq!(made.status, 200, "{}", made.body);
        let start = made.body.find("/calendar/").expect("the link is shown");
        let end = start + made.body[start..].find(".ics").expect("an .ics link") + 4;
        let feed = b.get(&made.body[start..end]).await;
        assert_eq!(feed.status, 200);
        assert!(feed.body.starts_with("BEGIN:VCALENDAR"));
        assert_eq!(feed.body.matches("BEGIN:VEVENT").count(), 1);
        assert!(!feed.body.contains("Lovelace"));
        let refused = b
            .post("/schedule/calendar-feed", &[("csrf", "wrong")])
            .await;
        assert_eq!(refused.status, 403);
    }
);

on_both_backends!(
    a_clinician_adds_weekly_hours_and_is_told_when_hours_overlap_at_another_site,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let clinician = app.staff(&org, Role::Clinician, &[0, 1]).await;
        let b = browser_for(&app, &clinician).await;
        let page = b.get("/schedule/availability").await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_no_inline_code();
        assert!(page.body.contains("My availability"));
        assert!(page.body.contains("No weekly hours yet"));
        let csrf = page.csrf();
        let me = clinician.user.id.to_string();
        let today = app.clock.now().to_zoned(new_york()).date().to_string();
        let north = org.sites[0].id.to_string();
        let west = org.sites[1].id.to_string();
        let form = |site: &str, start: &str, end: &str| -> Vec<(String, String)> {
            [
                ("csrf", csrf.as_str()),
                ("clinician", me.as_str()),
                ("site_id", site),
                ("weekday", "monday"),
                ("start_time", start),
                ("end_time", end),
                ("slot_minutes", "30"),
                ("buffer_minutes", "0"),
                ("service_lines", "primary_care"),
                ("valid_from", today.as_str()),
                ("valid_until", ""),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };

        let added = b
            .post(
                "/schedule/availability/hours",
                &form_with(&form(&north, "09:00", "12:00"), &[]),
            )
            .await;
        added.assert_redirect_starts("/schedule/availability?clinician=");
        let page = b.follow(&added).await;
        assert!(page.body.contains("Weekly hours added."));
        assert!(page.body.contains("Monday"));
        assert!(page.body.contains("09:00–12:00"));
        assert!(page.body.contains("Clinic North Clinic"));

        let overlap = b
            .post(
                "/schedule/availability/hours",
                &form_with(&form(&west, "11:00", "13:00"), &[]),
            )
            .await;
        assert_eq!(overlap.status, 409, "{}", overlap.body);
        overlap.assert_no_inline_code();
        assert!(overlap.body.contains("There is a problem"));
        assert!(
            overlap
                .body
                .contains("overlap the hours at Clinic North Clinic")
        );
        assert!(overlap.body.contains("two places at once"));
        assert!(
            overlap.body.contains("value=\"11:00\""),
            "what was entered is kept"
        );
        let templates = app
            .store()
            .list_templates(org.org.id, Some(clinician.user.id))
            .await
            .unwrap();
        assert_eq!(templates.len(), 1);

        let mut missing = form(&west, "", "13:00");
        missing.retain(|(k, _)| k != "service_lines");
        let invalid = b
            .post("/schedule/availability/hours", &form_with(&missing, &[]))
            .await;
        assert_eq!(invalid.status, 422);
        assert!(invalid.body.contains("href=\"#f-start_time\""));

        // Later hours the same day at the other clinic are fine.
        let afternoon = b
            .post(
                "/schedule/availability/hours",
                &form_with(&form(&west, "13:00", "17:00"), &[]),
            )
            .await;
        afternoon.assert_redirect_starts("/schedule/availability");

        // Weekly hours end after a last day.
        let page = b.follow(&afternoon).await;
        let end = page
            .body
            .split("action=\"/schedule/availability/hours/")
            .nth(1)
            .unwrap();
        let end = format!(
            "/schedule/availability/hours/{}",
            &end[..end.find('"').unwrap()]
        );
        let last_day = app
            .clock
            .now()
            .to_zoned(new_york())
            .date()
            .checked_add(30.days())
            .unwrap();
        let ended = b
            .post(
                &end,
                &[
                    ("csrf", csrf.as_str()),
                    ("clinician", me.as_str()),
                    ("last_day", last_day.to_string().as_str()),
                ],
            )
            .await;
        let page = b.follow(&ended).await;
        assert!(page.body.contains("Weekly hours ended."));
        assert!(page.body.contains(&format!("to {last_day}")));
        let templates = app
            .store()
            .list_templates(org.org.id, Some(clinician.user.id))
            .await
            .unwrap();
        assert_eq!(
            templates
                .iter()
                .filter(|t| t.valid_until == Some(last_day))
                .count(),
            1
        );
    }
);

on_both_backends!(
    leave_lists_the_booked_visits_it_falls_on,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let b = browser_for(&app, &desk).await;
        let clinician = clinic.clinician.user.id.to_string();
        let picker = b.get("/schedule/availability").await;
        assert!(picker.body.contains("Choose a clinician"));
        let page = b
            .get(&format!("/schedule/availability?clinician={clinician}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Availability of Test Clinician"));
        let start = format!("{}T00:00", clinic.day);
        let end = format!("{}T23:59", clinic.day);
        let added = b
            .post(
                "/schedule/availability/exceptions",
                &[
                    ("csrf", page.csrf().as_str()),
                    ("clinician", clinician.as_str()),
                    ("kind", "leave"),
                    ("start", start.as_str()),
                    ("end", end.as_str()),
                    ("reason", "Conference"),
                ],
            )
            .await;
        added.assert_redirect_starts("/schedule/availability?clinician=");
        let after = b.follow(&added).await;
        assert!(after.body.contains("Leave added."));
        assert!(after.body.contains("Booked visits during the leave"));
        assert!(after.body.contains(&format!("/appointments/{}", visit.id)));
        assert!(after.body.contains("Lovelace, Ada"));
        assert!(after.body.contains("Conference"));

        // The desk cancels the visit on behalf of the clinic.
        let visit_page = b
            .get(&after.link(&format!("/appointments/{}", visit.id)))
            .await;
        assert!(visit_page.body.contains("Who is cancelling?"));
        let cancelled = b
            .post(
                &format!("/appointments/{}/cancel", visit.id),
                &[
                    ("csrf", visit_page.csrf().as_str()),
                    ("cancelled_by", "clinic"),
                    ("reason", "Clinician on leave"),
                ],
            )
            .await;
        let page = b.follow(&cancelled).await;
        assert!(page.body.contains("by the clinic: Clinician on leave"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Cancelled);
        assert!(!stored.late_cancellation);
    }
);

on_both_backends!(
    staff_propose_a_time_and_the_patient_confirms_it,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let b = browser_for(&app, &desk).await;
        let results = b
            .get(&format!(
                "/book?patient={}&visit_type_id={}&patient_state=NY",
                patient.id, clinic.video.id
            ))
            .await;
        let confirm_href = results.link("/book/confirm?");
        let confirm = b.get(&confirm_href).await;
        assert!(confirm.body.contains("Propose this time"));
        let fields = pairs_of(&app, &confirm_href);
        // A virtual visit needs consent even to be proposed; the patient agrees on the phone.
        let proposed = b
            .post(
                "/book/confirm",
                &form_with(
                    &fields,
                    &[
                        ("csrf", &confirm.csrf()),
                        ("propose", "true"),
                        ("consent_version", "1"),
                    ],
                ),
            )
            .await;
        assert!(
            proposed.location.ends_with("?done=proposed"),
            "{}: {}",
            proposed.status,
            proposed.body
        );
        let id = appointment_id(&proposed.location);
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Proposed);

        // The consent text changes before the patient confirms: they agree to the new version.
        consent::publish(
            app.state.ctx(),
            &clinic.admin,
            "Version two of the telehealth consent: video visits have limits; call 911 in an emergency.",
        )
        .await
        .unwrap();
        let p = browser_for(&app, &account).await;
        let page = p.get(&format!("/appointments/{id}")).await;
        assert!(page.body.contains("Confirm this time"));
        assert!(page.body.contains("name=\"consent_version\" value=\"2\""));
        let action = format!("/appointments/{id}/confirm");
        let refused = p.post(&action, &[("csrf", &page.csrf())]).await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("Tick the box to agree"));
        let confirmed = p
            .post(&action, &[("csrf", &page.csrf()), ("consent_version", "2")])
            .await;
        let page = p.follow(&confirmed).await;
        assert!(page.body.contains("The visit is confirmed."));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Booked);
    }
);

on_both_backends!(
    a_patient_waits_in_the_urgent_care_queue_and_a_clinician_takes_them,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        visit_types::create(
            app.state.ctx(),
            &clinic.admin,
            &VisitTypeInput {
                name: "Urgent care now".into(),
                service_line: "urgent_care".into(),
                modality: "video".into(),
                patient_kind: None,
                duration_minutes: 15,
                patient_bookable: false,
                active: None,
            },
        )
        .await
        .unwrap();
        let (patient, account) = app.patient_account(&clinic.org).await;
        let b = browser_for(&app, &account).await;
        let form = b.get("/urgent-care").await;
        assert_eq!(form.status, 200, "{}", form.body);
        form.assert_no_inline_code();
        assert!(form.body.contains("Join the queue"));
        assert!(form.body.contains("name=\"consent_version\""));
        assert!(!form.body.contains("http-equiv=\"refresh\""));
        let csrf = form.csrf();

        let refused = b
            .post(
                "/urgent-care",
                &[
                    ("csrf", &csrf),
                    ("patient_state", "NY"),
                    ("reason", "Fever"),
                ],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("Tick the box to agree"));

        let joined = b
            .post(
                "/urgent-care",
                &[
                    ("csrf", &csrf),
                    ("patient_state", "NY"),
                    ("reason", "Fever"),
                    ("consent_version", "1"),
                ],
            )
            .await;
        assert_eq!(joined.location, "/urgent-care");
        let waiting = b.follow(&joined).await;
        assert_eq!(waiting.status, 200);
        waiting.assert_no_inline_code();
        // No reload under the patient's hands: a script keeps the page current, a button without.
        assert!(!waiting.body.contains("http-equiv=\"refresh\""));
        assert!(
            waiting
                .body
                .contains("<script type=\"module\" src=\"/assets/live/urgent-care.js\"></script>")
        );
        assert!(
            waiting
                .body
                .contains("<a class=\"button button-quiet\" href=\"/urgent-care\">Check again</a>")
        );
        assert!(waiting.body.contains("id=\"queue-live\""));
        let script = b.get("/assets/live/urgent-care.js").await;
        assert_eq!(script.status, 200);
        assert!(script.body.contains("queue-live"));
        assert!(waiting.body.contains("Your place: <strong>1</strong>"));
        assert!(waiting.body.contains("You are next."));
        assert!(waiting.body.contains("Leave the queue"));
        assert!(!waiting.body.contains("Join the queue"));

        let doctor = browser_for(&app, &clinic.clinician).await;
        let queue = doctor.get("/queue").await;
        assert_eq!(queue.status, 200, "{}", queue.body);
        queue.assert_no_inline_code();
        assert!(queue.body.contains("1 waiting."));
        assert!(queue.body.contains("Fever"));
        let taken = doctor.post("/queue/take", &[("csrf", &queue.csrf())]).await;
        taken.assert_redirect_starts("/appointments/");
        assert!(taken.location.ends_with("?done=taken"));
        let id = appointment_id(&taken.location);
        let visit = doctor.follow(&taken).await;
        assert!(visit.body.contains("You took this patient from the queue."));
        assert!(visit.body.contains("Start the visit"));
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.patient_id, patient.id);
        assert_eq!(stored.status, AppointmentStatus::CheckedIn);
        let entry = app
            .store()
            .latest_queue_entry(clinic.org.org.id, patient.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, QueueStatus::Taken);

        let ready = b.get("/urgent-care").await;
        assert!(ready.body.contains("A clinician is ready for you"));
        assert!(ready.body.contains(&format!("href=\"/appointments/{id}\"")));
        assert!(!ready.body.contains("http-equiv=\"refresh\""));

        let empty = doctor.post("/queue/take", &[("csrf", &queue.csrf())]).await;
        assert_eq!(empty.location, "/queue?done=empty");

        // Another patient joins and leaves again.
        let (other, other_account) = app.patient_account(&clinic.org).await;
        consent::give(
            app.state.ctx(),
            &actor_for_user(&other_account.user, None),
            other.id,
            1,
        )
        .await
        .unwrap();
        let c = browser_for(&app, &other_account).await;
        let form = c.get("/urgent-care").await;
        assert!(
            !form.body.contains("name=\"consent_version\""),
            "already agreed"
        );
        let csrf = form.csrf();
        let waiting = c
            .follow(
                &c.post("/urgent-care", &[("csrf", &csrf), ("patient_state", "NY")])
                    .await,
            )
            .await;
        let entry = waiting
            .body
            .split("name=\"entry\" value=\"")
            .nth(1)
            .unwrap();
        let entry = &entry[..entry.find('"').unwrap()];
        // The clinician still has the first patient's visit now: taking the next one is refused
        // on the queue page, with the reason and the way to their day, and the patient stays in
        // line for someone else.
        let busy = doctor.post("/queue/take", &[("csrf", &queue.csrf())]).await;
        assert_eq!(busy.status, 409, "{}", busy.body);
        assert!(
            busy.body.contains("No patient was given to you"),
            "{}",
            busy.body
        );
        assert!(busy.body.contains("You already have a visit at this time"));
        assert!(busy.body.contains("href=\"/schedule\""));
        assert!(busy.body.contains("Take next patient"));
        assert!(busy.body.contains("1 waiting."));
        let still = app
            .store()
            .latest_queue_entry(clinic.org.org.id, other.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(still.status, QueueStatus::Waiting);
        let left = c
            .post("/urgent-care/leave", &[("csrf", &csrf), ("entry", entry)])
            .await;
        assert_eq!(left.location, "/urgent-care?done=left");
        let after = c.follow(&left).await;
        assert!(after.body.contains("You left the queue."));
        assert!(after.body.contains("Join the queue"));
        let entry = app
            .store()
            .latest_queue_entry(clinic.org.org.id, other.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, QueueStatus::Left);
    }
);

on_both_backends!(
    an_organization_administrator_manages_visit_types_and_publishes_consent,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let b = browser_for(&app, &admin).await;
        let list = b.get("/admin/visit-types").await;
        assert_eq!(list.status, 200, "{}", list.body);
        list.assert_no_inline_code();
        assert!(list.body.contains("No visit types yet"));
        let csrf = list.csrf();
        let fields = [
            ("csrf", csrf.as_str()),
            ("name", "Phone follow-up"),
            ("service_line", "chronic_care_follow_up"),
            ("modality", "audio_only"),
            ("patient_kind", "follow_up"),
            ("duration_minutes", "15"),
            ("patient_bookable", "true"),
        ];
        let mut bad = fields.to_vec();
        bad[5] = ("duration_minutes", "17");
        let refused = b.post("/admin/visit-types", &bad).await;
        assert_eq!(refused.status, 422);
        assert!(refused.body.contains("href=\"#f-duration_minutes\""));
        let created = b.post("/admin/visit-types", &fields).await;
        assert_eq!(created.location, "/admin/visit-types?done=created");
        let list = b.follow(&created).await;
        assert!(list.body.contains("Phone follow-up"));
        assert!(list.body.contains("Offered"));
        let edit = list.link("/admin/visit-types/");
        let form = b.get(&edit).await;
        assert!(form.body.contains("value=\"Phone follow-up\""));
        let retired = b
            .post(
                &edit,
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "Phone follow-up"),
                    ("service_line", "chronic_care_follow_up"),
                    ("modality", "audio_only"),
                    ("patient_kind", "follow_up"),
                    ("duration_minutes", "15"),
                    ("patient_bookable", "true"),
                ],
            )
            .await;
        assert_eq!(retired.location, "/admin/visit-types?done=saved");
        let stored = app.store().list_visit_types(org.org.id).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].active, "an unticked box retires it");

        let consent = b.get("/admin/consent").await;
        assert_eq!(consent.status, 200);
        assert!(consent.body.contains("version 1"));
        let short = b
            .post("/admin/consent", &[("csrf", &csrf), ("text", "Too short.")])
            .await;
        assert_eq!(short.status, 422);
        let text = "Version two of our telehealth consent: video visits have limits, call 911 in an emergency.";
        let published = b
            .post("/admin/consent", &[("csrf", &csrf), ("text", text)])
            .await;
        assert_eq!(published.location, "/admin/consent?done=published");
        let page = b.follow(&published).await;
        assert!(page.body.contains("version 2"));
        let doc = app
            .store()
            .consent_document(org.org.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc.version, 2);
        assert_eq!(doc.text, text);
    }
);

on_both_backends!(
    scheduling_forms_without_the_csrf_token_are_refused,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let b = browser_for(&app, &account).await;
        let results = b
            .get(&format!(
                "/book?visit_type_id={}&patient_state=NY",
                clinic.video.id
            ))
            .await;
        let confirm_href = results.link("/book/confirm?");
        let fields = pairs_of(&app, &confirm_href);
        let no_token = b
            .post(
                "/book/confirm",
                &form_with(&fields, &[("consent_version", "1")]),
            )
            .await;
        assert_eq!(no_token.status, 403);
        assert!(no_token.body.contains("The form has expired"));
        let wrong = b
            .post(
                "/book/confirm",
                &form_with(&fields, &[("consent_version", "1"), ("csrf", "forged")]),
            )
            .await;
        assert_eq!(wrong.status, 403);
        assert!(
            appointments_of(&app, &clinic.org, &patient)
                .await
                .is_empty()
        );

        let visit = book_first(&app, &clinic, &account).await;
        let cancel = b
            .post(
                &format!("/appointments/{}/cancel", visit.id),
                &[("reason", "x")],
            )
            .await;
        assert_eq!(cancel.status, 403);
        assert_eq!(
            b.post("/urgent-care", &[("patient_state", "NY")])
                .await
                .status,
            403
        );
        let stored = app
            .store()
            .get_appointment(clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, AppointmentStatus::Booked);

        let doctor = browser_for(&app, &clinic.clinician).await;
        assert_eq!(doctor.post("/queue/take", &[]).await.status, 403);
        let hours = doctor
            .post(
                "/schedule/availability/hours",
                &[
                    ("clinician", clinic.clinician.user.id.to_string().as_str()),
                    ("site_id", clinic.org.sites[0].id.to_string().as_str()),
                    ("weekday", "sunday"),
                    ("start_time", "08:00"),
                    ("end_time", "09:00"),
                    ("slot_minutes", "30"),
                    ("buffer_minutes", "0"),
                    ("service_lines", "primary_care"),
                ],
            )
            .await;
        assert_eq!(hours.status, 403);
        let templates = app
            .store()
            .list_templates(clinic.org.org.id, Some(clinic.clinician.user.id))
            .await
            .unwrap();
        assert_eq!(templates.len(), 1);
    }
);

on_both_backends!(
    patients_see_only_their_own_appointments_and_no_staff_pages,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, owner) = app.patient_account(&clinic.org).await;
        let (_, other) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &owner).await;
        let b = browser_for(&app, &other).await;
        let theirs = b.get(&format!("/appointments/{}", visit.id)).await;
        assert_eq!(theirs.status, 404);
        let mine = b.get("/appointments").await;
        assert!(!mine.body.contains(&visit.id.to_string()));
        for path in ["/front-desk", "/schedule", "/queue", "/admin/visit-types"] {
            let page = b.get(path).await;
            assert!(
                page.status == 403 || page.status == 404,
                "{path}: {}",
                page.status
            );
        }
    }
);
