//! Sign-in: second factor for staff, lockout, session lifetimes, integration tokens.

use domain::identity::Role;
use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    staff_sign_in_fails_without_the_second_factor,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let (client, status, body) = app.password_step(&clinician.email, PASSWORD).await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "mfa_required");
        // The half-session opens nothing.
        for path in ["/api/v1/me", "/api/v1/patients"] {
            let response = client.get(app.url(path)).send().await.unwrap();
            assert_eq!(
                error_code(response).await,
                (401, "mfa_required".into()),
                "{path}"
            );
        }
        let wrong = client
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": "000000" }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(wrong).await, (401, "invalid_mfa_code".into()));
        let right = client
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": app.code_now(&clinician) }))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200);
        let me: Value = client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "clinician");
    }
);

on_both_backends!(
    a_one_time_code_cannot_be_used_twice,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let code = app.code_now(&nurse);
        let (first, _, _) = app.password_step(&nurse.email, PASSWORD).await;
        let ok = first
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let (second, _, _) = app.password_step(&nurse.email, PASSWORD).await;
        let replay = second
            .post(app.url("/api/v1/session/code"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(replay).await, (401, "invalid_mfa_code".into()));
    }
);

on_both_backends!(
    the_account_locks_after_repeated_failures_and_unlocks_later,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        for attempt in 1..=5 {
            let (_, status, body) = app
                .password_step(&patient.email, "wrong password here")
                .await;
            let expected = if attempt < 5 {
                "invalid_credentials"
            } else {
                "account_locked"
            };
            assert_eq!(
                body["error"]["code"], expected,
                "attempt {attempt} ({status})"
            );
        }
        // Even the right password is refused while locked.
        let (_, status, body) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (423, Some("account_locked"))
        );
        let locked = app
            .store()
            .search_audit(&domain::compliance::AuditQuery {
                action: Some(domain::compliance::AuditAction::SignInLocked),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(!locked.is_empty(), "lockout is audited");
        app.clock.advance(SignedDuration::from_mins(16));
        let (_, status, body) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
    }
);

on_both_backends!(
    an_unknown_email_and_a_wrong_password_get_the_same_answer,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let (_, s1, b1) = app.password_step("nobody@example.org", PASSWORD).await;
        let (_, s2, b2) = app.password_step(&patient.email, "not the password").await;
        assert_eq!((s1, &b1), (s2, &b2));
    }
);

on_both_backends!(
    an_idle_session_expires_and_is_refused,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let session = app.sign_in(&patient).await;
        assert_eq!(
            session
                .client
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        app.clock.advance(SignedDuration::from_mins(14));
        assert_eq!(
            session
                .client
                .get(app.url("/api/v1/me"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "activity keeps it alive"
        );
        app.clock.advance(SignedDuration::from_mins(16));
        let expired = session
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(expired).await, (401, "session_expired".into()));
        // And it is gone for good, not just for one request.
        let again = session
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(again).await, (401, "unauthenticated".into()));
    }
);

on_both_backends!(
    a_session_ends_at_its_absolute_lifetime_even_when_active,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let session = app.sign_in(&patient).await;
        for _ in 0..(12 * 6 - 1) {
            app.clock.advance(SignedDuration::from_mins(10));
            assert_eq!(
                session
                    .client
                    .get(app.url("/api/v1/me"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                200
            );
        }
        app.clock.advance(SignedDuration::from_mins(10));
        let response = session
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response).await, (401, "session_expired".into()));
    }
);

on_both_backends!(
    signing_out_ends_the_session_on_the_server,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let session = app.sign_in(&patient).await;
        let cookie_before = session
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(cookie_before.status(), 200);
        let out = session
            .client
            .delete(app.url("/api/v1/session"))
            .header("x-csrf-token", &session.csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        let after = session
            .client
            .get(app.url("/api/v1/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(after.status(), 401);
    }
);

on_both_backends!(
    the_token_endpoint_follows_rfc_6749,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (client, secret) = server::auth::oauth::create_client(
            &app.state,
            &domain::access::Actor::operator(),
            org.org.id,
            "EHR bridge",
            "system/Patient.read",
        )
        .await
        .unwrap();
        let post = |user: String, pass: String, form: Vec<(&'static str, &'static str)>| {
            let http = app.http.clone();
            let url = app.url("/oauth/token");
            async move {
                http.post(url)
                    .basic_auth(user, Some(pass))
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let ok = post(
            client.id.to_string(),
            secret.clone(),
            vec![("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["cache-control"], "no-store");
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "system/Patient.read");
        assert_eq!(body["expires_in"], 900);

        let bad_secret = post(
            client.id.to_string(),
            "nope".into(),
            vec![("grant_type", "client_credentials")],
        )
        .await;
        assert_eq!(bad_secret.status(), 401);
        assert_eq!(
            bad_secret.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
        let bad_grant = post(
            client.id.to_string(),
            secret.clone(),
            vec![("grant_type", "password")],
        )
        .await;
        assert_eq!(
            bad_grant.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        let too_much = post(
            client.id.to_string(),
            secret.clone(),
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "system/Patient.write"),
            ],
        )
        .await;
        assert_eq!(too_much.status(), 400);
        assert_eq!(
            too_much.json::<Value>().await.unwrap()["error"],
            "invalid_scope"
        );

        // The client secret is stored only as a hash.
        let stored = app.store().get_client(client.id).await.unwrap().unwrap();
        assert!(stored.secret_hash != secret && stored.secret_hash.len() == 64);
        // Tokens are short-lived, and stored only as hashes.
        let token = body["access_token"].as_str().unwrap().to_string();
        assert!(
            app.store().get_token(&token).await.unwrap().is_none(),
            "the raw token is not a key in the store"
        );
        let me = app
            .http
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        app.clock.advance(SignedDuration::from_mins(16));
        let late = app
            .http
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(late).await, (401, "invalid_token".into()));
    }
);

on_both_backends!(totp_secrets_are_sealed_at_rest, |app: TestApp| async move {
    let org = app.org("Clinic").await;
    let nurse = app.staff(&org, Role::Nurse, &[0]).await;
    let plain = nurse.totp_secret.clone().unwrap();
    let stored = app
        .store()
        .get_credentials(nurse.user.id)
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.totp_secret.unwrap();
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(&plain),
        "stored: {sealed}"
    );
    assert!(stored.password_hash.starts_with("$argon2id$"));
    // And the sealed secret still signs the nurse in.
    let _ = app.sign_in(&nurse).await;
});

on_both_backends!(
    one_address_is_throttled_after_thirty_sign_in_attempts_a_minute,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        // Different unknown accounts: lockout cannot help here, the throttle must.
        for n in 0..30 {
            let (_, status, _) = app
                .password_step(&format!("guess{n}@example.org"), "password guess")
                .await;
            assert_eq!(status, 401, "attempt {n}");
        }
        let (_, status, body) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (429, Some("too_many_attempts"))
        );
        app.clock.advance(SignedDuration::from_secs(61));
        let (_, status, _) = app.password_step(&patient.email, PASSWORD).await;
        assert_eq!(status, 200);
    }
);
