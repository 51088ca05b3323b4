//! The audit trail: every read and write recorded, searchable, exportable.

use domain::Clock;
use domain::identity::Role;
use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    every_patient_read_is_recorded_before_the_answer,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let patient = app.patient_record(&org, 0).await;
        let token = app.token(&org, "system/Patient.read").await;
        let (before, _) = app.store().audit_head().await.unwrap();
        for _ in 0..5 {
            let response = app
                .http
                .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        // Checked right after the answers: the records were durable before them.
        let reads = app
            .store()
            .search_audit(&domain::compliance::AuditQuery {
                patient_ids: vec![patient.id],
                action: Some(domain::compliance::AuditAction::PatientRead),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(reads.len(), 5);
        assert!(reads.iter().all(|r| r.seq > before
            && r.entry.actor.kind() == "client"
            && r.entry.source_ip.is_some()));
    }
);

on_both_backends!(
    auditors_search_by_user_patient_action_and_date_and_export_csv,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let other = app.org("Elsewhere").await;
        let auditor = app.staff(&org, Role::Auditor, &[]).await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let patient = app.patient_record(&org, 0).await;
        let _elsewhere = app.patient_record(&other, 0).await;
        let nurse_session = app.sign_in(&nurse).await;
        nurse_session
            .client
            .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
            .send()
            .await
            .unwrap();

        let session = app.sign_in(&auditor).await;
        let today = app
            .clock
            .now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .to_string();
        let url = format!(
            "/api/v1/audit?user={}&patient={}&action=patient.read&from={today}&to={today}",
            nurse.user.id, patient.id
        );
        let found: Value = session
            .client
            .get(app.url(&url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let records = found["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{found}");
        assert_eq!(records[0]["role"], "nurse");
        assert_eq!(records[0]["outcome"], "success");

        let all: Value = session
            .client
            .get(app.url("/api/v1/audit?limit=500"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            all["records"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["resource_id"] != other.org.id.to_string()),
            "another organization's records never show"
        );

        let csv = session
            .client
            .get(app.url(&url.replace("/api/v1/audit?", "/api/v1/audit/export?")))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200);
        assert!(
            csv.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = csv.text().await.unwrap();
        let mut lines = text.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("seq,at,actor_kind,actor_id,role,action")
        );
        assert_eq!(lines.count(), 1);

        for bad in ["?from=yesterday", "?action=patient.eat", "?patient=42"] {
            let response = session
                .client
                .get(app.url(&format!("/api/v1/audit{bad}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{bad}");
        }
        let nurse_search = nurse_session
            .client
            .get(app.url("/api/v1/audit"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(nurse_search).await.0,
            403,
            "nurses do not read the trail"
        );
    }
);

on_both_backends!(
    sign_in_events_are_audited_with_outcome,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let _ = app.password_step(&nurse.email, "wrong wrong wrong").await;
        let _ = app.sign_in(&nurse).await;
        let records = app
            .store()
            .search_audit(&domain::compliance::AuditQuery {
                actor_ids: vec![nurse.user.id.to_string()],
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        let seen: Vec<(&str, &str)> = records
            .iter()
            .map(|r| (r.entry.action.as_str(), r.entry.outcome.as_str()))
            .collect();
        assert!(seen.contains(&("sign_in.failure", "failure")), "{seen:?}");
        assert!(seen.contains(&("mfa.success", "success")), "{seen:?}");
    }
);
