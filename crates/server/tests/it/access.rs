//! Access control: tenants, patients' own records, roles, and emergency access.

use domain::identity::Role;
use serde_json::{Value, json};

use crate::clinic::post;
use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_user_of_one_organization_gets_404_for_every_patient_of_another,
    |app: TestApp| async move {
        let a = app.org("Org A").await;
        let b = app.org("Org B").await;
        let admin_a = app.staff(&a, Role::OrgAdmin, &[0, 1]).await;
        let session = app.sign_in(&admin_a).await;
        let token_a = app.token(&a, "system/*.read system/*.write").await;
        let mut b_patients = Vec::new();
        for site in [0, 1, 0] {
            b_patients.push(app.patient_record(&b, site).await);
        }
        for patient in &b_patients {
            let path = format!("/api/v1/patients/{}", patient.id);
            let by_session = session.client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(error_code(by_session).await, (404, "not_found".into()));
            let by_token = app
                .http
                .get(app.url(&path))
                .bearer_auth(&token_a)
                .send()
                .await
                .unwrap();
            assert_eq!(error_code(by_token).await, (404, "not_found".into()));
            let update = app
                .http
                .put(app.url(&path))
                .bearer_auth(&token_a)
                .json(&patient_json(&a.sites[0].id.to_string(), "MRN-X1"))
                .send()
                .await
                .unwrap();
            assert_eq!(error_code(update).await.0, 404);
        }
        let listed: Value = app
            .http
            .get(app.url("/api/v1/patients"))
            .bearer_auth(&token_a)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            listed["patients"].as_array().map(Vec::len),
            Some(0),
            "org A sees none of org B's patients"
        );
        // And B's data is unchanged.
        let still = app
            .store()
            .get_patient(b.org.id, b_patients[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(still, b_patients[0]);
    }
);

on_both_backends!(
    a_patient_reads_their_own_record_and_gets_404_for_another_patient,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (own, account) = app.patient_account(&org).await;
        let other = app.patient_record(&org, 0).await;
        let session = app.sign_in(&account).await;
        let mine = session
            .client
            .get(app.url(&format!("/api/v1/patients/{}", own.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(mine.status(), 200);
        let body: Value = mine.json().await.unwrap();
        assert_eq!(body["id"], own.id.to_string());
        let theirs = session
            .client
            .get(app.url(&format!("/api/v1/patients/{}", other.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(theirs).await, (404, "not_found".into()));
        let list = session
            .client
            .get(app.url("/api/v1/patients"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(list).await.0,
            403,
            "patients cannot list patients"
        );
    }
);

on_both_backends!(
    break_glass_needs_a_reason_and_is_flagged_in_the_audit_trail,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let auditor = app.staff(&org, Role::Auditor, &[]).await;
        let outside = app.patient_record(&org, 1).await;
        let session = app.sign_in(&clinician).await;
        let path = format!("/api/v1/patients/{}", outside.id);

        let refused = session.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(
            error_code(refused).await,
            (403, "break_glass_required".into())
        );

        for reason in ["", "because"] {
            let response = session
                .client
                .post(app.url(&format!("{path}/break-glass")))
                .header("x-csrf-token", &session.csrf)
                .json(&json!({ "reason": reason }))
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_code(response).await,
                (422, "validation_failed".into()),
                "reason {reason:?}"
            );
        }
        let granted = session
            .client
            .post(app.url(&format!("{path}/break-glass")))
            .header("x-csrf-token", &session.csrf)
            .json(&json!({ "reason": "Patient unconscious in ED, need allergy history" }))
            .send()
            .await
            .unwrap();
        assert_eq!(granted.status(), 201);
        let opened = session.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(opened.status(), 200);

        let auditor_session = app.sign_in(&auditor).await;
        let flagged: Value = auditor_session
            .client
            .get(app.url(&format!(
                "/api/v1/audit?patient={}&flagged=true",
                outside.id
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let actions: Vec<&str> = flagged["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert!(actions.contains(&"break_glass.granted"), "{actions:?}");
        assert!(
            actions.contains(&"patient.read"),
            "the read through emergency access is flagged: {actions:?}"
        );
        let grant = flagged["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "break_glass.granted")
            .unwrap();
        assert_eq!(
            grant["detail"],
            "Patient unconscious in ED, need allergy history"
        );
        assert_eq!(grant["actor_id"], clinician.user.id.to_string());

        let queue: Value = auditor_session
            .client
            .get(app.url("/api/v1/break-glass"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(queue["grants"].as_array().map(Vec::len), Some(1));
        // The review needs the reviewer's finding; a blank one is refused and marks nothing.
        let review = format!(
            "/api/v1/break-glass/{}/review",
            queue["grants"][0]["id"].as_str().unwrap()
        );
        let (status, body) = post(&app, &auditor_session, &review, json!({"comment": " "})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("validation_failed")),
            "{body}"
        );
        let (status, _) = post(
            &app,
            &auditor_session,
            &review,
            json!({"comment": "Confirmed with the ED rota"}),
        )
        .await;
        assert_eq!(status, 204);

        // The grant runs out.
        app.clock.advance(jiff::SignedDuration::from_mins(61));
        let again = app.sign_in(&clinician).await;
        let expired = again.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(
            error_code(expired).await,
            (403, "break_glass_required".into())
        );
    }
);

on_both_backends!(
    only_clinicians_may_break_the_glass,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let desk = app.staff(&org, Role::FrontDesk, &[0]).await;
        let outside = app.patient_record(&org, 1).await;
        let session = app.sign_in(&desk).await;
        let response = session
            .client
            .post(app.url(&format!("/api/v1/patients/{}/break-glass", outside.id)))
            .header("x-csrf-token", &session.csrf)
            .json(&json!({ "reason": "I would like to see this record please" }))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response).await, (403, "forbidden".into()));
        let read = session
            .client
            .get(app.url(&format!("/api/v1/patients/{}", outside.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(read).await, (403, "forbidden".into()));
    }
);

on_both_backends!(
    roles_without_patient_access_are_refused,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let patient = app.patient_record(&org, 0).await;
        for role in [Role::ProgramManager, Role::Auditor] {
            let user = app.staff(&org, role, &[0]).await;
            let session = app.sign_in(&user).await;
            let read = session
                .client
                .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
                .send()
                .await
                .unwrap();
            assert_eq!(error_code(read).await.0, 403, "{role:?} read");
            let list = session
                .client
                .get(app.url("/api/v1/patients"))
                .send()
                .await
                .unwrap();
            assert_eq!(error_code(list).await.0, 403, "{role:?} list");
        }
    }
);

on_both_backends!(a_read_only_token_cannot_write, |app: TestApp| async move {
    let org = app.org("Clinic").await;
    let token = app.token(&org, "system/Patient.read").await;
    let response = app
        .http
        .post(app.url("/api/v1/patients"))
        .bearer_auth(&token)
        .json(&patient_json(&org.sites[0].id.to_string(), "MRN-RO1"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, (403, "forbidden".into()));
    assert_eq!(app.store().count_patients(org.org.id).await.unwrap(), 0);
});

on_both_backends!(
    staff_list_only_the_patients_of_their_sites,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let here = app.patient_record(&org, 0).await;
        let _there = app.patient_record(&org, 1).await;
        let session = app.sign_in(&nurse).await;
        let listed: Value = session
            .client
            .get(app.url("/api/v1/patients"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = listed["patients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![here.id.to_string().as_str()]);
    }
);
