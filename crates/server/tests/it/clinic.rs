//! A clinic ready to book: visit types, a clinician with weekly hours and published slots, and
//! verbs for the tests of scheduling.

use domain::Clock;
use domain::access::Actor;
use domain::identity::Role;
use domain::ids::UserId;
use domain::scheduling::availability::TemplateInput;
use domain::scheduling::service::{availability, visit_types};
use domain::scheduling::{SlotQuery, SlotView, VisitType};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::helpers::*;

/// An organization with an administrator, a clinician licensed in NY (site 0), visit types, and
/// a patient account at site 0.
pub struct Clinic {
    pub org: TestOrg,
    pub admin: TestUser,
    pub clinician: TestUser,
    pub video: VisitType,
    pub in_person: VisitType,
    pub long_video: VisitType,
    pub urgent: VisitType,
    pub patient: domain::identity::Patient,
    pub patient_user: TestUser,
}

pub fn visit_type_input(
    name: &str,
    line: &str,
    modality: &str,
    minutes: i64,
) -> visit_types::VisitTypeInput {
    visit_types::VisitTypeInput {
        name: name.into(),
        service_line: line.into(),
        modality: modality.into(),
        patient_kind: None,
        duration_minutes: minutes,
        patient_bookable: true,
        active: None,
    }
}

impl TestApp {
    /// Creates the clinic; weekly hours are added by the test (`weekly_hours`).
    pub async fn clinic(&self) -> Clinic {
        let org = self.org("Riverside").await;
        let admin = self.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let clinician = self.staff(&org, Role::Clinician, &[0, 1]).await;
        let operator = Actor::operator();
        let ctx = self.state.ctx();
        let make = |input: visit_types::VisitTypeInput| {
            let org_id = org.org.id;
            let operator = operator.clone();
            async move {
                visit_types::create_in(ctx, &operator, org_id, &input)
                    .await
                    .expect("create visit type")
            }
        };
        let video = make(visit_type_input("Video visit", "primary_care", "video", 20)).await;
        let in_person = make(visit_type_input(
            "Clinic visit",
            "primary_care",
            "in_person",
            20,
        ))
        .await;
        let long_video = make(visit_type_input(
            "New patient video visit",
            "primary_care",
            "video",
            45,
        ))
        .await;
        let urgent = make(visit_type_input(
            "Urgent care video",
            "urgent_care",
            "video",
            15,
        ))
        .await;
        let (patient, patient_user) = self.patient_account(&org).await;
        Clinic {
            org,
            admin,
            clinician,
            video,
            in_person,
            long_video,
            urgent,
            patient,
            patient_user,
        }
    }

    /// The operator as an actor of the clinic's organization (the domain needs an org for most
    /// use cases, which the operator names explicitly).
    pub fn operator_of(&self, org: &TestOrg) -> Actor {
        Actor {
            org_id: Some(org.org.id),
            ..Actor::operator()
        }
    }

    /// Adds weekly hours (30-minute slots, primary and urgent care) for a clinician and publishes them.
    pub async fn weekly_hours(
        &self,
        org: &TestOrg,
        clinician: UserId,
        site_index: usize,
        weekday: &str,
        start: &str,
        end: &str,
    ) -> u64 {
        let input = TemplateInput {
            site_id: org.sites[site_index].id.to_string(),
            weekday: weekday.into(),
            start_time: start.into(),
            end_time: end.into(),
            slot_minutes: 30,
            buffer_minutes: 0,
            service_lines: vec!["primary_care".into(), "urgent_care".into()],
            valid_from: "2020-01-01".into(),
            valid_until: None,
        };
        let (_, published) =
            availability::add_template(self.state.ctx(), &self.operator_of(org), clinician, &input)
                .await
                .expect("add weekly hours");
        published
    }

    /// Every open slot of a clinician from now on, soonest first.
    pub async fn open_slots(&self, org: &TestOrg, clinician: UserId) -> Vec<SlotView> {
        let now = self.clock.now();
        let query = SlotQuery {
            from: now,
            to: now
                .checked_add(SignedDuration::from_hours(24 * 120))
                .unwrap(),
            service_line: None,
            min_minutes: None,
            clinician_id: Some(clinician),
            site_id: None,
            slot_id: None,
            licensed_in: None,
            language: None,
            open_only: true,
            limit: 1000,
        };
        self.store().search_slots(org.org.id, &query).await.unwrap()
    }

    /// Moves the fixed clock to a moment.
    pub fn set_clock(&self, at: Timestamp) {
        self.clock.set(at);
    }
}

/// `POST path` with JSON as a signed-in session (with its CSRF header); returns status and body.
pub async fn post(app: &TestApp, session: &Session, path: &str, body: Value) -> (u16, Value) {
    let response = session
        .client
        .post(app.url(path))
        .header("x-csrf-token", &session.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get(app: &TestApp, session: &Session, path: &str) -> (u16, Value) {
    let response = session.client.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

/// A booking body for a slot and visit type.
pub fn booking(slot: &SlotView, visit_type: &VisitType) -> Value {
    json!({ "slot_id": slot.slot.id.to_string(), "visit_type_id": visit_type.id.to_string() })
}
