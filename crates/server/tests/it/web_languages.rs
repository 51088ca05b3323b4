//! A patient's language is a preference, not a filter: every open time is shown, those with a
//! clinician who speaks it first, and an interpreter is offered for the others.

use domain::Clock;
use domain::access::Actor;
use domain::identity::service::patients;
use domain::identity::service::users::{self, LicenseInput, UserInput};
use domain::scheduling::availability::{TemplateInput, weekday_name};
use domain::scheduling::service::availability;
use server::auth::actor::actor_for_user;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::{browser_for, clinic, new_york};

/// A patient with an account whose record says they prefer `language`.
async fn patient_speaking(app: &TestApp, org: &TestOrg, language: &str) -> TestUser {
    let input = patients::PatientInput {
        preferred_language: language.into(),
        ..patient_input(&org.sites[0].id.to_string())
    };
    let patient = patients::create(app.state.ctx(), &Actor::operator(), org.org.id, &input)
        .await
        .unwrap();
    let email = format!("patient-{}@example.org", uuid::Uuid::new_v4().simple());
    let created = users::create(
        app.state.ctx(),
        &app.state,
        &Actor::operator(),
        org.org.id,
        &UserInput {
            email: email.clone(),
            display_name: patient.full_name(),
            role: "patient".into(),
            password: PASSWORD.into(),
            patient_id: Some(patient.id.to_string()),
            ..UserInput::default()
        },
        false,
    )
    .await
    .unwrap();
    TestUser {
        user: created.user,
        email,
        totp_secret: None,
    }
}

on_both_backends!(
    a_patient_sees_every_open_time_with_speakers_of_their_language_first,
    |app: TestApp| async move {
        // Dr. English holds 09:00 to 12:00 in New York; Dr. Ruiz, who speaks Spanish, 10:00 to
        // 11:00 at a clinic in Los Angeles: 13:00 to 14:00 by the patients' New York clock.
        let clinic = clinic(&app, &[0]).await;
        let pacific = domain::identity::service::org::create_site(
            app.state.ctx(),
            &Actor::operator(),
            clinic.org.org.id,
            &domain::identity::service::org::SiteInput {
                name: "Pacific Clinic".into(),
                state: "CA".into(),
                time_zone: "America/Los_Angeles".into(),
            },
        )
        .await
        .unwrap();
        let ruiz = users::create(
            app.state.ctx(),
            &app.state,
            &Actor::operator(),
            clinic.org.org.id,
            &UserInput {
                email: "ruiz@example.org".into(),
                display_name: "Dr. Elena Ruiz".into(),
                role: "clinician".into(),
                password: PASSWORD.into(),
                site_ids: vec![pacific.id.to_string()],
                npi: Some("1234567893".into()),
                licenses: vec![LicenseInput {
                    state: "NY".into(),
                    number: "NY-2".into(),
                    expires_on: "2030-01-01".into(),
                }],
                languages: vec!["es".into(), "en".into()],
                ..UserInput::default()
            },
            true,
        )
        .await
        .unwrap()
        .user;
        let today = app.clock.now().to_zoned(new_york()).date();
        availability::add_template(
            app.state.ctx(),
            &actor_for_user(&ruiz, None),
            ruiz.id,
            &TemplateInput {
                site_id: pacific.id.to_string(),
                weekday: weekday_name(clinic.day.weekday()).into(),
                start_time: "10:00".into(),
                end_time: "11:00".into(),
                slot_minutes: 30,
                buffer_minutes: 0,
                service_lines: vec!["primary_care".into()],
                valid_from: today.to_string(),
                valid_until: None,
            },
        )
        .await
        .unwrap();
        let search = |language: &str| {
            format!(
                "/book?visit_type_id={}&patient_state=NY&language={language}&from={}&to={}",
                clinic.video.id, clinic.day, clinic.day
            )
        };

        // A patient who prefers Chinese, which nobody here speaks: the language is chosen for
        // them, and every open time is shown with an interpreter offered.
        let chinese = patient_speaking(&app, &clinic.org, "zh").await;
        let b = browser_for(&app, &chinese).await;
        let form = b.get("/book").await;
        assert!(
            form.body
                .contains("<option value=\"zh\" selected>Chinese</option>"),
            "{}",
            form.body
        );
        let found = b.get(&search("zh")).await;
        assert_eq!(found.status, 200, "{}", found.body);
        for expected in [
            "8 open times.",
            "No clinician holds visits in Chinese on these dates: an interpreter can join any of these times",
            "you can invite an interpreter to join it",
            "09:00",
            "13:00",
            "Dr. Elena Ruiz",
        ] {
            assert!(
                found.body.contains(expected),
                "{expected} in:\n{}",
                found.body
            );
        }

        // A Spanish speaker: Dr. Ruiz's times first, then the others, each soonest first.
        let spanish = patient_speaking(&app, &clinic.org, "es").await;
        let b = browser_for(&app, &spanish).await;
        let found = b.get(&search("es")).await;
        let body = &found.body;
        assert!(
            body.contains("8 open times. 2 with a clinician who speaks Spanish."),
            "{body}"
        );
        // The soonest answer at the top is Dr. Ruiz's first time (a 24-hour clock in Spanish).
        let next = body.find("Next available").expect("the soonest time");
        assert!(body[next..].find("13:00") < body[next..].find("Dr. Elena Ruiz at"));
        let body = &body[body
            .find("<h3 class=\"subheading\">With")
            .expect("the parts")..];
        let at = |needle: &str| {
            body.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {body}"))
        };
        assert!(at("With a clinician who speaks Spanish") < at("13:00"));
        assert!(at("13:00") < at("13:30"));
        assert!(at("13:30") < at("Other times: an interpreter for Spanish can join"));
        assert!(at("Other times: an interpreter for Spanish can join") < at("09:00"));
        assert!(body.contains("Speaks English · an interpreter can join"));
        assert!(
            // PST or PDT and EST or EDT, by the season the test runs in.
            body.contains("Pacific Clinic is on P")
                && body.contains("T time (10:00 there); times shown are yours (E"),
            "a site in another time zone is labelled:\n{body}"
        );

        // Everyone speaks English: one list, no interpreter offered.
        let english = b.get(&search("en")).await;
        assert!(
            english.body.contains("8 open times.")
                && !english.body.contains("an interpreter can join any")
                && !english.body.contains("Other times: an interpreter"),
            "{}",
            english.body
        );

        // The JSON API says the same, speakers first, each slot saying whether they speak it.
        let session = app.sign_in(&spanish).await;
        let slots: serde_json::Value = session
            .client
            .get(app.url(&format!(
                "/api/v1/slots?visit_type_id={}&patient_state=NY&language=es&from={}&to={}",
                clinic.video.id, clinic.day, clinic.day
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let speaks: Vec<bool> = slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["speaks_language"].as_bool().unwrap())
            .collect();
        assert_eq!(
            speaks,
            [true, true, false, false, false, false, false, false]
        );
        // With no language asked for, the flag is absent and the order is by time.
        let any: serde_json::Value = session
            .client
            .get(app.url(&format!(
                "/api/v1/slots?visit_type_id={}&patient_state=NY&from={}&to={}",
                clinic.video.id, clinic.day, clinic.day
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let first = &any["slots"][0];
        assert!(first.get("speaks_language").is_none(), "{first}");
        assert!(
            first["local_start"].as_str().unwrap().contains("T09:00"),
            "{first}"
        );
    }
);
