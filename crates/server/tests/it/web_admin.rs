//! Administrators administer: edit an account (name, role, sites, licenses, NPI), find accounts,
//! clear an authenticator or send a password reset link, edit a site with its state and time zone
//! chosen from lists, and link a patient account to its record by the patient's name.

use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::Role;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::browser_for;

async fn last_detail(app: &TestApp, action: AuditAction) -> String {
    let found = app
        .store()
        .search_audit(&AuditQuery {
            action: Some(action),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    found
        .first()
        .and_then(|r| r.entry.detail.clone())
        .unwrap_or_default()
}

on_both_backends!(
    an_administrator_edits_a_clinicians_account_and_a_refused_edit_changes_nothing,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let web = browser_for(&app, &admin).await;
        let path = format!("/admin/users/{}", clinician.user.id);

        // The list finds them by part of their email and links to their page.
        let email_part = &clinician.email[..16];
        let list = web.get(&format!("/admin/users?q={email_part}")).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(
            list.body.contains(&format!("href=\"{path}\"")),
            "{}",
            list.body
        );
        assert!(
            !list.body.contains(&admin.email),
            "only the match is listed"
        );
        let none = web.get("/admin/users?q=nobody-by-this-name").await;
        assert!(none.body.contains("Nobody matches."));

        let form = web.get(&path).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(
            form.body.contains("value=\"1234567893\""),
            "the NPI is filled in"
        );
        assert!(
            form.body.contains("value=\"NY-1\""),
            "the license is filled in"
        );
        let csrf = form.csrf();
        let north = org.sites[0].id.to_string();
        let west = org.sites[1].id.to_string();

        // Everything wrong at once: each said beside its field, nothing changed.
        let refused = web
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("display_name", " "),
                    ("role", "clinician"),
                    ("site_ids", &north),
                    ("npi", "1234567893"),
                    ("licenses[0].state", "NY"),
                    ("licenses[0].number", "NY-1"),
                    ("licenses[0].expires_on", "soon"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body.contains("href=\"#f-display_name\""),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains("href=\"#f-licenses-0-expires_on\""),
            "{}",
            refused.body
        );
        let stored = app
            .store()
            .get_user(org.org.id, clinician.user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.display_name, clinician.user.display_name);

        let saved = web
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("display_name", "Dr. Maya Adams"),
                    ("role", "clinician"),
                    ("site_ids", &north),
                    ("site_ids", &west),
                    ("npi", "1234567893"),
                    ("languages", "en, es"),
                    ("licenses[0].state", "NY"),
                    ("licenses[0].number", "NY-1"),
                    ("licenses[0].expires_on", "2030-01-01"),
                    ("licenses[1].state", "CA"),
                    ("licenses[1].number", "CA-77"),
                    ("licenses[1].expires_on", "2028-06-30"),
                ],
            )
            .await;
        saved.assert_redirect_starts("/admin/users?done=updated");
        let stored = app
            .store()
            .get_user(org.org.id, clinician.user.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.display_name, "Dr. Maya Adams");
        assert_eq!(stored.site_ids.len(), 2);
        let profile = stored.clinician.unwrap();
        assert_eq!(profile.licenses.len(), 2);
        assert_eq!(profile.languages, ["en", "es"]);
        assert_eq!(
            last_detail(&app, AuditAction::UserUpdate).await,
            "changed: name, sites, clinician profile"
        );
        // A role above the administrator's own is refused beside the role.
        let above = web
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("display_name", "Dr. Maya Adams"),
                    ("role", "org_admin"),
                    ("site_ids", &north),
                ],
            )
            .await;
        assert_eq!(above.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(above.body.contains("href=\"#f-role\""));
    }
);

on_both_backends!(
    a_site_administrator_cannot_edit_or_reset_an_organization_administrator,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let owner = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let site_admin = app.staff(&org, Role::SiteAdmin, &[0]).await;
        let web = browser_for(&app, &site_admin).await;
        let list = web.get("/admin/users").await;
        assert!(
            !list
                .body
                .contains(&format!("href=\"/admin/users/{}\"", owner.user.id))
        );
        let path = format!("/admin/users/{}", owner.user.id);
        assert_eq!(web.get(&path).await.status, StatusCode::FORBIDDEN);
        let csrf = list.csrf();
        let reset = web
            .post(&format!("{path}/second-factor"), &[("csrf", &csrf)])
            .await;
        assert_eq!(reset.status, StatusCode::FORBIDDEN);
        let credentials = app
            .store()
            .get_credentials(owner.user.id)
            .await
            .unwrap()
            .unwrap();
        assert!(credentials.totp_confirmed, "nothing changed");
    }
);

on_both_backends!(
    clearing_an_authenticator_ends_the_sessions_and_a_reset_link_can_be_handed_over,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let nurse_web = browser_for(&app, &nurse).await;
        assert_eq!(nurse_web.get("/app").await.status, StatusCode::OK);
        let web = browser_for(&app, &admin).await;
        let path = format!("/admin/users/{}", nurse.user.id);
        let csrf = web.get(&path).await.csrf();

        let cleared = web
            .post(&format!("{path}/second-factor"), &[("csrf", &csrf)])
            .await;
        cleared.assert_redirect_starts(&format!("{path}?done=second-factor"));
        let credentials = app
            .store()
            .get_credentials(nurse.user.id)
            .await
            .unwrap()
            .unwrap();
        assert!(!credentials.totp_confirmed);
        let after = nurse_web.get("/app").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out everywhere");
        assert!(after.location.starts_with("/signin"), "{}", after.location);
        assert_eq!(
            last_detail(&app, AuditAction::MfaReset).await,
            "authenticator cleared by an administrator; sessions ended"
        );

        // No email server here: the page shows the link to hand over, and it works.
        let sent = web
            .post(&format!("{path}/password-reset"), &[("csrf", &csrf)])
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        let start = sent.body.find("/signin/reset/").expect("the link is shown");
        let end = sent.body[start..].find('<').unwrap() + start;
        let link = &sent.body[start..end];
        let anyone = reqwest::Client::new();
        let reset_page = anyone.get(app.url(link)).send().await.unwrap();
        assert_eq!(reset_page.status(), 200);
        assert_eq!(
            last_detail(&app, AuditAction::PasswordResetRequested).await,
            "sent by an administrator"
        );
    }
);

on_both_backends!(
    sites_are_edited_with_their_state_and_time_zone_chosen_from_lists,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let web = browser_for(&app, &admin).await;
        let site = &org.sites[1];
        let path = format!("/admin/sites/{}", site.id);
        let list = web.get("/admin/sites").await;
        assert!(list.body.contains(&format!("href=\"{path}\"")));
        assert!(
            list.body.contains("<select")
                && list
                    .body
                    .contains("Pacific (Los Angeles), America/Los_Angeles")
        );
        let form = web.get(&path).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(
            form.body
                .contains("<option value=\"America/New_York\" selected"),
            "{}",
            form.body
        );
        let csrf = form.csrf();
        let bad = web
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("name", ""),
                    ("state", "CA"),
                    ("time_zone", "Mars/Olympus"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("href=\"#f-name\"") && bad.body.contains("href=\"#f-time_zone\"")
        );
        let saved = web
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("name", "Clinic Sacramento"),
                    ("state", "CA"),
                    ("time_zone", "America/Los_Angeles"),
                ],
            )
            .await;
        saved.assert_redirect_starts("/admin/sites?done=updated");
        let sites = app.store().list_sites(org.org.id).await.unwrap();
        let stored = sites.iter().find(|s| s.id == site.id).unwrap();
        assert_eq!(stored.name, "Clinic Sacramento");
        assert_eq!(stored.time_zone.as_str(), "America/Los_Angeles");
    }
);

on_both_backends!(
    a_patient_account_is_linked_to_its_record_by_the_patients_name,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0]).await;
        let ada = app.patient_record(&org, 0).await;
        let web = browser_for(&app, &admin).await;
        let csrf = web.get("/admin/users/new").await.csrf();
        let create = |email: &'static str, record: &'static str| {
            let csrf = csrf.clone();
            let web = &web;
            async move {
                web.post(
                    "/admin/users/new",
                    &[
                        ("csrf", csrf.as_str()),
                        ("display_name", "Ada Lovelace"),
                        ("email", email),
                        ("role", "patient"),
                        ("password", "a long patient password"),
                        ("patient_id", record),
                    ],
                )
                .await
            }
        };
        let linked = create("ada@example.org", "ada LOVE").await;
        linked.assert_redirect_starts("/admin/users?done=created");
        let account = app
            .store()
            .find_user_by_email("ada@example.org")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.patient_id, Some(ada.id));

        // Two records match: both named with their MRNs, nothing created.
        let other = app.patient_record(&org, 0).await;
        let several = create("ada2@example.org", "Ada").await;
        assert_eq!(several.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            several.body.contains(&ada.mrn) && several.body.contains(&other.mrn),
            "{}",
            several.body
        );
        assert!(
            app.store()
                .find_user_by_email("ada2@example.org")
                .await
                .unwrap()
                .is_none()
        );
        let by_mrn = create(
            "ada2@example.org",
            Box::leak(other.mrn.clone().into_boxed_str()),
        )
        .await;
        by_mrn.assert_redirect_starts("/admin/users?done=created");
        let nobody = create("zed@example.org", "Zebedee").await;
        assert_eq!(nobody.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(nobody.body.contains("no patient record"));
    }
);
