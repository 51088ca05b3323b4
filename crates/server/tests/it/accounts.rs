//! A person's own account through the pages: a patient's contact details and language, changing
//! one's password, and resetting a forgotten one by an emailed link (real SMTP, to a capture
//! server on loopback).

use domain::compliance::{AuditAction, AuditQuery, Outcome};
use domain::identity::Role;
use jiff::SignedDuration;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp::{SmtpCapture, readable};
use crate::web_scheduling::{Browser, Page, browser_for};

const NEW_PASSWORD: &str = "a different long passphrase";

/// A browser nobody has signed in with.
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

/// The app again, with email sent to a capture server.
async fn with_mail(first: &TestApp) -> (TestApp, SmtpCapture) {
    let smtp = SmtpCapture::start().await;
    let config = server::config::ServeConfig {
        smtp_url: Some(smtp.url().parse().unwrap()),
        public_url: Some("https://telemed.riverside.example".into()),
        ..server::config::ServeConfig::for_testing()
    };
    let backend = if first.database_url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    (TestApp::spawn_with(backend, config).await, smtp)
}

async fn ask_for_reset(browser: &Browser, email: &str) -> Page {
    let form = browser.get("/signin/forgot").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    form.assert_no_inline_code();
    browser
        .post(
            "/signin/forgot",
            &[("csrf", &form.csrf()), ("email", email)],
        )
        .await
}

/// Waits for the `n`th message (they are sent in the background) and returns every message.
async fn messages(smtp: &SmtpCapture, n: usize) -> Vec<crate::smtp::Captured> {
    for _ in 0..100 {
        if smtp.messages().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    smtp.messages()
}

/// The path of the reset link in an email.
fn reset_path(data: &str) -> String {
    let text = readable(data);
    let start = text
        .find("https://telemed.riverside.example/signin/reset/")
        .unwrap_or_else(|| panic!("no reset link in {text}"))
        + "https://telemed.riverside.example".len();
    let end = text[start..]
        .find(|c: char| c.is_whitespace())
        .map_or(text.len(), |i| i + start);
    text[start..end].to_string()
}

async fn choose(browser: &Browser, path: &str, new: &str, again: &str) -> Page {
    let form = browser.get(path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    browser
        .post(
            path,
            &[
                ("csrf", &form.csrf()),
                ("new_password", new),
                ("confirm_password", again),
            ],
        )
        .await
}

on_both_backends!(
    a_forgotten_password_is_reset_once_by_an_emailed_link_stored_only_as_a_hash,
    |first: TestApp| async move {
        let (app, smtp) = with_mail(&first).await;
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let browser = anonymous(&app);
        let sent = ask_for_reset(&browser, &patient.email).await;
        assert_eq!(sent.status, StatusCode::OK);
        assert!(sent.body.contains("Check your email"), "{}", sent.body);
        let mail = messages(&smtp, 1).await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].to, vec![format!("<{}>", patient.email)]);
        let path = reset_path(&mail[0].data);
        let token = path.trim_start_matches("/signin/reset/");
        // Only the token's hash is in the database.
        let count = |value: String| {
            let url = app.database_url.clone();
            async move {
                store::testing::query_i64(
                    &url,
                    &format!("SELECT COUNT(*) FROM password_resets WHERE token_hash = '{value}'"),
                )
                .await
                .unwrap()
            }
        };
        assert_eq!(count(token.to_string()).await, 0);
        assert_eq!(count(server::auth::secrets::sha256_hex(token)).await, 1);

        // Opening the link uses nothing (mail scanners open links); a refused form neither.
        assert_eq!(browser.get(&path).await.status, StatusCode::OK);
        let mismatch = choose(&browser, &path, NEW_PASSWORD, "something else entirely").await;
        assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            mismatch.body.contains("does not match"),
            "{}",
            mismatch.body
        );
        let short = choose(&browser, &path, "short", "short").await;
        assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            short.body.contains("at least 12 characters"),
            "{}",
            short.body
        );

        let done = choose(&browser, &path, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location, "/signin?reset=1");
        let (_, old, _) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(old, 401);
        let (_, new, body) = app.password_step(&patient.email, NEW_PASSWORD).await;
        assert_eq!(new, 200, "{body}");

        // Once only.
        let again = browser.get(&path).await;
        assert_eq!(again.status, StatusCode::GONE);
        assert!(again.body.contains("expired or was already used"));
        let form = anonymous(&app).get("/signin/forgot").await;
        let reuse = browser
            .post(
                &path,
                &[
                    ("csrf", &form.csrf()),
                    ("new_password", "yet another long passphrase"),
                    ("confirm_password", "yet another long passphrase"),
                ],
            )
            .await;
        assert!(reuse.status == StatusCode::GONE || reuse.status == StatusCode::FORBIDDEN);
        let (_, still, _) = app.password_step(&patient.email, NEW_PASSWORD).await;
        assert_eq!(still, 200);

        let done = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::PasswordResetCompleted),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].entry.resource_id, Some(patient.user.id.to_string()));
    }
);

on_both_backends!(
    asking_for_a_reset_answers_alike_whether_or_not_the_account_exists,
    |first: TestApp| async move {
        let (app, smtp) = with_mail(&first).await;
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let unknown = "nobody-here@example.org";
        let known = ask_for_reset(&anonymous(&app), &patient.email).await;
        let missing = ask_for_reset(&anonymous(&app), unknown).await;
        assert_eq!(known.status, missing.status);
        let strip_csrf = |page: &Page, email: &str| page.body.replace(email, "EMAIL");
        assert_eq!(
            strip_csrf(&known, &patient.email),
            strip_csrf(&missing, unknown)
        );
        let mail = messages(&smtp, 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(smtp.messages().len(), 1, "only the real account gets mail");
        assert!(!mail[0].data.contains(unknown));
        // The attempt on the unknown address is on record.
        let refused = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::PasswordResetRequested),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(refused.len(), 2);
        assert!(
            refused
                .iter()
                .any(|r| r.entry.outcome == Outcome::Failure && r.entry.resource_id.is_none())
        );
        // A blank address is named.
        let blank = ask_for_reset(&anonymous(&app), "").await;
        assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(blank.body.contains("f-email"), "{}", blank.body);
    }
);

on_both_backends!(
    reset_links_expire_and_an_account_is_sent_three_an_hour,
    |first: TestApp| async move {
        let (app, smtp) = with_mail(&first).await;
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        for _ in 0..4 {
            let page = ask_for_reset(&anonymous(&app), &patient.email).await;
            assert_eq!(
                page.status,
                StatusCode::OK,
                "same answer when over the allowance"
            );
        }
        let mail = messages(&smtp, 3).await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(smtp.messages().len(), 3);
        let path = reset_path(&mail[0].data);
        app.clock.advance(SignedDuration::from_mins(31));
        let late = anonymous(&app).get(&path).await;
        assert_eq!(late.status, StatusCode::GONE);
        // An hour on, the allowance is back.
        app.clock.advance(SignedDuration::from_mins(30));
        ask_for_reset(&anonymous(&app), &patient.email).await;
        assert_eq!(messages(&smtp, 4).await.len(), 4);
    }
);

on_both_backends!(
    staff_keep_their_second_factor_through_a_reset_and_are_signed_out_everywhere,
    |first: TestApp| async move {
        let (app, smtp) = with_mail(&first).await;
        let org = app.org("Clinic").await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let signed_in = browser_for(&app, &nurse).await;
        assert_eq!(signed_in.get("/me").await.status, StatusCode::OK);
        ask_for_reset(&anonymous(&app), &nurse.email).await;
        let path = reset_path(&messages(&smtp, 1).await[0].data);
        let done = choose(&anonymous(&app), &path, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        // The session opened with the old password is over.
        assert_ne!(signed_in.get("/me").await.status, StatusCode::OK);
        let (_, status, body) = app.password_step(&nurse.email, NEW_PASSWORD).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "mfa_required", "{body}");
    }
);

on_both_backends!(
    a_patient_changes_contact_details_and_language_but_not_their_name,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (record, patient) = app.patient_account(&org).await;
        let browser = browser_for(&app, &patient).await;
        let form = browser.get("/me/contact").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        form.assert_no_inline_code();
        assert!(form.body.contains(&record.address.city));
        let csrf = form.csrf();
        let fields = |zip: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("email", "new.address@example.org".to_string()),
                ("phone", "+1 518 555 0199".to_string()),
                ("address_line1", "12 River Road".to_string()),
                ("city", "Troy".to_string()),
                ("state", "NY".to_string()),
                ("postal_code", zip.to_string()),
                ("preferred_language", "es".to_string()),
                ("given_name", "Mallory".to_string()),
            ]
        };
        let bad = fields("ABCDE");
        let refused = browser
            .post(
                "/me/contact",
                &bad.iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body.contains("ZIP code must be a US ZIP code"),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("12 River Road"),
            "what was typed is kept"
        );
        let unchanged = app
            .store()
            .get_patient(org.org.id, record.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unchanged, record, "nothing written");

        let good = fields("12180");
        let saved = browser
            .post(
                "/me/contact",
                &good
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        assert_eq!(saved.location, "/me?done=contact");
        let after = app
            .store()
            .get_patient(org.org.id, record.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.address.city, "Troy");
        assert_eq!(after.preferred_language, "es");
        assert_eq!(after.email.unwrap().as_str(), "new.address@example.org");
        assert_eq!(
            after.given_name, record.given_name,
            "the name stays the clinic's"
        );
        let me = browser.follow(&saved).await;
        assert!(me.body.contains("Your contact details are saved."));
        let audit = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::PatientUpdate),
                patient_ids: vec![record.id],
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);

        // Without the form's token nothing is written.
        let forged = browser
            .post("/me/contact", &[("city", "Elsewhere"), ("state", "NY")])
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Staff have no such page: their details are the administrator's to change.
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let staff = browser_for(&app, &nurse).await;
        assert_eq!(staff.get("/me/contact").await.status, StatusCode::NOT_FOUND);
    }
);

on_both_backends!(
    changing_a_password_needs_the_current_one_and_signs_out_other_devices,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let here = browser_for(&app, &patient).await;
        let elsewhere = browser_for(&app, &patient).await;
        let form = here.get("/me/password").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        let wrong = here
            .post(
                "/me/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", "not my password at all"),
                    ("new_password", NEW_PASSWORD),
                    ("confirm_password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            wrong.body.contains("is not your current password"),
            "{}",
            wrong.body
        );
        let creds = app
            .store()
            .get_credentials(patient.user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            creds.failed_attempts, 1,
            "a wrong current password counts as a failure"
        );

        let done = here
            .post(
                "/me/password",
                &[
                    ("csrf", &csrf),
                    ("current_password", PASSWORD),
                    ("new_password", NEW_PASSWORD),
                    ("confirm_password", NEW_PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location, "/me?done=password");
        assert_eq!(
            here.get("/me").await.status,
            StatusCode::OK,
            "this device stays"
        );
        assert_ne!(
            elsewhere.get("/me").await.status,
            StatusCode::OK,
            "others are out"
        );
        let (_, old, _) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(old, 401);
        let (_, new, _) = app.password_step(&patient.email, NEW_PASSWORD).await;
        assert_eq!(new, 200);
        let changed = app
            .store()
            .search_audit(&AuditQuery {
                action: Some(AuditAction::PasswordChanged),
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            changed
                .iter()
                .filter(|r| r.entry.outcome == Outcome::Success)
                .count(),
            1
        );
    }
);
