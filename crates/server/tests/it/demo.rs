//! The demo as a newcomer meets it: whatever the hour it runs, each patient who can sign in has a
//! video visit about to start, with check-in open; running it again keeps what is there.

use domain::Clock;
use domain::identity::{Organization, Role};
use domain::scheduling::{Appointment, AppointmentQuery, AppointmentStatus, Modality};
use domain::visits::service::check_in::{self, VisitCheckInInput};
use jiff::{SignedDuration, Timestamp};

use crate::helpers::*;
use crate::on_both_backends;

async fn demo_org(app: &TestApp) -> Organization {
    server::demo::seed_and_print(&app.state, "http://127.0.0.1:8080")
        .await
        .unwrap();
    app.store()
        .find_org_by_name(server::demo::ORG_NAME)
        .await
        .unwrap()
        .unwrap()
}

/// Each patient account's video visits booked to start within half an hour of now.
async fn about_to_start(app: &TestApp, org: &Organization) -> Vec<Vec<Appointment>> {
    let now = app.clock.now();
    let mut out = Vec::new();
    for account in app
        .store()
        .list_users(org.id, Some(Role::Patient))
        .await
        .unwrap()
    {
        let query = AppointmentQuery {
            patient_id: account.patient_id,
            from: Some(now),
            to: Some(now.saturating_add(SignedDuration::from_mins(30)).unwrap()),
            statuses: Some(vec![AppointmentStatus::Booked]),
            limit: 100,
            ..AppointmentQuery::default()
        };
        let found = app.store().list_appointments(org.id, &query).await.unwrap();
        out.push(
            found
                .into_iter()
                .filter(|a| a.modality == Modality::Video)
                .collect(),
        );
    }
    out
}

/// No clinician is booked twice at once.
async fn no_clinician_overlaps(app: &TestApp, org: &Organization) {
    let query = AppointmentQuery {
        statuses: Some(vec![AppointmentStatus::Booked]),
        limit: 10_000,
        ..AppointmentQuery::default()
    };
    let all = app.store().list_appointments(org.id, &query).await.unwrap();
    for a in &all {
        for b in &all {
            if a.id != b.id && a.clinician_id == b.clinician_id {
                assert!(
                    a.end_at <= b.start_at || b.end_at <= a.start_at,
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }
}

on_both_backends!(
    the_demo_gives_each_patient_a_video_visit_about_to_start_at_any_hour,
    |app: TestApp| async move {
        // Monday 08:00 in New York: no clinician's weekly hours have begun.
        let morning: Timestamp = "2026-12-07T13:00:00Z".parse().unwrap();
        app.clock.set(morning);
        let org = demo_org(&app).await;
        let first = about_to_start(&app, &org).await;
        assert_eq!(first.len(), 3, "three patients can sign in");
        for visits in &first {
            assert_eq!(visits.len(), 1, "{visits:?}");
            let lead = visits[0].start_at.duration_since(morning).as_mins();
            assert!((5..=30).contains(&lead), "starts in {lead} minutes");
        }
        no_clinician_overlaps(&app, &org).await;
        // The training records read true: nothing completed before it was enrolled.
        let enrolments = app
            .store()
            .list_enrolments(org.id, &domain::training::EnrolmentQuery::default())
            .await
            .unwrap();
        assert!(enrolments.iter().any(|e| e.completed_at.is_some()));
        for e in &enrolments {
            assert!(
                e.completed_at.is_none_or(|done| done >= e.enrolled_at),
                "completed {:?} before enrolled {}",
                e.completed_at,
                e.enrolled_at
            );
        }

        // A second run a minute later books nothing new: the visits are still about to start.
        app.clock.advance(SignedDuration::from_mins(1));
        demo_org(&app).await;
        let again = about_to_start(&app, &org).await;
        let ids = |v: &[Vec<Appointment>]| {
            let mut ids: Vec<String> = v.iter().flatten().map(|a| a.id.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&first), ids(&again));
        // One of them has a nurse, named once however often the demo runs.
        let mut nurses = Vec::new();
        for a in again.iter().flatten() {
            nurses.extend(app.store().visit_staff(org.id, a.id).await.unwrap());
        }
        assert_eq!(nurses.len(), 1, "{nurses:?}");
        assert_eq!(nurses[0].role, Role::Nurse);

        // The patient checks in at once, as a newcomer would.
        let account = app
            .store()
            .list_users(org.id, Some(Role::Patient))
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.patient_id == Some(first[0][0].patient_id))
            .unwrap();
        let patient = app
            .store()
            .get_patient(org.id, first[0][0].patient_id)
            .await
            .unwrap()
            .unwrap();
        let actor = server::auth::actor::actor_for_user(&account, None);
        let input = VisitCheckInInput {
            patient_state: patient.address.state.to_string(),
            location: "Home".into(),
            consent_version: Some(
                domain::scheduling::service::consent::current(app.state.ctx(), org.id)
                    .await
                    .unwrap()
                    .version,
            ),
            ..VisitCheckInInput::default()
        };
        check_in::check_in(app.state.ctx(), &actor, first[0][0].id, &input)
            .await
            .unwrap();

        // At three in the night, a day later, each has a new one, and nobody is booked twice.
        app.clock.set("2026-12-08T08:00:00Z".parse().unwrap());
        demo_org(&app).await;
        for visits in about_to_start(&app, &org).await {
            assert_eq!(visits.len(), 1, "{visits:?}");
        }
        no_clinician_overlaps(&app, &org).await;
    }
);

on_both_backends!(
    the_demo_sends_its_patient_without_an_account_a_join_link_that_leads_to_check_in,
    |app: TestApp| async move {
        let morning: Timestamp = "2026-12-07T13:00:00Z".parse().unwrap();
        app.clock.set(morning);
        let org = demo_org(&app).await;
        let linked = server::demo_link::ensure(&app.state, &org)
            .await
            .unwrap()
            .expect("a clinician can see the patient now");
        let lead = linked.start.duration_since(morning).as_mins();
        assert!((5..=60).contains(&lead), "starts in {lead} minutes");
        // The next run sends a new link: the one before no longer works.
        let again = server::demo_link::ensure(&app.state, &org)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.start, linked.start, "the same visit is kept");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let old = browser.get(app.url(&linked.path)).send().await.unwrap();
        assert_eq!(old.status(), 410);
        let page = browser.get(app.url(&again.path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let opened = browser.post(app.url(&again.path)).send().await.unwrap();
        assert_eq!(opened.status(), 303);
        let to = opened.headers()["location"].to_str().unwrap();
        assert!(to.ends_with("/check-in"), "{to}");
        // No account was made for the patient.
        let accounts = app
            .store()
            .list_users(org.id, Some(Role::Patient))
            .await
            .unwrap();
        assert_eq!(accounts.len(), 3);
    }
);
