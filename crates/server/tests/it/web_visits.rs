//! Video visits through the web pages with plain form posts, as a browser without JavaScript
//! does: check-in, the waiting room on both sides, guests' one-time links, cancellation, the
//! record, alerts. (The call itself, in a real browser, is the e2e suite's: `e2e/`.)

use jiff::SignedDuration;
use reqwest::StatusCode;

use domain::Clock;
use domain::identity::Role;
use domain::scheduling::Appointment;
use domain::visits::VisitState;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::{Browser, Clinic, book_first, browser_for, clinic};

/// Books the 09:00 visit and moves the clock to 20 minutes before it (check-in is open).
async fn booked_and_open(app: &TestApp) -> (Clinic, TestUser, Appointment) {
    let clinic = clinic(app, &[0]).await;
    let (_, account) = app.patient_account(&clinic.org).await;
    let visit = book_first(app, &clinic, &account).await;
    let now = app.clock.now();
    app.clock
        .advance(clinic.first.duration_since(now) - SignedDuration::from_mins(20));
    (clinic, account, visit)
}

/// Checks the patient in through the check-in page.
async fn check_in(b: &Browser, visit: &Appointment) {
    let path = format!("/visits/{}/check-in", visit.id);
    let form = b.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = b
        .post(
            &path,
            &[
                ("csrf", &form.csrf()),
                ("patient_state", "NY"),
                ("location", "home, 12 Elm Street, Albany"),
                ("notes", "knee still sore"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, format!("/visits/{}", visit.id));
}

async fn stored_state(app: &TestApp, clinic: &Clinic, visit: &Appointment) -> VisitState {
    app.store()
        .get_visit(clinic.org.org.id, visit.id)
        .await
        .unwrap()
        .expect("the visit is open")
        .state
}

on_both_backends!(
    a_patient_checks_in_waits_without_asking_to_join_and_the_clinician_admits_from_the_waiting_room,
    |app: TestApp| async move {
        let (clinic, account, visit) = booked_and_open(&app).await;
        let b = browser_for(&app, &account).await;

        let form = b.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert_eq!(form.status, 200, "{}", form.body);
        form.assert_no_inline_code();
        assert!(form.body.contains("Where exactly are you?"));
        assert!(form.body.contains("this is where help is sent"));
        assert!(
            form.body
                .contains("Check your camera, microphone and connection")
        );
        assert!(
            form.body
                .contains(r#"<script type="module" src="/assets/live/device-check.js">"#)
        );
        // Without a location, nothing is checked in and the field says why.
        let refused = b
            .post(
                &format!("/visits/{}/check-in", visit.id),
                &[("csrf", &form.csrf()), ("patient_state", "NY")],
            )
            .await;
        assert_eq!(refused.status, 422);
        assert!(
            refused.body.contains("href=\"#f-location\""),
            "{}",
            refused.body
        );
        check_in(&b, &visit).await;
        assert_eq!(
            stored_state(&app, &clinic, &visit).await,
            VisitState::Waiting
        );

        let waiting = b.get(&format!("/visits/{}", visit.id)).await;
        assert_eq!(waiting.status, 200, "{}", waiting.body);
        waiting.assert_no_inline_code();
        assert!(
            waiting
                .body
                .contains("You are checked in. The clinician will let you in")
        );
        assert!(waiting.body.contains("Estimated wait"));
        assert!(
            waiting
                .body
                .contains("<noscript><meta http-equiv=\"refresh\" content=\"10\"></noscript>")
        );
        assert!(!waiting.body.to_lowercase().contains("ask to join"));
        assert!(
            waiting
                .body
                .contains(r#"<script type="module" src="/assets/live/visit.js">"#)
        );
        // The portal leads back to the visit.
        let home = b.get("/app").await;
        assert!(home.body.contains("Return to your visit"), "{}", home.body);
        assert!(
            home.body
                .contains(&format!("href=\"/visits/{}\"", visit.id))
        );
        // Checking in again leads to the waiting room.
        let again = b.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert_eq!(again.location, format!("/visits/{}", visit.id));

        let c = browser_for(&app, &clinic.clinician).await;
        let room = c.get("/waiting-room").await;
        assert_eq!(room.status, 200, "{}", room.body);
        room.assert_no_inline_code();
        assert!(
            room.body
                .contains(r#"<script type="module" src="/assets/live/waiting-room.js">"#)
        );
        assert!(room.body.contains("Lovelace, Ada"), "{}", room.body);
        assert!(room.body.contains("Video check-up"));
        assert!(room.body.contains("Waiting"));
        assert!(room.body.contains("English"));
        // What the patient told us at check-in, under their name.
        assert!(
            room.body
                .contains("<span class=\"told\">“knee still sore”</span>"),
            "{}",
            room.body
        );
        assert!(
            room.body.contains("href=\"/waiting-room\""),
            "the nav links the waiting room"
        );
        let admit = format!("/visits/{}/admit", visit.id);
        assert!(room.body.contains(&format!("action=\"{admit}\"")));
        let admitted = c.post(&admit, &[("csrf", &room.csrf())]).await;
        assert_eq!(admitted.location, format!("/visits/{}", visit.id));
        assert_eq!(
            stored_state(&app, &clinic, &visit).await,
            VisitState::Admitted
        );
        let call = c.follow(&admitted).await;
        assert_eq!(call.status, 200, "{}", call.body);
        call.assert_no_inline_code();
        assert!(call.body.contains("Where the patient is"));
        assert!(call.body.contains("New York (NY)"));
        assert!(call.body.contains("home, 12 Elm Street, Albany"));
        assert!(call.body.contains("Emergency"));
        assert!(call.body.contains("What the patient told us at check-in"));
        assert!(
            call.body
                .contains("<dt>Anything else</dt><dd>knee still sore</dd>")
        );
        let record = c.get(&format!("/visits/{}/record", visit.id)).await;
        assert_eq!(record.status, 200, "{}", record.body);
        assert!(record.body.contains("What the patient told us at check-in"));
        assert!(
            record
                .body
                .contains("<dt>Anything else</dt><dd>knee still sore</dd>")
        );
        assert!(
            !call.body.contains("http-equiv=\"refresh\""),
            "the call never reloads itself"
        );

        // An emergency is recorded and shown to the site's staff.
        let raised = c
            .post(
                &format!("/visits/{}/emergency", visit.id),
                &[("csrf", &call.csrf()), ("reason", "patient fainted")],
            )
            .await;
        assert_eq!(
            raised.location,
            format!("/visits/{}?done=emergency", visit.id)
        );
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let d = browser_for(&app, &desk).await;
        let room = d.get("/waiting-room").await;
        assert!(room.body.contains("patient fainted"), "{}", room.body);
        assert!(room.body.contains("home, 12 Elm Street, Albany"));
        // The front desk sees flags, not the patient's clinical answers.
        assert!(!room.body.contains("knee still sore"));
        let desk_record = d.get(&format!("/visits/{}/record", visit.id)).await;
        assert!(!desk_record.body.contains("What the patient told us"));
        let ack = room.link("/visits/");
        assert!(ack.ends_with("/record"));
        let marker = "action=\"/waiting-room/alerts/";
        let start = room.body.find(marker).unwrap() + "action=\"".len();
        let end = room.body[start..].find('"').unwrap() + start;
        let action = room.body[start..end].to_string();
        let acknowledged = d.post(&action, &[("csrf", &room.csrf())]).await;
        assert_eq!(acknowledged.location, "/waiting-room");
        let room = d.follow(&acknowledged).await;
        assert!(!room.body.contains("patient fainted"));
    }
);

on_both_backends!(
    a_guest_link_opens_a_join_page_works_once_and_then_answers_410,
    |app: TestApp| async move {
        let (_clinic, account, visit) = booked_and_open(&app).await;
        let b = browser_for(&app, &account).await;
        check_in(&b, &visit).await;
        // The patient invites an interpreter; the link is shown once.
        let page = b.get(&format!("/visits/{}", visit.id)).await;
        let created = b
            .post(
                &format!("/visits/{}/invites", visit.id),
                &[
                    ("csrf", &page.csrf()),
                    ("name", "Ana Ruiz"),
                    ("relation", "interpreter"),
                    ("email", ""),
                ],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let marker = "id=\"invite-link\" type=\"text\" readonly value=\"";
        let start = created.body.find(marker).expect("the link is shown") + marker.len();
        let end = created.body[start..].find('"').unwrap() + start;
        let link = created.body[start..end].to_string();
        let path = link
            .split_once("/join/")
            .map(|(_, token)| format!("/join/{token}"))
            .unwrap();

        let guest = Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", app.addr),
        };
        // Looking at the link (a mail scanner does) uses nothing up.
        for _ in 0..2 {
            let join = guest.get(&path).await;
            assert_eq!(join.status, 200, "{}", join.body);
            join.assert_no_inline_code();
            assert!(
                join.body
                    .contains("Join the video visit as Ana Ruiz (interpreter)")
            );
        }
        let joined = guest.post(&path, &[]).await;
        assert_eq!(joined.status, StatusCode::SEE_OTHER, "{}", joined.body);
        assert_eq!(joined.location, format!("/visits/{}", visit.id));
        let call = guest.follow(&joined).await;
        assert_eq!(call.status, 200, "{}", call.body);
        assert!(
            !call.body.contains("class=\"nav\""),
            "a guest sees only the call"
        );
        assert!(
            call.body
                .contains("The clinician will let you into the call")
        );
        // Guests reach nothing else.
        let portal = guest.get("/app").await;
        assert_eq!(portal.status, StatusCode::SEE_OTHER);
        assert_eq!(portal.location, "/signin");

        // Used once: the link no longer works, for anyone.
        let again = guest.post(&path, &[]).await;
        assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
        assert!(again.body.contains("This link no longer works"));
        assert!(again.body.contains("used already"));
        let other = reqwest::Client::new()
            .get(format!("{}{path}", guest.base))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::GONE);
        let unknown = guest.get("/join/not-a-real-token").await;
        assert_eq!(unknown.status, StatusCode::GONE);
    }
);

on_both_backends!(
    a_cancelled_visit_says_so_and_its_waiting_room_is_closed,
    |app: TestApp| async move {
        let (clinic, account, visit) = booked_and_open(&app).await;
        let b = browser_for(&app, &account).await;
        check_in(&b, &visit).await;
        let page = b.get(&format!("/appointments/{}", visit.id)).await;
        assert!(page.body.contains("Return to your visit"));
        let cancelled = b
            .post(
                &format!("/appointments/{}/cancel", visit.id),
                &[("csrf", &page.csrf()), ("reason", "feeling better")],
            )
            .await;
        assert_eq!(
            cancelled.status,
            StatusCode::SEE_OTHER,
            "{}",
            cancelled.body
        );
        assert_eq!(
            stored_state(&app, &clinic, &visit).await,
            VisitState::Cancelled
        );
        let page = b.get(&format!("/visits/{}", visit.id)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("This visit was cancelled"));
        assert!(!page.body.contains("http-equiv=\"refresh\""));
        let home = b.get("/app").await;
        assert!(!home.body.contains("Return to your visit"));
        let c = browser_for(&app, &clinic.clinician).await;
        let room = c.get("/waiting-room").await;
        assert!(room.body.contains("Nobody is waiting."), "{}", room.body);
    }
);

on_both_backends!(
    the_record_page_shows_times_modality_outcome_and_guests,
    |app: TestApp| async move {
        let (clinic, account, visit) = booked_and_open(&app).await;
        let b = browser_for(&app, &account).await;
        check_in(&b, &visit).await;
        let c = browser_for(&app, &clinic.clinician).await;
        let call = c.get(&format!("/visits/{}", visit.id)).await;
        let admitted = c
            .post(
                &format!("/visits/{}/admit", visit.id),
                &[("csrf", &call.csrf())],
            )
            .await;
        assert_eq!(admitted.status, StatusCode::SEE_OTHER, "{}", admitted.body);
        let invited = c
            .post(
                &format!("/visits/{}/invites", visit.id),
                &[
                    ("csrf", &call.csrf()),
                    ("name", "Sam Lovelace"),
                    ("relation", "family"),
                ],
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
        app.clock.advance(SignedDuration::from_mins(12));
        let ended = c
            .post(
                &format!("/visits/{}/end", visit.id),
                &[("csrf", &call.csrf()), ("outcome", "completed")],
            )
            .await;
        assert_eq!(ended.location, format!("/visits/{}?done=ended", visit.id));
        assert_eq!(stored_state(&app, &clinic, &visit).await, VisitState::Ended);
        let over = c.follow(&ended).await;
        assert!(over.body.contains("The visit has ended"));

        let record = c.get(&format!("/visits/{}/record", visit.id)).await;
        assert_eq!(record.status, 200, "{}", record.body);
        record.assert_no_inline_code();
        for expected in [
            "Visit record: Ada Lovelace",
            "Checked in",
            "Let in",
            "Waiting time",
            "Modality used",
            "Video visit",
            "Completed",
            "Connection drops",
            "Sam Lovelace",
            "Link given to pass on",
            "Not joined yet",
            "Visit ended",
            // Booked for 09:00 and ended at 08:52: said in plain words, not "09:00 to 09:00".
            "Booked for",
            "09:00 to 09:30 (E",
            "Seen early: the visit ended at 08:52, 8 min before its booked start.",
        ] {
            assert!(
                record.body.contains(expected),
                "{expected} missing:\n{}",
                record.body
            );
        }
        // The appointment still says the time booked, though ending early freed the rest.
        let appointment = b.get(&format!("/appointments/{}", visit.id)).await;
        assert!(
            appointment.body.contains("09:00 to 09:30 (E"),
            "{}",
            appointment.body
        );
        // Patients see their appointment, not the staff's record.
        let mine = b.get(&format!("/visits/{}/record", visit.id)).await;
        assert_eq!(mine.location, format!("/appointments/{}", visit.id));
    }
);

on_both_backends!(
    check_in_from_a_state_where_the_clinician_holds_no_license_is_stopped_and_staff_are_alerted,
    |app: TestApp| async move {
        let (clinic, account, visit) = booked_and_open(&app).await;
        let b = browser_for(&app, &account).await;
        let form = b.get(&format!("/visits/{}/check-in", visit.id)).await;
        let refused = b
            .post(
                &format!("/visits/{}/check-in", visit.id),
                &[
                    ("csrf", &form.csrf()),
                    ("patient_state", "CA"),
                    ("location", "a hotel in San Diego"),
                ],
            )
            .await;
        // The status the JSON API gives the same refusal (clinician_not_licensed).
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("is not licensed in California"),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("staff have been alerted"));
        let c = browser_for(&app, &clinic.clinician).await;
        let room = c.get("/waiting-room").await;
        assert!(
            room.body.contains("Check-in stopped: licensure"),
            "{}",
            room.body
        );
        assert!(room.body.contains("a hotel in San Diego"));
    }
);

on_both_backends!(
    check_in_before_its_window_says_when_it_opens,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let b = browser_for(&app, &account).await;
        let page = b.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Check-in opens at"), "{}", page.body);
        assert!(!page.body.contains("Where exactly are you?"));
        let refused = b
            .post(
                &format!("/visits/{}/check-in", visit.id),
                &[
                    ("csrf", &page.csrf()),
                    ("patient_state", "NY"),
                    ("location", "home"),
                ],
            )
            .await;
        // The status the JSON API gives the same refusal (check_in_not_open).
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert!(
            refused
                .body
                .contains("Check-in is not open yet: it opens at")
        );
    }
);

/// The live pages' scripts are ES modules of this origin: every import is a relative path to a
/// script served here as JavaScript, and the pages' CSP admits scripts of this origin only.
#[tokio::test]
async fn the_live_scripts_are_modules_of_this_origin_whose_imports_all_resolve() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let mut todo: Vec<String> = ["device-check.js", "visit.js", "waiting-room.js"]
        .iter()
        .map(|entry| format!("/assets/live/{entry}"))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let response = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let kind = response.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/javascript"), "{path}: {kind}");
        let body = response.text().await.unwrap();
        for line in body.lines().filter(|l| l.starts_with("import ")) {
            let spec = line
                .rsplit_once(" from ")
                .map_or(line, |(_, s)| s)
                .trim_end_matches(';')
                .trim_matches('"');
            let file = spec
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("{path} imports {spec}: not a path of this origin"));
            todo.push(format!("/assets/live/{file}"));
        }
    }
    assert!(seen.len() >= 9, "{seen:?}");
    let page = client.get(app.url("/signin")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let old = client
        .get(app.url("/assets/visit.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 404, "one script for everything is gone");
}
