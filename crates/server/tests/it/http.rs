//! HTTP behaviour: the error body, bad input, limits, headers, OpenAPI, health.

use domain::identity::Role;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

async fn post_patient(app: &TestApp, token: &str, body: reqwest::Body) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/patients"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

on_both_backends!(
    bad_patient_input_gets_a_precise_4xx_and_writes_nothing,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let token = app.token(&org, "system/*.read system/*.write").await;
        let site = org.sites[0].id.to_string();
        let head_before = app.store().audit_head().await.unwrap();

        let malformed = post_patient(&app, &token, "{\"mrn\": ".into()).await;
        assert_eq!(error_code(malformed).await, (400, "malformed_json".into()));

        let cases: Vec<(Value, &str)> = vec![
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["nickname"] = json!("x");
                    b
                },
                "nickname",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["birth_date"] = json!(19761209);
                    b
                },
                "birth_date",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["birth_date"] = json!("1976-13-45");
                    b
                },
                "birth_date",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["birth_date"] = json!("2999-01-01");
                    b
                },
                "birth_date",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["address"]["state"] = json!("ZZ");
                    b
                },
                "state",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["sex"] = json!("robot");
                    b
                },
                "sex",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["email"] = json!("not-an-email");
                    b
                },
                "email",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["given_name"] = json!("  ");
                    b
                },
                "given_name",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b["primary_site_id"] = json!("nope");
                    b
                },
                "primary_site_id",
            ),
            (
                {
                    let mut b = patient_json(&site, "M-1");
                    b.as_object_mut().unwrap().remove("mrn");
                    b
                },
                "mrn",
            ),
        ];
        for (body, field) in cases {
            let response = post_patient(&app, &token, body.to_string().into()).await;
            let status = response.status().as_u16();
            let error: Value = response.json().await.unwrap();
            assert_eq!(status, 422, "{field}: {error}");
            let message = error["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(field),
                "the message names {field}: {message}"
            );
        }
        assert_eq!(
            app.store().count_patients(org.org.id).await.unwrap(),
            0,
            "nothing was written"
        );
        let head_after = app.store().audit_head().await.unwrap();
        assert_eq!(
            head_before, head_after,
            "no audit record for refused writes"
        );
    }
);

on_both_backends!(
    a_duplicate_mrn_is_a_conflict_and_a_duplicate_in_another_organization_is_fine,
    |app: TestApp| async move {
        let a = app.org("A").await;
        let b = app.org("B").await;
        let token_a = app.token(&a, "system/*.read system/*.write").await;
        let token_b = app.token(&b, "system/*.write").await;
        let body = patient_json(&a.sites[0].id.to_string(), "MRN-DUP");
        assert_eq!(
            post_patient(&app, &token_a, body.to_string().into())
                .await
                .status(),
            201
        );
        let again = post_patient(&app, &token_a, body.to_string().into()).await;
        let (status, code) = error_code(again).await;
        assert_eq!((status, code.as_str()), (409, "conflict"));
        assert_eq!(app.store().count_patients(a.org.id).await.unwrap(), 1);
        let other_org = post_patient(
            &app,
            &token_b,
            patient_json(&b.sites[0].id.to_string(), "MRN-DUP")
                .to_string()
                .into(),
        )
        .await;
        assert_eq!(other_org.status(), 201);
    }
);

on_both_backends!(
    an_oversize_body_is_refused_with_413,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let token = app.token(&org, "system/*.write").await;
        let mut body = patient_json(&org.sites[0].id.to_string(), "MRN-BIG");
        body["given_name"] = json!("x".repeat(100_000));
        let response = post_patient(&app, &token, body.to_string().into()).await;
        assert_eq!(
            error_code(response).await,
            (413, "payload_too_large".into())
        );
    }
);

on_both_backends!(
    malformed_ids_and_unknown_routes_are_404_in_the_error_format,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let token = app.token(&org, "system/*.read").await;
        for path in [
            "/api/v1/patients/not-a-uuid",
            "/api/v1/patients/00000000-0000-0000-0000-000000000000",
            "/api/v1/nothing",
        ] {
            let response = app
                .http
                .get(app.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_code(response).await,
                (404, "not_found".into()),
                "{path}"
            );
        }
        let bad_query = app
            .http
            .get(app.url("/api/v1/patients?limit=many"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(bad_query).await.0, 400);
        let no_auth = app
            .http
            .get(app.url("/api/v1/patients"))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(no_auth).await, (401, "unauthenticated".into()));
        let bad_auth = app
            .http
            .get(app.url("/api/v1/patients"))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(bad_auth).await.0, 400);
    }
);

on_both_backends!(
    a_cookie_session_must_send_the_csrf_token_to_write,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let session = app.sign_in(&admin).await;
        let body = patient_json(&org.sites[0].id.to_string(), "MRN-CSRF");
        let without = session
            .client
            .post(app.url("/api/v1/patients"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(without).await, (403, "csrf_failed".into()));
        let with = session
            .client
            .post(app.url("/api/v1/patients"))
            .header("x-csrf-token", &session.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(with.status(), 201);
    }
);

on_both_backends!(
    every_response_carries_the_security_headers_and_a_request_id,
    |app: TestApp| async move {
        for path in ["/healthz", "/api/v1/patients", "/signin", "/nowhere"] {
            let response = app.http.get(app.url(path)).send().await.unwrap();
            let headers = response.headers();
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
                "{path}: {csp}"
            );
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert!(headers.contains_key("x-request-id"), "{path}");
            assert!(
                !headers.contains_key("strict-transport-security"),
                "no HSTS without TLS"
            );
        }
    }
);

on_both_backends!(
    health_readiness_and_metrics_answer,
    |app: TestApp| async move {
        assert_eq!(
            app.http
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let ready: Value = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["status"], "ok");
        let metrics = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("telemed_http_requests_total{status=\"2xx\"}"),
            "{metrics}"
        );
        assert!(metrics.contains("telemed_http_request_duration_seconds_bucket"));
    }
);

on_both_backends!(
    the_openapi_document_lists_every_json_endpoint,
    |app: TestApp| async move {
        let doc: Value = app
            .http
            .get(app.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for (path, method) in [
            ("/api/v1/patients", "post"),
            ("/api/v1/patients", "get"),
            ("/api/v1/patients/{id}", "get"),
            ("/api/v1/patients/{id}", "put"),
            ("/api/v1/patients/{id}/break-glass", "post"),
            ("/api/v1/session", "post"),
            ("/api/v1/session", "delete"),
            ("/api/v1/session/code", "post"),
            ("/api/v1/me", "get"),
            ("/api/v1/sites", "get"),
            ("/api/v1/sites", "post"),
            ("/api/v1/users", "get"),
            ("/api/v1/users", "post"),
            ("/api/v1/users/{id}", "get"),
            ("/api/v1/audit", "get"),
            ("/api/v1/audit/export", "get"),
            ("/api/v1/break-glass", "get"),
            ("/api/v1/break-glass/{id}/review", "post"),
            ("/oauth/token", "post"),
            ("/healthz", "get"),
            ("/readyz", "get"),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} is documented"
            );
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        // Operation ids must be unique across the document (OpenAPI requires it; clients use
        // them as method names).
        let mut operation_ids = std::collections::HashMap::new();
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap_or_default();
                let earlier = operation_ids.insert(id.to_owned(), format!("{method} {path}"));
                assert!(
                    earlier.is_none(),
                    "operationId {id:?} is used by {earlier:?} and by {method} {path}"
                );
            }
        }
        // Every response is described (OpenAPI requires it) and list filters are query parameters.
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let description = response["description"].as_str().unwrap_or("");
                    assert!(
                        !description.is_empty(),
                        "{method} {path} {status} has a description"
                    );
                }
            }
        }
        let list_params = doc["paths"]["/api/v1/patients"]["get"]["parameters"]
            .as_array()
            .unwrap();
        assert!(
            list_params.iter().all(|p| p["in"] == "query"),
            "{list_params:?}"
        );
    }
);
