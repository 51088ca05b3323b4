//! Join links for patients without an account, through the pages: the front desk emails one
//! (real SMTP, to a capture server on loopback) or is shown it with a text message; the patient
//! follows it to check-in and the waiting room with no sign-up, on that visit only; used,
//! replaced and expired links answer a clear page.

use jiff::SignedDuration;
use reqwest::StatusCode;

use domain::Clock;
use domain::compliance::{AuditAction, AuditActor, AuditQuery, AuditRecord};
use domain::identity::{Patient, Role};
use domain::scheduling::Appointment;
use domain::scheduling::service::booking::{self, BookCommand, SlotRef};
use domain::visits::VisitState;
use server::auth::actor::actor_for_user;
use server::auth::secrets::sha256_hex;

use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp::{SmtpCapture, readable};
use crate::web_scheduling::{Browser, Clinic, Page, browser_for, clinic};

const PUBLIC: &str = "https://telemed.riverside.example";

/// The app again, with email sent to a capture server.
async fn with_mail(first: &TestApp) -> (TestApp, SmtpCapture) {
    let smtp = SmtpCapture::start().await;
    let config = server::config::ServeConfig {
        smtp_url: Some(smtp.url().parse().unwrap()),
        public_url: Some(PUBLIC.into()),
        ..server::config::ServeConfig::for_testing()
    };
    let backend = if first.database_url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    (TestApp::spawn_with(backend, config).await, smtp)
}

/// A browser that never signed in.
fn anonymous(app: &TestApp) -> Browser {
    Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: format!("http://{}", app.addr),
    }
}

struct Desk {
    clinic: Clinic,
    desk: TestUser,
    patient: Patient,
}

/// A clinic, its front desk, and a patient on record with no portal account.
async fn desk(app: &TestApp) -> Desk {
    let clinic = clinic(app, &[0]).await;
    let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
    let patient = app.patient_record(&clinic.org, 0).await;
    Desk {
        clinic,
        desk,
        patient,
    }
}

/// The front desk books the patient's video visit `offset_min` after the first open time.
async fn book(app: &TestApp, d: &Desk, offset_min: i64) -> Appointment {
    book_as(app, d, &d.desk, Some(d.patient.id), offset_min).await
}

async fn book_as(
    app: &TestApp,
    d: &Desk,
    by: &TestUser,
    patient_id: Option<domain::ids::PatientId>,
    offset_min: i64,
) -> Appointment {
    let at = d.clinic.first + SignedDuration::from_mins(offset_min);
    let slot = app
        .store()
        .find_slot(d.clinic.org.org.id, d.clinic.clinician.user.id, at)
        .await
        .unwrap()
        .expect("the slot is published");
    booking::book(
        app.state.ctx(),
        &actor_for_user(&by.user, None),
        &BookCommand {
            patient_id,
            consent_version: Some(1),
            ..BookCommand::new(SlotRef::Id(slot.slot.id), d.clinic.video.id)
        },
    )
    .await
    .unwrap()
}

/// Moves the clock to 20 minutes before the first open time (check-in is open).
fn open_check_in(app: &TestApp, d: &Desk) {
    let now = app.clock.now();
    app.clock
        .advance(d.clinic.first.duration_since(now) - SignedDuration::from_mins(20));
}

/// Sends a join link from the appointment's page; the link shown once, and the page.
async fn send(b: &Browser, visit: &Appointment, email: &str) -> (String, Page) {
    let appointment = b.get(&format!("/appointments/{}", visit.id)).await;
    assert_eq!(appointment.status, 200, "{}", appointment.body);
    let path = appointment.link(&format!("/appointments/{}/join-link", visit.id));
    let form = b.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    form.assert_no_inline_code();
    let sent = b
        .post(&path, &[("csrf", &form.csrf()), ("email", email)])
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.body);
    let marker = "id=\"visit-link\" type=\"text\" readonly value=\"";
    let start = sent.body.find(marker).expect("the link is shown") + marker.len();
    let end = sent.body[start..].find('"').unwrap() + start;
    (sent.body[start..end].to_string(), sent)
}

fn path_of(link: &str) -> String {
    let token = link.split_once("/v/").expect("a join link").1;
    format!("/v/{token}")
}

async fn audit_of(app: &TestApp, action: AuditAction) -> Vec<AuditRecord> {
    app.store()
        .search_audit(&AuditQuery {
            action: Some(action),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: String) -> i64 {
    store::testing::query_i64(&app.database_url, &sql)
        .await
        .unwrap()
}

/// Opens the link in `b`: the Continue page (twice, as a mail scanner would), then Continue.
async fn follow_link(b: &Browser, path: &str) -> Page {
    for _ in 0..2 {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_no_inline_code();
        assert!(page.body.contains("Continue to your visit"));
    }
    b.post(path, &[]).await
}

on_both_backends!(
    the_front_desk_emails_a_join_link_and_the_patient_without_an_account_checks_in_and_waits,
    |first: TestApp| async move {
        let (app, smtp) = with_mail(&first).await;
        let d = desk(&app).await;
        let visit = book(&app, &d, 0).await;
        open_check_in(&app, &d);
        let front = browser_for(&app, &d.desk).await;
        let (link, sent) = send(&front, &visit, "ada.patient@example.org").await;
        assert!(
            sent.body
                .contains("We emailed it to ada.patient@example.org")
        );
        assert!(
            sent.body.contains("id=\"visit-link-sms\""),
            "a text message ready to send"
        );
        assert!(link.starts_with(&format!("{PUBLIC}/v/")), "{link}");

        // The email arrives, with the link.
        let mut mail = Vec::new();
        for _ in 0..100 {
            mail = smtp.messages();
            if !mail.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].to, vec!["<ada.patient@example.org>".to_string()]);
        let text = readable(&mail[0].data);
        assert!(text.contains(&link), "{text}");
        assert!(text.contains("No account"), "{text}");

        // Only the token's hash is stored.
        let path = path_of(&link);
        let token = path.trim_start_matches("/v/");
        let stored = |value: String| {
            count(
                &app,
                format!("SELECT COUNT(*) FROM visit_links WHERE token_hash = '{value}'"),
            )
        };
        assert_eq!(stored(token.to_string()).await, 0);
        assert_eq!(stored(sha256_hex(token)).await, 1);
        let issued = audit_of(&app, AuditAction::VisitLinkIssue).await;
        assert_eq!(issued.len(), 1);
        assert_eq!(issued[0].entry.patient_id, Some(d.patient.id));
        assert_eq!(issued[0].entry.resource_id, Some(visit.id.to_string()));
        assert!(
            matches!(issued[0].entry.actor, AuditActor::User { id, .. } if id == d.desk.user.id)
        );

        // The patient follows it: check-in with no sign-up, then the waiting room.
        let patient = anonymous(&app);
        let opened = follow_link(&patient, &path).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
        assert_eq!(opened.location, format!("/visits/{}/check-in", visit.id));
        let check_in = patient.follow(&opened).await;
        assert_eq!(check_in.status, 200, "{}", check_in.body);
        check_in.assert_no_inline_code();
        assert!(check_in.body.contains("Check in for your video visit"));
        assert!(
            !check_in.body.contains("class=\"nav\""),
            "no portal around it"
        );
        assert!(!check_in.body.contains("Back to the appointment"));
        let done = patient
            .post(
                &format!("/visits/{}/check-in", visit.id),
                &[
                    ("csrf", &check_in.csrf()),
                    ("patient_state", "NY"),
                    ("location", "home, 12 Elm Street, Albany"),
                    ("notes", "knee still sore"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location, format!("/visits/{}", visit.id));
        let room = patient.follow(&done).await;
        assert_eq!(room.status, 200, "{}", room.body);
        assert!(room.body.contains("You are checked in"), "{}", room.body);
        assert!(
            room.body.contains(&d.patient.full_name()),
            "joined as the patient"
        );
        let stored_visit = app
            .store()
            .get_visit(d.clinic.org.org.id, visit.id)
            .await
            .unwrap()
            .expect("check-in opened the visit");
        assert_eq!(stored_visit.state, VisitState::Waiting);

        // The use of the link and what the patient did by it are in the audit trail.
        let used = audit_of(&app, AuditAction::VisitLinkUse).await;
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].entry.patient_id, Some(d.patient.id));
        let AuditActor::VisitLink { link: link_id } = used[0].entry.actor.clone() else {
            panic!("used by the link: {:?}", used[0].entry.actor);
        };
        let joined = audit_of(&app, AuditAction::VisitRead).await;
        assert!(
            joined
                .iter()
                .any(|r| r.entry.actor == AuditActor::VisitLink { link: link_id }),
            "entering the visit is recorded as the link's patient"
        );

        // The clinician sees the patient waiting.
        let clinician = browser_for(&app, &d.clinic.clinician).await;
        let waiting = clinician.get("/waiting-room").await;
        assert_eq!(waiting.status, 200, "{}", waiting.body);
        assert!(
            waiting.body.contains(&d.patient.family_name),
            "{}",
            waiting.body
        );

        // The staff page shows the link was opened.
        let form = front
            .get(&format!("/appointments/{}/join-link", visit.id))
            .await;
        assert!(form.body.contains("Opened by the patient"), "{}", form.body);
    }
);

on_both_backends!(
    a_join_link_opens_only_its_own_visit_and_grants_nothing_else,
    |app: TestApp| async move {
        let d = desk(&app).await;
        let visit = book(&app, &d, 0).await;
        let other = book(&app, &d, 60).await;
        open_check_in(&app, &d);
        let front = browser_for(&app, &d.desk).await;
        let (link, sent) = send(&front, &visit, "").await;
        assert!(sent.body.contains("Send it to the patient by text message"));
        let path = path_of(&link);
        let patient = anonymous(&app);
        let opened = follow_link(&patient, &path).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);

        // The same patient's other visit: refused with a page that says why.
        for refused in [
            format!("/visits/{}/check-in", other.id),
            format!("/visits/{}", other.id),
        ] {
            let page = patient.get(&refused).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "{refused}: {}",
                page.body
            );
            assert!(
                page.body.contains("opens only the visit it was sent for"),
                "{}",
                page.body
            );
        }
        // Nothing else of the portal or the patient's record.
        for elsewhere in [
            "/app".to_string(),
            format!("/appointments/{}", visit.id),
            "/appointments".to_string(),
            format!("/patients/{}", d.patient.id),
            "/messages".to_string(),
            "/summaries".to_string(),
            "/book".to_string(),
            format!("/visits/{}/record", visit.id),
        ] {
            let page = patient.get(&elsewhere).await;
            assert_eq!(
                page.status,
                StatusCode::SEE_OTHER,
                "{elsewhere}: {}",
                page.body
            );
            assert_eq!(page.location, "/signin", "{elsewhere}");
        }
        for api in [
            "/api/v1/me".to_string(),
            "/api/v1/appointments".to_string(),
            format!("/api/v1/patients/{}", d.patient.id),
            format!("/api/v1/appointments/{}", visit.id),
        ] {
            let response = patient
                .client
                .get(format!("{}{api}", patient.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{api}");
        }
        // Its own check-in still opens.
        let own = patient.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert_eq!(own.status, 200, "{}", own.body);

        // The same browser following it again goes back to its visit (a closed tab).
        let back = patient.get(&path).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        assert_eq!(back.location, format!("/visits/{}/check-in", visit.id));
        // Used once: the link opens nothing more, for anyone else.
        let again = anonymous(&app).post(&path, &[]).await;
        assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
        assert!(again.body.contains("used already"));

        // Sent again: the new link replaces the old one, and the old session ends.
        let (newer, _) = send(&front, &visit, "").await;
        assert_ne!(newer, link);
        let ended = patient.get(&format!("/visits/{}/check-in", visit.id)).await;
        assert_eq!(ended.status, StatusCode::GONE, "{}", ended.body);
        assert!(
            ended.body.contains("replaced by a newer one"),
            "{}",
            ended.body
        );
        let old = anonymous(&app).get(&path).await;
        assert_eq!(old.status, StatusCode::GONE);
        assert!(old.body.contains("replaced by a newer one"), "{}", old.body);
        assert_eq!(audit_of(&app, AuditAction::VisitLinkIssue).await.len(), 2);
        assert_eq!(audit_of(&app, AuditAction::VisitLinkUse).await.len(), 1);
    }
);

on_both_backends!(
    an_expired_link_a_bad_email_and_a_patient_sending_one_are_refused_clearly,
    |app: TestApp| async move {
        let d = desk(&app).await;
        let visit = book(&app, &d, 0).await;
        open_check_in(&app, &d);
        let front = browser_for(&app, &d.desk).await;

        // A bad address names the field and writes nothing.
        let path = format!("/appointments/{}/join-link", visit.id);
        let form = front.get(&path).await;
        let bad = front
            .post(
                &path,
                &[("csrf", &form.csrf()), ("email", "not-an-address")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(
            bad.body.contains("The patient&#39;s email")
                || bad.body.contains("The patient's email"),
            "{}",
            bad.body
        );
        assert!(
            bad.body.contains("value=\"not-an-address\""),
            "what was typed is kept"
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM visit_links".into()).await,
            0
        );
        assert!(audit_of(&app, AuditAction::VisitLinkIssue).await.is_empty());

        // A patient with an account sends none (they have the portal).
        let (_, account) = app.patient_account(&d.clinic.org).await;
        let own = book_as(&app, &d, &account, None, 90).await;
        let portal = browser_for(&app, &account).await;
        let page = portal.get(&format!("/appointments/{}", own.id)).await;
        assert!(!page.body.contains("join-link"));
        let refused = portal
            .post(
                &format!("/appointments/{}/join-link", own.id),
                &[("csrf", &page.csrf()), ("email", "")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        // Past the visit's end and its grace hour, the link says it expired.
        let (link, _) = send(&front, &visit, "").await;
        app.clock.advance(SignedDuration::from_mins(20 + 30 + 60));
        let expired = anonymous(&app).get(&path_of(&link)).await;
        assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
        assert!(expired.body.contains("This link no longer works"));
        assert!(expired.body.contains("expired"), "{}", expired.body);
        let unknown = anonymous(&app).get("/v/not-a-real-token").await;
        assert_eq!(unknown.status, StatusCode::GONE);
        // And no new link is offered for a visit whose time has passed.
        let page = front.get(&format!("/appointments/{}", visit.id)).await;
        assert!(!page.body.contains("/join-link\""), "{}", page.body);
    }
);

on_both_backends!(
    the_patient_by_join_link_is_in_the_live_room_of_that_visit_only_and_is_let_into_the_call,
    |app: TestApp| async move {
        let d = desk(&app).await;
        let visit = book(&app, &d, 0).await;
        let other = book(&app, &d, 60).await;
        open_check_in(&app, &d);
        let front = browser_for(&app, &d.desk).await;
        let (link, _) = send(&front, &visit, "").await;
        let path = path_of(&link);
        // The patient's browser opens the link; its session cookie is what the live page sends.
        let session = server::auth::secrets::random_token();
        domain::visits::service::visit_link::open(
            app.state.ctx(),
            &sha256_hex(path.trim_start_matches("/v/")),
            &sha256_hex(&session),
        )
        .await
        .unwrap();
        let cookie = format!("telemed_visit={session}");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cookie", cookie.parse().unwrap());
        let patient = Browser {
            client: reqwest::Client::builder()
                .default_headers(headers)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", app.addr),
        };
        let check_in_path = format!("/visits/{}/check-in", visit.id);
        let form = patient.get(&check_in_path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let done = patient
            .post(
                &check_in_path,
                &[
                    ("csrf", &form.csrf()),
                    ("patient_state", "NY"),
                    ("location", "home, 12 Elm Street, Albany"),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        // A wrong token is refused like any forged form.
        let forged = patient
            .post(
                &check_in_path,
                &[
                    ("csrf", "forged"),
                    ("patient_state", "NY"),
                    ("location", "x"),
                ],
            )
            .await;
        assert_ne!(forged.status, StatusCode::SEE_OTHER);

        let mut live = crate::visits::Live::open(&app, &cookie, &visit.id.to_string())
            .await
            .unwrap();
        let hello = live.next("welcome").await;
        assert_eq!(hello["you"]["role"], "patient");
        assert_eq!(hello["you"]["name"], d.patient.full_name().as_str());
        let waiting = live.next("state").await;
        assert_eq!(waiting["admitted"], false);
        assert_eq!(
            crate::visits::Live::open(&app, &cookie, &other.id.to_string())
                .await
                .err(),
            Some(404),
            "the link's session opens no other visit's room"
        );

        // The clinician lets the patient in from the visit's page.
        let clinician = browser_for(&app, &d.clinic.clinician).await;
        let page = clinician.get(&format!("/visits/{}", visit.id)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let admitted = clinician
            .post(
                &format!("/visits/{}/admit", visit.id),
                &[("csrf", &page.csrf())],
            )
            .await;
        assert_eq!(admitted.status, StatusCode::SEE_OTHER, "{}", admitted.body);
        live.next_where("state", |s| s["admitted"] == true).await;
    }
);
