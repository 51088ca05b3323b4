//! The web UI through a browser-like client: sign-in pages, tenancy, emergency access, CSRF, CSP.

use base64::Engine;
use domain::Clock;
use domain::access::Actor;
use domain::identity::Role;
use domain::identity::service::users::UserInput;
use jiff::SignedDuration;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_both_backends;

/// A browser: keeps cookies, and shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

struct Page {
    status: StatusCode,
    location: String,
    csp: String,
    content_type: String,
    body: String,
}

impl Page {
    /// The hidden CSRF field of the page's first form.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).map(|i| i + marker.len());
        let start = start.unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body));
        let end = self.body[start..].find('"').map_or(start, |i| i + start);
        self.body[start..end].to_string()
    }

    fn assert_redirect(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        assert_eq!(self.location, to);
    }
}

async fn read(response: reqwest::Response) -> Page {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (location, csp, content_type) = (
        header("location"),
        header("content-security-policy"),
        header("content-type"),
    );
    Page {
        status: response.status(),
        location,
        csp,
        content_type,
        body: response
            .text()
            .await
            .unwrap_or_else(|e| panic!("body: {e}")),
    }
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Page {
    let response = client.get(app.url(path)).send().await;
    read(response.unwrap_or_else(|e| panic!("GET {path}: {e}"))).await
}

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> Page {
    let response = client.post(app.url(path)).form(form).send().await;
    read(response.unwrap_or_else(|e| panic!("POST {path}: {e}"))).await
}

/// Every HTML page: the CSP header, and no inline script or style for it to block.
fn assert_safe_html(page: &Page, what: &str) {
    assert!(
        page.content_type.starts_with("text/html"),
        "{what}: {}",
        page.content_type
    );
    assert!(
        page.csp.contains("default-src 'self'"),
        "{what}: CSP missing"
    );
    assert!(page.csp.contains("script-src 'self'"), "{what}: CSP");
    let html = page.body.to_ascii_lowercase();
    assert!(html.starts_with("<!doctype html>"), "{what}");
    assert!(!html.contains(" style="), "{what}: inline style attribute");
    assert!(!html.contains("<style"), "{what}: style block");
    assert!(!html.contains("javascript:"), "{what}: javascript: URL");
    assert!(
        !html.contains(" onclick=") && !html.contains(" onload="),
        "{what}: inline handler"
    );
    for (i, _) in html.match_indices("<script") {
        let tag_end = html[i..].find('>').map_or(html.len(), |end| end + i);
        assert!(html[i..tag_end].contains(" src="), "{what}: inline script");
        assert!(
            html[tag_end..].starts_with("></script>"),
            "{what}: script with a body"
        );
    }
}

/// Signs in through the pages (with the current one-time code for staff).
async fn sign_in_pages(app: &TestApp, user: &TestUser) -> (reqwest::Client, Page) {
    let client = browser();
    let form = get(app, &client, "/signin").await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    let after_password = post(
        app,
        &client,
        "/signin",
        &[
            ("csrf", &csrf),
            ("email", &user.email),
            ("password", PASSWORD),
        ],
    )
    .await;
    if user.totp_secret.is_some() {
        after_password.assert_redirect("/signin/code");
        let code_page = get(app, &client, "/signin/code").await;
        let code = app.code_now(user);
        post(
            app,
            &client,
            "/signin/code",
            &[("csrf", &code_page.csrf()), ("code", &code)],
        )
        .await
        .assert_redirect("/app");
    } else {
        after_password.assert_redirect("/app");
    }
    let home = get(app, &client, "/app").await;
    assert_eq!(home.status, 200, "{}", home.body);
    (client, home)
}

on_both_backends!(
    staff_sign_in_through_the_pages_needs_the_one_time_code,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let client = browser();
        let form = get(&app, &client, "/signin").await;
        assert_safe_html(&form, "sign-in page");
        let csrf = form.csrf();

        let wrong = post(
            &app,
            &client,
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", &clinician.email),
                ("password", "not the password"),
            ],
        )
        .await;
        assert_eq!(wrong.status, 401);
        assert!(
            wrong
                .body
                .contains("The email address or password is incorrect.")
        );
        assert!(wrong.body.contains(&clinician.email), "the email is kept");
        assert!(
            !wrong.body.contains("not the password"),
            "the password is not"
        );

        post(
            &app,
            &client,
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", &clinician.email),
                ("password", PASSWORD),
            ],
        )
        .await
        .assert_redirect("/signin/code");
        // Password alone opens nothing.
        for path in ["/app", "/patients", "/me"] {
            get(&app, &client, path)
                .await
                .assert_redirect("/signin/code");
        }
        let code_page = get(&app, &client, "/signin/code").await;
        assert_safe_html(&code_page, "code page");
        let wrong_code = post(
            &app,
            &client,
            "/signin/code",
            &[("csrf", &code_page.csrf()), ("code", "000000")],
        )
        .await;
        assert_eq!(wrong_code.status, 401);
        assert!(wrong_code.body.contains("That code is not right"));
        get(&app, &client, "/app")
            .await
            .assert_redirect("/signin/code");

        let code = app.code_now(&clinician);
        post(
            &app,
            &client,
            "/signin/code",
            &[("csrf", &code_page.csrf()), ("code", &code)],
        )
        .await
        .assert_redirect("/app");
        let home = get(&app, &client, "/app").await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("Test Clinician"));
        assert!(home.body.contains("href=\"/patients\""));

        // Signing out ends the session and is audited.
        let signout = post(&app, &client, "/signout", &[("csrf", &home.csrf())]).await;
        signout.assert_redirect("/signin?signed_out=1");
        get(&app, &client, "/app").await.assert_redirect("/signin");
        let query = domain::compliance::AuditQuery {
            action: Some(domain::compliance::AuditAction::SignOut),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(app.store().search_audit(&query).await.unwrap().len(), 1);
    }
);

on_both_backends!(
    a_new_staff_member_enrols_with_a_qr_code_and_sees_recovery_codes_once,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let email = "new.nurse@example.org";
        let input = UserInput {
            email: email.into(),
            display_name: "New Nurse".into(),
            role: "nurse".into(),
            password: PASSWORD.into(),
            site_ids: vec![org.sites[0].id.to_string()],
            ..UserInput::default()
        };
        domain::identity::service::users::create(
            app.state.ctx(),
            &app.state,
            &Actor::operator(),
            org.org.id,
            &input,
            false,
        )
        .await
        .unwrap();
        let client = browser();
        let csrf = get(&app, &client, "/signin").await.csrf();
        post(
            &app,
            &client,
            "/signin",
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await
        .assert_redirect("/signin/enrol");
        get(&app, &client, "/app")
            .await
            .assert_redirect("/signin/code");
        get(&app, &client, "/signin/code").await;

        let enrol = get(&app, &client, "/signin/enrol").await;
        assert_eq!(enrol.status, 200);
        assert_safe_html(&enrol, "enrolment page");
        let marker = "src=\"data:image/svg+xml;base64,";
        let start = enrol.body.find(marker).unwrap() + marker.len();
        let end = enrol.body[start..].find('"').unwrap() + start;
        let svg = base64::engine::general_purpose::STANDARD
            .decode(&enrol.body[start..end])
            .unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("<svg") && !svg.contains("<script"));
        let start = enrol.body.find("class=\"secret\"><code>").unwrap() + 21;
        let end = enrol.body[start..].find('<').unwrap() + start;
        let secret: String = enrol.body[start..end].split_whitespace().collect();

        let wrong = post(
            &app,
            &client,
            "/signin/enrol",
            &[("csrf", &enrol.csrf()), ("code", "123456")],
        )
        .await;
        assert_eq!(wrong.status, 401);
        assert!(
            wrong.body.contains("data:image/svg+xml;base64,"),
            "the QR code stays"
        );

        let code = server::auth::totp::code_at(&secret, app.clock.now()).unwrap();
        let codes = post(
            &app,
            &client,
            "/signin/enrol",
            &[("csrf", &enrol.csrf()), ("code", &code)],
        )
        .await;
        assert_eq!(codes.status, 200, "{}", codes.body);
        assert_safe_html(&codes, "recovery codes page");
        assert_eq!(codes.body.matches("<li><code>").count(), 10);
        assert!(codes.body.contains("href=\"/app\""));
        let home = get(&app, &client, "/app").await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("New Nurse"));
        // Enrolment happens once: the page now sends the person to the code page.
        let again = browser();
        let csrf = get(&app, &again, "/signin").await.csrf();
        post(
            &app,
            &again,
            "/signin",
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await
        .assert_redirect("/signin/code");
        get(&app, &again, "/signin/enrol")
            .await
            .assert_redirect("/signin/code");
        // A recovery code stands in for the app, once.
        let start = codes.body.find("<li><code>").unwrap() + "<li><code>".len();
        let end = codes.body[start..].find('<').unwrap() + start;
        let recovery = codes.body[start..end].to_lowercase();
        let code_page = get(&app, &again, "/signin/code").await;
        post(
            &app,
            &again,
            "/signin/code",
            &[("csrf", &code_page.csrf()), ("code", &recovery)],
        )
        .await
        .assert_redirect("/app");
    }
);

on_both_backends!(
    posts_without_the_csrf_token_are_refused,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let desk = app.staff(&org, Role::FrontDesk, &[0]).await;

        let stranger = browser();
        let refused = post(
            &app,
            &stranger,
            "/signin",
            &[("email", desk.email.as_str()), ("password", PASSWORD)],
        )
        .await;
        assert_eq!(refused.status, 403);
        assert_safe_html(&refused, "sign-in without token");

        let (client, home) = sign_in_pages(&app, &desk).await;
        let site = org.sites[0].id.to_string();
        let patient = [
            ("mrn", "MRN-CSRF-1"),
            ("given_name", "Eve"),
            ("family_name", "Forger"),
            ("birth_date", "1990-01-01"),
            ("sex", "female"),
            ("address_line1", "1 Main Street"),
            ("city", "Brooklyn"),
            ("state", "NY"),
            ("postal_code", "11201"),
            ("preferred_language", "en"),
            ("primary_site_id", site.as_str()),
        ];
        let missing = post(&app, &client, "/patients/new", &patient).await;
        assert_eq!(missing.status, 403);
        assert_safe_html(&missing, "403 page");
        let mut wrong = patient.to_vec();
        wrong.push(("csrf", "not-the-token"));
        assert_eq!(
            post(&app, &client, "/patients/new", &wrong).await.status,
            403
        );
        let empty = read(client.post(app.url("/signout")).send().await.unwrap()).await;
        assert_eq!(empty.status, 403);
        let list = get(&app, &client, "/patients?q=Forger").await;
        assert!(
            list.body.contains("No patients match"),
            "nothing was created"
        );

        let csrf = home.csrf();
        let mut with_token = patient.to_vec();
        with_token.push(("csrf", csrf.as_str()));
        let created = post(&app, &client, "/patients/new", &with_token).await;
        assert_eq!(created.status, 303, "{}", created.body);
        assert!(created.location.ends_with("?done=created"));
        let profile = get(&app, &client, &created.location).await;
        assert!(profile.body.contains("Patient registered."));
        assert!(profile.body.contains("MRN-CSRF-1"));
    }
);

on_both_backends!(
    a_user_of_one_organization_gets_the_404_page_for_another_organizations_patient,
    |app: TestApp| async move {
        let a = app.org("Org A").await;
        let b = app.org("Org B").await;
        let admin_a = app.staff(&a, Role::OrgAdmin, &[0, 1]).await;
        let theirs = app.patient_record(&b, 0).await;
        let ours = app.patient_record(&a, 1).await;
        let (client, _) = sign_in_pages(&app, &admin_a).await;
        for path in [
            format!("/patients/{}", theirs.id),
            format!("/patients/{}/edit", theirs.id),
            "/patients/not-an-id".to_string(),
            "/no/such/page".to_string(),
        ] {
            let page = get(&app, &client, &path).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(page.body.contains("Page not found"), "{path}");
            assert!(!page.body.contains(&theirs.mrn), "{path}");
            assert_safe_html(&page, &path);
        }
        let list = get(&app, &client, "/patients").await;
        assert!(list.body.contains(&ours.mrn));
        assert!(!list.body.contains(&theirs.mrn));
        let own = get(&app, &client, &format!("/patients/{}", ours.id)).await;
        assert_eq!(own.status, 200);
        assert!(!own.body.contains("this access is logged"));
    }
);

on_both_backends!(
    a_patient_sees_only_their_own_record,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (patient, account) = app.patient_account(&org).await;
        let other = app.patient_record(&org, 0).await;
        let (client, home) = sign_in_pages(&app, &account).await;
        assert!(home.body.contains("My profile"));
        assert!(!home.body.contains("href=\"/patients\""));
        let me = get(&app, &client, "/me").await;
        assert_eq!(me.status, 200);
        assert_safe_html(&me, "/me");
        assert!(me.body.contains(&patient.mrn));
        assert!(!me.body.contains(&other.mrn));
        let page = get(&app, &client, &format!("/patients/{}", other.id)).await;
        assert_eq!(page.status, 404);
        assert!(!page.body.contains(&other.mrn));
        assert_eq!(get(&app, &client, "/patients").await.status, 403);
        assert_eq!(get(&app, &client, "/audit").await.status, 403);
    }
);

on_both_backends!(
    a_clinician_outside_the_care_team_opens_a_record_with_emergency_access,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let auditor = app.staff(&org, Role::Auditor, &[]).await;
        let patient = app.patient_record(&org, 1).await;
        let path = format!("/patients/{}", patient.id);
        let (client, _) = sign_in_pages(&app, &clinician).await;

        let closed = get(&app, &client, &path).await;
        assert_eq!(closed.status, 403);
        assert_safe_html(&closed, "break-glass form");
        assert!(closed.body.contains("outside your care team"));
        assert!(
            closed
                .body
                .contains(&format!("action=\"{path}/break-glass\""))
        );
        assert!(
            !closed.body.contains(&patient.mrn),
            "nothing of the record shows"
        );

        let short = post(
            &app,
            &client,
            &format!("{path}/break-glass"),
            &[("csrf", &closed.csrf()), ("reason", "urgent")],
        )
        .await;
        assert_eq!(short.status, 422);
        assert!(short.body.contains("at least 10 characters"));
        assert!(
            short.body.contains(">urgent</textarea>"),
            "the reason is kept"
        );

        post(
            &app,
            &client,
            &format!("{path}/break-glass"),
            &[
                ("csrf", &closed.csrf()),
                ("reason", "Unconscious patient in the emergency room"),
            ],
        )
        .await
        .assert_redirect(&path);
        let open = get(&app, &client, &path).await;
        assert_eq!(open.status, 200);
        assert!(
            open.body
                .contains("Emergency access — this access is logged and will be reviewed")
        );
        assert!(open.body.contains(&patient.mrn));

        // The auditor finds the flagged read and marks the access reviewed.
        let (auditor_client, _) = sign_in_pages(&app, &auditor).await;
        let flagged = get(&app, &auditor_client, "/audit?flagged=true").await;
        assert_eq!(flagged.status, 200);
        assert!(flagged.body.contains("<code>patient.read</code>"));
        assert!(flagged.body.contains("<code>break_glass.granted</code>"));
        let review = get(&app, &auditor_client, "/audit/break-glass").await;
        assert_safe_html(&review, "review page");
        assert!(
            review.body.contains(&format!(
                "<span title=\"{}\">Ada Lovelace</span>",
                patient.id
            )),
            "the patient by name, the id on hover:\n{}",
            review.body
        );
        assert!(
            review
                .body
                .contains("Unconscious patient in the emergency room")
        );
        let marker = "<form method=\"post\" action=\"";
        let start = review.body.find(marker).unwrap() + marker.len();
        let end = review.body[start..].find('"').unwrap() + start;
        let action = review.body[start..end].to_string();
        // Without a finding the review is refused, beside the field, and nothing is marked.
        let blank = post(
            &app,
            &auditor_client,
            &action,
            &[("csrf", &review.csrf()), ("comment", "  ")],
        )
        .await;
        assert_eq!(blank.status, 422, "{}", blank.body);
        assert!(
            blank.body.contains("What you found must not be empty."),
            "{}",
            blank.body
        );
        assert!(
            blank
                .body
                .contains("Unconscious patient in the emergency room")
        );
        post(
            &app,
            &auditor_client,
            &action,
            &[
                ("csrf", &review.csrf()),
                (
                    "comment",
                    "Confirmed with the ED rota: covering for Dr. Baker",
                ),
            ],
        )
        .await
        .assert_redirect("/audit/break-glass?done=reviewed");
        let trail = get(&app, &auditor_client, "/audit?action=break_glass.reviewed").await;
        assert!(
            trail
                .body
                .contains("reviewed: Confirmed with the ED rota: covering for Dr. Baker"),
            "the finding is in the audit trail:\n{}",
            trail.body
        );
        let after = get(&app, &auditor_client, "/audit/break-glass?done=reviewed").await;
        assert!(after.body.contains("Nothing to review"));
    }
);

on_both_backends!(
    the_audit_page_lists_entries_and_exports_them_as_csv,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let auditor = app.staff(&org, Role::Auditor, &[]).await;
        let (client, home) = sign_in_pages(&app, &auditor).await;
        assert!(home.body.contains("href=\"/audit\""));
        let page = get(&app, &client, "/audit").await;
        assert_eq!(page.status, 200);
        assert_safe_html(&page, "/audit");
        assert!(page.body.contains("<code>mfa.success</code>"));
        assert!(page.body.contains("href=\"/audit/export.csv\""));

        let filtered = get(&app, &client, "/audit?action=mfa.success&flagged=true").await;
        assert!(filtered.body.contains("No entries match"));
        assert!(
            filtered
                .body
                .contains("href=\"/audit/export.csv?action=mfa.success&#38;flagged=true\"")
        );
        // A browser sends the empty filters too.
        let blank = get(&app, &client, "/audit?user=&patient=&action=&from=&to=").await;
        assert_eq!(blank.status, 200);
        let bad = get(&app, &client, "/audit?from=yesterday").await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("href=\"#f-from\""));

        let csv = client
            .get(app.url(&format!("/audit/export.csv?user={}", auditor.user.id)))
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
        assert!(lines.count() >= 2, "{text}");
    }
);

on_both_backends!(
    the_audit_page_names_people_shows_the_auditors_time_and_counts_repeated_list_reads,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let auditor = app.staff(&org, Role::Auditor, &[0]).await;
        let clinician = app.staff(&org, Role::Clinician, &[0]).await;
        let patient = app.patient_record(&org, 0).await;
        let session = app.sign_in(&clinician).await;
        let read = session
            .client
            .get(app.url(&format!("/api/v1/patients/{}", patient.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        // The same list four times, as a page that refreshes itself.
        for _ in 0..4 {
            let list = session
                .client
                .get(app.url("/api/v1/patients?q=Lov"))
                .send()
                .await
                .unwrap();
            assert_eq!(list.status(), 200);
        }
        let (client, _) = sign_in_pages(&app, &auditor).await;

        // By the patient's name (each word the start of a name), in the auditor's own time.
        let page = get(&app, &client, "/audit?patient=ada+LOV").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_safe_html(&page, "/audit?patient=...");
        assert!(
            page.body.contains(&format!(
                "<span title=\"{}\">Ada Lovelace</span>",
                patient.id
            )),
            "the patient by name, the id on hover:\n{}",
            page.body
        );
        assert!(page.body.contains(&format!(
            "<span title=\"{}\">Test Clinician</span>",
            clinician.user.id
        )));
        assert!(page.body.contains("<code>patient.read</code>"));
        assert!(page.body.contains("Times are in America/New_York (E"));
        assert!(
            page.body.contains(" EST</td>") || page.body.contains(" EDT</td>"),
            "{}",
            page.body
        );

        // By the user's name: the four identical list reads are one entry with a count.
        let lists = get(&app, &client, "/audit?user=test+clin&action=patient.list").await;
        assert_eq!(lists.status, 200);
        assert_eq!(lists.body.matches("<code>patient.list</code>").count(), 1);
        assert!(
            lists.body.contains("and 3 more times, until"),
            "{}",
            lists.body
        );

        // Names nobody has: both said beside their fields, nothing searched.
        let unknown = get(&app, &client, "/audit?user=Nobody+Here&patient=Zzyzx").await;
        assert_eq!(unknown.status, 422);
        assert!(unknown.body.contains("href=\"#f-user\""));
        assert!(unknown.body.contains("href=\"#f-patient\""));
        assert!(
            unknown
                .body
                .contains("no patient&#39;s name or MRN starts with &#39;Zzyzx&#39;"),
            "{}",
            unknown.body
        );

        // The export keeps the ids and adds the names and counts at the end of each row.
        let csv = client
            .get(app.url(&format!("/audit/export.csv?patient={}", patient.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let header = csv.lines().next().unwrap();
        assert!(
            header.ends_with(",hash,actor_name,patient_name,repeated_times,repeated_last_at"),
            "{header}"
        );
        assert!(
            csv.contains(&format!("{},", patient.id))
                && csv.contains(",Test Clinician,Ada Lovelace,0,"),
            "{csv}"
        );

        // Showing names is itself in the trail.
        let searches = get(&app, &client, "/audit?action=audit.search").await;
        assert!(
            searches.body.contains("names of 1 patients shown"),
            "{}",
            searches.body
        );
    }
);

on_both_backends!(
    every_page_carries_the_csp_and_no_inline_script_or_style,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let patient = app.patient_record(&org, 0).await;
        let (client, _) = sign_in_pages(&app, &admin).await;
        let paths = [
            "/app".to_string(),
            "/me".to_string(),
            "/patients".to_string(),
            "/patients?q=Love".to_string(),
            "/patients/new".to_string(),
            format!("/patients/{}", patient.id),
            format!("/patients/{}/edit", patient.id),
            "/admin/users".to_string(),
            "/admin/users/new".to_string(),
            "/admin/sites".to_string(),
            "/audit".to_string(),
            "/audit/break-glass".to_string(),
        ];
        for path in &paths {
            let page = get(&app, &client, path).await;
            assert_eq!(page.status, 200, "{path}");
            assert_safe_html(&page, path);
            assert!(page.body.contains("href=\"#main\""), "{path}: skip link");
            assert!(page.body.contains("<nav"), "{path}: navigation");
        }
        let edit = get(&app, &client, &format!("/patients/{}/edit", patient.id)).await;
        assert!(edit.body.contains(&format!("value=\"{}\"", patient.mrn)));

        // A form with mistakes: errors beside the fields, a linked summary, values kept.
        let csrf = edit.csrf();
        let site = org.sites[0].id.to_string();
        let invalid = post(
            &app,
            &client,
            "/patients/new",
            &[
                ("csrf", csrf.as_str()),
                ("mrn", "MRN-NEW-1"),
                ("given_name", "Grace"),
                ("family_name", "Hopper"),
                ("birth_date", "1976-12-09"),
                ("sex", "female"),
                ("address_line1", "2 Side Street"),
                ("city", "Brooklyn"),
                ("state", "NY"),
                ("postal_code", "ABCDE"),
                ("preferred_language", "en"),
                ("primary_site_id", site.as_str()),
            ],
        )
        .await;
        assert_eq!(invalid.status, 422);
        assert_safe_html(&invalid, "form with errors");
        assert!(invalid.body.contains("href=\"#f-postal_code\""));
        assert!(invalid.body.contains("ZIP code must be a US ZIP code"));
        assert!(invalid.body.contains("value=\"Hopper\""));
        assert!(invalid.body.contains("aria-invalid=\"true\""));

        let css = client.get(app.url("/assets/app.css")).send().await.unwrap();
        assert_eq!(css.status(), 200);
        assert!(
            css.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/css")
        );
        let signin = get(&app, &browser(), "/signin").await;
        assert_safe_html(&signin, "/signin");
    }
);

on_both_backends!(
    pages_outside_a_role_answer_403_and_a_program_manager_sees_no_fake_data,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let manager = app.staff(&org, Role::ProgramManager, &[]).await;
        let (client, home) = sign_in_pages(&app, &nurse).await;
        assert!(!home.body.contains("href=\"/admin/users\""));
        for path in [
            "/admin/users",
            "/admin/users/new",
            "/admin/sites",
            "/audit",
            "/audit/break-glass",
        ] {
            let page = get(&app, &client, path).await;
            assert_eq!(page.status, 403, "{path}");
            assert_safe_html(&page, path);
        }
        let (client, home) = sign_in_pages(&app, &manager).await;
        assert!(
            home.body.contains("Not started yet"),
            "the program manager's home says where the program stands:\n{}",
            home.body
        );
        assert_eq!(get(&app, &client, "/patients").await.status, 403);
    }
);

on_both_backends!(
    an_idle_session_expires_and_the_sign_in_page_says_so,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, account) = app.patient_account(&org).await;
        let (client, _) = sign_in_pages(&app, &account).await;
        app.clock.advance(SignedDuration::from_mins(16));
        get(&app, &client, "/me")
            .await
            .assert_redirect("/signin?expired=1");
        let signin = get(&app, &client, "/signin?expired=1").await;
        assert!(signin.body.contains("Your session expired"));
        get(&app, &browser(), "/").await.assert_redirect("/signin");
    }
);

on_both_backends!(
    an_organization_administrator_adds_a_site_and_a_clinician_then_disables_them,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let (client, _) = sign_in_pages(&app, &admin).await;

        let sites = get(&app, &client, "/admin/sites").await;
        let csrf = sites.csrf();
        let bad = post(
            &app,
            &client,
            "/admin/sites",
            &[
                ("csrf", &csrf),
                ("name", "Hilltop"),
                ("state", "NY"),
                ("time_zone", "Mars/Olympus"),
            ],
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("href=\"#f-time_zone\""));
        assert!(bad.body.contains("value=\"Hilltop\""));
        post(
            &app,
            &client,
            "/admin/sites",
            &[
                ("csrf", &csrf),
                ("name", "Hilltop"),
                ("state", "VT"),
                ("time_zone", "America/New_York"),
            ],
        )
        .await
        .assert_redirect("/admin/sites?done=created");
        let listed = get(&app, &client, "/admin/sites?done=created").await;
        assert!(listed.body.contains("Hilltop") && listed.body.contains("Site added."));

        let site = org.sites[0].id.to_string();
        let mut user = vec![
            ("csrf", csrf.as_str()),
            ("email", "dr.new@example.org"),
            ("display_name", "Dr. New"),
            ("role", "clinician"),
            ("password", "a long enough password"),
            ("site_ids", site.as_str()),
            ("npi", "1234567893"),
            ("specialties", "Cardiology, Family medicine"),
            ("licenses[0].state", ""),
            ("licenses[1].state", "NY"),
            ("licenses[1].number", "NY-77"),
            ("licenses[1].expires_on", "not a date"),
        ];
        let invalid = post(&app, &client, "/admin/users/new", &user).await;
        assert_eq!(invalid.status, 422, "{}", invalid.body);
        assert!(
            invalid.body.contains("href=\"#f-licenses-1-expires_on\""),
            "{}",
            invalid.body
        );
        assert!(invalid.body.contains("value=\"NY-77\""));
        user.retain(|(k, _)| *k != "licenses[1].expires_on");
        user.push(("licenses[1].expires_on", "2030-06-30"));
        post(&app, &client, "/admin/users/new", &user)
            .await
            .assert_redirect("/admin/users?done=created");
        let users = get(&app, &client, "/admin/users?done=created").await;
        assert!(users.body.contains("Dr. New"));
        let created = app
            .store()
            .find_user_by_email("dr.new@example.org")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(created.clinician.unwrap().licenses.len(), 1);
        let creds = app
            .store()
            .get_credentials(created.id)
            .await
            .unwrap()
            .unwrap();
        assert!(creds.totp_secret.is_none(), "staff enrol at first sign-in");

        post(
            &app,
            &client,
            &format!("/admin/users/{}/active", created.id),
            &[("csrf", &csrf), ("active", "false")],
        )
        .await
        .assert_redirect("/admin/users?done=disabled");
        let users = get(&app, &client, "/admin/users").await;
        assert!(users.body.contains("Disabled"));
    }
);

on_both_backends!(
    repeated_wrong_passwords_lock_the_account_and_the_page_says_so,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let (_, account) = app.patient_account(&org).await;
        let client = browser();
        let csrf = get(&app, &client, "/signin").await.csrf();
        let mut last = None;
        for _ in 0..6 {
            let page = post(
                &app,
                &client,
                "/signin",
                &[
                    ("csrf", &csrf),
                    ("email", &account.email),
                    ("password", "wrong password!"),
                ],
            )
            .await;
            last = Some(page);
        }
        let locked = last.unwrap();
        assert_eq!(locked.status, 423);
        assert_safe_html(&locked, "locked page");
        assert!(locked.body.contains("This account is locked"));
        let right = post(
            &app,
            &client,
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", &account.email),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(
            right.status, 423,
            "even the right password waits for the lock to end"
        );
    }
);
