//! Holes an outside probe found: administrators above their rank, return addresses that reach
//! a header, idle limits that never slide, and guessing at the token endpoint.

use domain::access::{Actor, Principal};
use domain::identity::Role;
use domain::scheduling::AppointmentStatus;
use jiff::SignedDuration;
use reqwest::StatusCode;
use server::config::ServeConfig;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::{Browser, book_first, browser_for, clinic};

async fn disable(browser: &Browser, user: &TestUser) -> StatusCode {
    let csrf = browser.get("/admin/users").await.csrf();
    browser
        .post(
            &format!("/admin/users/{}/active", user.user.id),
            &[("csrf", csrf.as_str()), ("active", "false")],
        )
        .await
        .status
}

async fn is_active(app: &TestApp, user: &TestUser) -> bool {
    app.store()
        .get_user(user.user.org_id, user.user.id)
        .await
        .unwrap()
        .unwrap()
        .active
}

on_both_backends!(
    a_site_administrator_cannot_disable_the_organization_administrator_of_their_site,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let site_admin = app.staff(&org, Role::SiteAdmin, &[0]).await;
        let org_admin = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let other_site_admin = app.staff(&org, Role::SiteAdmin, &[0]).await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let session = browser_for(&app, &site_admin).await;

        assert_eq!(disable(&session, &org_admin).await, 403);
        assert!(
            is_active(&app, &org_admin).await,
            "the administrator keeps access"
        );
        assert_eq!(disable(&session, &other_site_admin).await, 403);
        assert!(
            is_active(&app, &other_site_admin).await,
            "peers are not changed"
        );
        assert_eq!(disable(&session, &nurse).await, 303);
        assert!(!is_active(&app, &nurse).await, "staff below the role are");

        let admin_session = browser_for(&app, &org_admin).await;
        assert_eq!(disable(&admin_session, &site_admin).await, 303);
        assert!(!is_active(&app, &site_admin).await);
    }
);

on_both_backends!(
    the_last_active_organization_administrator_is_never_disabled,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let first = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let second = app.staff(&org, Role::OrgAdmin, &[0]).await;
        // The operator, acting inside the organization, is the one who may change administrators.
        let operator = Actor {
            org_id: Some(org.org.id),
            ..Actor::operator()
        };
        assert_eq!(operator.principal, Principal::Operator);
        let ctx = app.state.ctx();
        domain::identity::service::users::set_active(ctx, &operator, first.user.id, false)
            .await
            .expect("another administrator remains");
        let refused =
            domain::identity::service::users::set_active(ctx, &operator, second.user.id, false)
                .await;
        assert!(
            matches!(&refused, Err(domain::DomainError::Invalid(f)) if f.field == "active"),
            "{refused:?}"
        );
        assert!(is_active(&app, &second).await);
    }
);

on_both_backends!(
    a_return_address_with_a_line_break_is_refused_before_the_visit_is_cancelled,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (_, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let desk = app.staff(&clinic.org, Role::FrontDesk, &[0]).await;
        let b = browser_for(&app, &desk).await;
        let csrf = b.get(&format!("/appointments/{}", visit.id)).await.csrf();
        let cancel = format!("/appointments/{}/cancel", visit.id);
        for bad in [
            "/front-desk\r\nSet-Cookie: telemed_session=stolen",
            "/front-desk\nLocation: https://evil.example",
            "https://evil.example/front-desk",
            "//evil.example/front-desk",
            "/front-desk\u{7f}",
            "/elsewhere",
        ] {
            let page = b
                .post(
                    &cancel,
                    &[
                        ("csrf", csrf.as_str()),
                        ("cancelled_by", "clinic"),
                        ("back", bad),
                    ],
                )
                .await;
            assert_eq!(page.status, 400, "{bad:?}: {}", page.body);
            let stored = app
                .store()
                .get_appointment(clinic.org.org.id, visit.id)
                .await
                .unwrap()
                .unwrap();
            assert_ne!(stored.status, AppointmentStatus::Cancelled, "{bad:?}");
        }
        let back = format!("/front-desk?site={}", clinic.org.sites[0].id);
        let done = b
            .post(
                &cancel,
                &[
                    ("csrf", csrf.as_str()),
                    ("cancelled_by", "clinic"),
                    ("back", back.as_str()),
                ],
            )
            .await;
        assert_eq!(done.location, format!("{back}&done=cancelled"));
        let opened = b
            .get(&format!(
                "/appointments/{}?back=%2Ffront-desk%0D%0AX%3A1",
                visit.id
            ))
            .await;
        assert_eq!(opened.status, 400, "a link's return address is checked too");
    }
);

on_both_backends!(
    activity_slides_even_the_shortest_idle_limit,
    ServeConfig {
        session_idle_minutes: 1,
        ..ServeConfig::for_testing()
    },
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, patient) = app.patient_account(&org).await;
        let session = app.sign_in(&patient).await;
        let me = || session.client.get(app.url("/api/v1/me")).send();
        // Used every 15 seconds for five minutes under a one-minute idle limit.
        for step in 0..20 {
            app.clock.advance(SignedDuration::from_secs(15));
            let response = me().await.unwrap();
            assert_eq!(response.status(), 200, "after {}s", (step + 1) * 15);
        }
        app.clock.advance(SignedDuration::from_secs(61));
        assert_eq!(
            error_code(me().await.unwrap()).await,
            (401, "session_expired".into())
        );
    }
);

/// A client that connects from another loopback address (127.0.0.N), as another machine would.
fn from_address(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
        .build()
        .unwrap()
}

async fn token_status(
    app: &TestApp,
    http: &reqwest::Client,
    client_id: &str,
    secret: &str,
) -> (u16, Option<u64>) {
    let response = http
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (response.status().as_u16(), retry_after)
}

on_both_backends!(
    wrong_client_secrets_are_throttled_per_client_id_and_per_source_address,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let mut clients = Vec::new();
        for name in ["lab", "pharmacy"] {
            let (client, secret) = server::auth::oauth::create_client(
                &app.state,
                &Actor::operator(),
                org.org.id,
                name,
                "system/Patient.read",
            )
            .await
            .unwrap();
            clients.push((client.id.to_string(), secret));
        }
        let (lab, lab_secret) = &clients[0];
        let (pharmacy, pharmacy_secret) = &clients[1];
        let guesser = from_address(2);
        let limit = app.state.config.token_failures_per_minute;
        for attempt in 0..limit {
            let (status, _) = token_status(&app, &guesser, lab, "a wrong guess").await;
            assert_eq!(status, 401, "attempt {attempt}");
        }
        let (status, retry_after) = token_status(&app, &guesser, lab, "a wrong guess").await;
        assert_eq!(status, 429);
        assert!(matches!(retry_after, Some(1..=60)), "{retry_after:?}");
        // The right secret is refused too while the client id is blocked, from anywhere.
        let elsewhere = from_address(3);
        assert_eq!(token_status(&app, &elsewhere, lab, lab_secret).await.0, 429);
        // The guessing address is blocked for every client; another address is not.
        assert_eq!(
            token_status(&app, &guesser, pharmacy, pharmacy_secret)
                .await
                .0,
            429
        );
        assert_eq!(
            token_status(&app, &elsewhere, pharmacy, pharmacy_secret)
                .await
                .0,
            200
        );
        app.clock.advance(SignedDuration::from_secs(61));
        assert_eq!(token_status(&app, &elsewhere, lab, lab_secret).await.0, 200);
        assert_eq!(token_status(&app, &guesser, lab, lab_secret).await.0, 200);
    }
);
