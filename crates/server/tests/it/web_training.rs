//! Training through the web pages with plain form posts: a nurse takes the pre-test, reads the
//! modules and passes the post-test; the program manager sees coverage, exports CSV and grants
//! an exception.

use domain::access::Actor;
use domain::identity::Role;
use domain::training::service as training;
use domain::training::template;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::browser_for;

on_both_backends!(
    a_nurse_passes_the_course_in_the_browser_and_the_program_manager_sees_it,
    |app: TestApp| async move {
        let org = app.org("Riverside").await;
        let operator = Actor {
            org_id: Some(org.org.id),
            ..Actor::operator()
        };
        let course = training::create_course_in(
            app.state.ctx(),
            &operator,
            org.org.id,
            &template::telehealth_competency(),
        )
        .await
        .unwrap();
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let nurse_browser = browser_for(&app, &nurse).await;
        let browser = &nurse_browser;

        let page = browser.get("/training").await;
        assert_eq!(page.status, StatusCode::OK);
        page.assert_no_inline_code();
        assert!(page.body.contains("Not certified"), "{}", page.body);
        let href = page.link("/training/enrolments/");
        let page = browser.get(&href).await;
        assert!(page.body.contains("Pre-test"));
        let csrf = page.csrf();
        let action = format!("{href}/tests/pre");
        // An unanswered question is pointed at; nothing is written.
        let refused = browser.post(&action, &[("csrf", &csrf), ("q0", "1")]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("Choose an answer."));
        let pre: Vec<(String, String)> =
            (0..8).map(|i| (format!("q{i}"), "0".to_string())).collect();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(pre.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        browser
            .post(&action, &form)
            .await
            .assert_redirect_starts(&href);
        for i in 0..course.modules.len() {
            let done = browser
                .post(&format!("{href}/modules/{i}"), &[("csrf", &csrf)])
                .await;
            done.assert_redirect_starts(&href);
        }
        let page = browser.get(&href).await;
        assert!(page.body.contains("Post-test"), "{}", page.body);
        let answers: Vec<(String, String)> = course
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| (format!("q{i}"), q.answer.to_string()))
            .collect();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend(answers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let done = browser.post(&format!("{href}/tests/post"), &form).await;
        let page = browser.follow(&done).await;
        assert!(page.body.contains("Post-test: 100%"), "{}", page.body);
        let page = browser.get("/training").await;
        assert!(page.body.contains("valid until"), "{}", page.body);

        // The program manager: coverage (the nurse certified, the clinician not), CSV, exception.
        let pm = app.staff(&org, Role::ProgramManager, &[0]).await;
        let browser = browser_for(&app, &pm).await;
        let page = browser.get("/training/records").await;
        assert_eq!(page.status, StatusCode::OK);
        page.assert_no_inline_code();
        assert!(
            page.body.contains("1 of 2"),
            "coverage at site 0: {}",
            page.body
        );
        let csv = browser.get("/training/records.csv").await;
        assert!(csv.body.starts_with("\"name\",\"email\",\"role\""));
        assert!(
            csv.body.contains(&format!("\"{}\"", nurse.email)) && csv.body.contains("\"passed\""),
            "{}",
            csv.body
        );
        let csrf = page.csrf();
        let clinician_id = clinician.user.id.to_string();
        let refused = browser
            .post(
                "/training/exceptions",
                &[
                    ("csrf", &csrf),
                    ("clinician_id", &clinician_id),
                    ("reason", ""),
                    ("until", "2099-01-01"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let until = app.clock_now_plus_days(10);
        let granted = browser
            .post(
                "/training/exceptions",
                &[
                    ("csrf", &csrf),
                    ("clinician_id", &clinician_id),
                    ("reason", "Locum cover"),
                    ("until", &until),
                ],
            )
            .await;
        granted.assert_redirect_starts("/training/records?done=exception");
        let page = browser.follow(&granted).await;
        assert!(
            page.body.contains("Working under an exception"),
            "{}",
            page.body
        );
        // Staff cannot open the records.
        let page = nurse_browser.get("/training/records").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
    }
);

impl TestApp {
    fn clock_now_plus_days(&self, days: i64) -> String {
        use domain::Clock;
        self.clock
            .now()
            .checked_add(jiff::SignedDuration::from_hours(24 * days))
            .unwrap()
            .strftime("%Y-%m-%d")
            .to_string()
    }
}
