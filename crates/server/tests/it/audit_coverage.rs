//! Every route that answers with patient data leaves an audit record: the test walks both route
//! tables (the OpenAPI document the API is built from, and the web UI's table in `web/mod.rs`),
//! calls every GET route as every kind of actor, and fails for a response that shows a patient
//! while the audit chain did not grow.

use domain::identity::Role;
use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::{Browser, book_first, browser_for, clinic};

/// What identifies the fixture's patient in an answer.
struct Markers {
    values: Vec<String>,
}

impl Markers {
    /// Shows the patient: names them in the answer, or answers about the patient the request
    /// names (a consent status says nothing of who, but the request said whose). `named` is
    /// what of the request is known to be read: the API's documented path and query, a page's
    /// path (the queries tried on pages are guesses, which a page may ignore).
    fn shown_in<'a>(&'a self, named: &str, body: &str) -> Option<&'a str> {
        self.values
            .iter()
            .find(|v| body.contains(v.as_str()) || named.contains(v.as_str()))
            .map(String::as_str)
    }
}

/// Routes that answer with a patient's ids without reading patient data: "who am I", read
/// from the caller's own session, and the password form, which shows only the signed-in
/// person's own account name (from the session) in its masthead, like a patient's form for a new
/// message (its only other content is the care team to write to; staff writing to a patient
/// read the patient through the audited use case).
const NOT_PATIENT_DATA: [&str; 3] = ["/api/v1/me", "/me/password", "/messages/new"];

/// The web UI's GET routes, read from its one route table: every `.route("PATH", get(...`.
fn web_get_routes() -> Vec<String> {
    let table = include_str!("../../src/web/mod.rs");
    let mut found = Vec::new();
    for (at, _) in table.match_indices(".route(") {
        let rest = table[at + ".route(".len()..].trim_start();
        let Some(rest) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let after = rest[end + 1..].trim_start();
        if after
            .strip_prefix(',')
            .is_some_and(|a| a.trim_start().starts_with("get("))
        {
            found.push(rest[..end].to_string());
        }
    }
    found
}

/// The API's GET operations and their query parameter names, from the OpenAPI document.
fn api_get_routes(doc: &Value) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let query = get["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        found.push((path.clone(), query));
    }
    found
}

struct Ids {
    patient: String,
    patient_user: String,
    appointment: String,
    clinician: String,
    site: String,
    day: String,
    visit_type: String,
}

/// A path with its `{...}` parameters filled from the fixture (an unknown id where none fits).
fn fill(path: &str, ids: &Ids) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let before = &rest[..open];
        out.push_str(before);
        let value = if out.ends_with("/patients/") {
            ids.patient.clone()
        } else if out.ends_with("/appointments/") || out.ends_with("/visits/") {
            ids.appointment.clone()
        } else if out.ends_with("/clinicians/") {
            ids.clinician.clone()
        } else if out.ends_with("/users/") {
            ids.patient_user.clone()
        } else if out.ends_with("/visit-types/") {
            ids.visit_type.clone()
        } else if out.ends_with("/assets/") {
            "app.css".into()
        } else {
            uuid::Uuid::now_v7().to_string()
        };
        out.push_str(&value);
        rest = rest[open..]
            .find('}')
            .map_or("", |close| &rest[open + close + 1..]);
    }
    out.push_str(rest);
    out
}

fn query_value(name: &str, ids: &Ids) -> Option<String> {
    Some(match name {
        "patient_id" | "patient" => ids.patient.clone(),
        "site_id" | "site" => ids.site.clone(),
        "clinician_id" | "clinician" => ids.clinician.clone(),
        "date" | "from" => ids.day.clone(),
        "visit_type_id" => ids.visit_type.clone(),
        _ => return None,
    })
}

/// Calls `path` and returns the answer's status and body, and how many accesses the trail
/// recorded meanwhile (records, and list reads counted against an earlier identical one).
async fn call(app: &TestApp, http: &reqwest::Client, url: &str) -> (u16, String, i64) {
    let before = app.audited(Default::default()).await;
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let after = app.audited(Default::default()).await;
    (status, body, after - before)
}

on_both_backends!(
    every_route_that_shows_patient_data_writes_an_audit_record,
    |app: TestApp| async move {
        let clinic = clinic(&app, &[0]).await;
        let (patient, account) = app.patient_account(&clinic.org).await;
        let visit = book_first(&app, &clinic, &account).await;
        let ids = Ids {
            patient: patient.id.to_string(),
            patient_user: account.user.id.to_string(),
            appointment: visit.id.to_string(),
            clinician: clinic.clinician.user.id.to_string(),
            site: clinic.org.sites[0].id.to_string(),
            day: clinic.day.to_string(),
            visit_type: clinic.video.id.to_string(),
        };
        let markers = Markers {
            values: vec![
                patient.id.to_string(),
                patient.mrn.clone(),
                "Lovelace".into(),
            ],
        };
        let mut browsers: Vec<(&str, Browser)> = Vec::new();
        for (name, role, sites) in [
            ("org_admin", Role::OrgAdmin, &[0, 1][..]),
            ("front_desk", Role::FrontDesk, &[0][..]),
            ("nurse", Role::Nurse, &[0][..]),
            ("site_admin", Role::SiteAdmin, &[0][..]),
            ("auditor", Role::Auditor, &[][..]),
        ] {
            let user = app.staff(&clinic.org, role, sites).await;
            browsers.push((name, browser_for(&app, &user).await));
        }
        browsers.push(("clinician", browser_for(&app, &clinic.clinician).await));
        browsers.push(("patient", browser_for(&app, &account).await));
        let token = app.token(&clinic.org, "system/*.read").await;

        let mut unaudited = Vec::new();
        let mut audited_shown = 0;

        // The API, as every signed-in person and as an integration client.
        let doc = crate::openapi::document(&app).await;
        let api = api_get_routes(&doc);
        assert!(api.len() >= 20, "the OpenAPI walk found {api:?}");
        let bearer = reqwest::Client::builder()
            .default_headers(
                [(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {token}").parse().unwrap(),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .unwrap();
        let mut api_callers: Vec<(&str, &reqwest::Client)> =
            browsers.iter().map(|(n, b)| (*n, &b.client)).collect();
        api_callers.push(("integration client", &bearer));
        for (path, query) in &api {
            let pairs: Vec<(String, String)> = query
                .iter()
                .filter_map(|name| query_value(name, &ids).map(|v| (name.clone(), v)))
                .collect();
            let mut url = reqwest::Url::parse(&app.url(&fill(path, &ids))).unwrap();
            // Each query parameter alone too: some are exclusive of one another.
            let mut urls = vec![url.clone()];
            for pair in &pairs {
                let mut one = url.clone();
                one.query_pairs_mut().append_pair(&pair.0, &pair.1);
                urls.push(one);
            }
            if pairs.len() > 1 {
                url.query_pairs_mut().extend_pairs(&pairs);
                urls.push(url);
            }
            for (who, http) in &api_callers {
                for url in &urls {
                    let (status, body, added) = call(&app, http, url.as_str()).await;
                    assert!(status < 500, "GET {url} as {who}: {status} {body}");
                    match (status, markers.shown_in(url.as_str(), &body)) {
                        _ if NOT_PATIENT_DATA.contains(&path.as_str()) => {}
                        (200..=299, Some(marker)) if added == 0 => {
                            unaudited.push(format!("GET {url} as {who} shows {marker}"));
                        }
                        (200..=299, Some(_)) => audited_shown += 1,
                        _ => {}
                    }
                }
            }
        }

        // The web UI, as every signed-in person, with the queries its pages take.
        let web = web_get_routes();
        assert!(web.len() >= 30, "the route table walk found {web:?}");
        let queries = [
            String::new(),
            format!("?patient={}", ids.patient),
            format!("?site={}&date={}", ids.site, ids.day),
            format!("?date={}", ids.day),
            format!("?clinician={}&date={}", ids.clinician, ids.day),
            format!("?view=week&date={}", ids.day),
        ];
        for path in &web {
            let filled = fill(path, &ids);
            let variants: &[String] = if filled == *path {
                &queries
            } else {
                &queries[..1]
            };
            for query in variants {
                for (who, browser) in &browsers {
                    let url = format!("{}{filled}{query}", browser.base);
                    let (status, body, added) = call(&app, &browser.client, &url).await;
                    assert!(status < 500, "GET {url} as {who}: {status} {body}");
                    match (status, markers.shown_in(&filled, &body)) {
                        _ if NOT_PATIENT_DATA.contains(&path.as_str()) => {}
                        (200..=299, Some(marker)) if added == 0 => {
                            unaudited.push(format!("GET {filled}{query} as {who} shows {marker}"));
                        }
                        (200..=299, Some(_)) => audited_shown += 1,
                        _ => {}
                    }
                }
            }
        }
        assert!(
            unaudited.is_empty(),
            "patient data without an audit record:\n{}",
            unaudited.join("\n")
        );
        assert!(
            audited_shown >= 20,
            "only {audited_shown} answers showed the patient: the walk is not reaching the data"
        );
    }
);
