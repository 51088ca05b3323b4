//! The implementation program through its pages, as a browser without JavaScript: the program
//! manager starts the program from the template, sees the Gantt chart and the heat map as valid
//! SVG, is refused a cycle and an unmet gate, overrides the gate with an audited reason, and
//! exports CSV. Staff cannot open any of it.

use domain::Clock;
use domain::compliance::{AuditAction, AuditQuery};
use domain::identity::Role;
use domain::program::TaskStatus;
use domain::program::service::{self as program, TaskCommand};
use jiff::SignedDuration;
use reqwest::StatusCode;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::browser_for;

/// The first `<svg>...</svg>` of a page, parsed as XML (the test fails if it is not well formed).
fn svg_of(html: &str) -> String {
    let start = html.find("<svg").expect("an svg element");
    let end = html[start..].find("</svg>").expect("a closed svg") + start + "</svg>".len();
    let svg = html[start..end].to_string();
    let doc =
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("invalid SVG ({e}):\n{svg}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    assert!(root.attribute("viewBox").is_some());
    svg
}

fn count(svg: &str, needle: &str) -> usize {
    svg.matches(needle).count()
}

on_both_backends!(
    a_program_manager_runs_the_program_from_the_template_to_a_pilot,
    |app: TestApp| async move {
        let org = app.org("Riverside").await;
        let pm = app.staff(&org, Role::ProgramManager, &[0]).await;
        let nurse = app.staff(&org, Role::Nurse, &[0]).await;
        let browser = browser_for(&app, &pm).await;
        let page = browser.get("/program").await;
        assert_eq!(page.status, StatusCode::OK);
        page.assert_no_inline_code();
        let csrf = page.csrf();
        // Week 1 began 20 weeks ago: some template items are late by now.
        let today = app.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let start = today
            .checked_sub(jiff::Span::new().days(140))
            .unwrap()
            .to_string();
        let bad = browser
            .post(
                "/program",
                &[("csrf", &csrf), ("name", "Rollout"), ("starts_on", "soon")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("Week 1 starts on must be a date")
                && bad.body.contains("href=\"#f-starts_on\"")
                && bad.body.contains("value=\"Rollout\""),
            "the form comes back as typed, the problem beside its field:\n{}",
            bad.body
        );
        let started = browser
            .post(
                "/program",
                &[
                    ("csrf", &csrf),
                    ("name", "Telehealth rollout"),
                    ("starts_on", &start),
                ],
            )
            .await;
        let home = browser.follow(&started).await;
        assert!(
            home.body.contains("Planning and design")
                && home.body.contains("Full-scale deployment")
        );
        assert!(
            home.body.contains("Late milestones and tasks"),
            "{}",
            home.body
        );

        // The timeline: valid SVG with every phase and milestone, today's line and late items.
        let timeline = browser.get("/program/timeline").await;
        timeline.assert_no_inline_code();
        let svg = svg_of(&timeline.body);
        for name in [
            "Planning and design",
            "Development and integration",
            "Pilot launch and validation",
            "Full-scale deployment",
            "Pilot go-live",
            "EHR integration (FHIR R4)",
        ] {
            assert!(svg.contains(name), "{name} in the chart");
        }
        assert_eq!(count(&svg, "class=\"gantt-today\""), 1, "today's line");
        assert!(count(&svg, " late\"") >= 3, "late items are marked:\n{svg}");

        // Dependencies: a cycle is refused, and nothing is done before what it depends on.
        let actor = server::auth::actor::actor_for_user(&pm.user, None);
        let ctx = app.state.ctx();
        let plan = program::plan(ctx, &actor).await.unwrap();
        let requirements = plan
            .tasks
            .iter()
            .find(|t| t.title == "Requirements and stakeholders")
            .unwrap()
            .clone();
        let evaluation = plan
            .tasks
            .iter()
            .find(|t| t.title == "Pilot evaluation")
            .unwrap()
            .clone();
        let input = |t: &domain::program::Task, status: &str, deps: Vec<String>| TaskCommand {
            owner_id: None,
            status: TaskCommand::parse_status(Some(status)).unwrap(),
            depends_on: TaskCommand::parse_depends_on(&deps).unwrap(),
            ..TaskCommand::from(t)
        };
        let cycle = program::update_task(
            ctx,
            &actor,
            requirements.id,
            &input(
                &requirements,
                "in_progress",
                vec![evaluation.id.to_string()],
            ),
        )
        .await;
        assert!(cycle.unwrap_err().to_string().contains("cycle"));
        let early = program::update_task(
            ctx,
            &actor,
            evaluation.id,
            &input(
                &evaluation,
                "done",
                evaluation
                    .depends_on
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        )
        .await;
        assert!(matches!(early, Err(domain::DomainError::Conflict { .. })));
        // Dates outside the program are refused with the field named.
        let mut outside = input(&requirements, "done", vec![]);
        outside.due_on = jiff::civil::date(2099, 1, 1);
        assert!(
            program::update_task(ctx, &actor, requirements.id, &outside)
                .await
                .unwrap_err()
                .to_string()
                .contains("due_on")
        );
        // On the board, a card moves to done.
        let card = browser
            .post(
                &format!("/program/tasks/{}/status", requirements.id),
                &[("csrf", &csrf), ("status", "done")],
            )
            .await;
        card.assert_redirect_starts("/program/board?done=task");
        let stored = app
            .store()
            .get_task(org.org.id, requirements.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.status, TaskStatus::Done);

        // A new task with no title and a due date before its start: both said, all kept.
        let phase = plan.phases[0].id.to_string();
        let tasks_before = plan.tasks.len();
        let refused = browser
            .post(
                "/program/tasks",
                &[
                    ("csrf", &csrf),
                    ("title", ""),
                    ("kind", "milestone"),
                    ("phase_id", &phase),
                    ("starts_on", &today.to_string()),
                    ("due_on", "next week"),
                    ("depends_on", &requirements.id.to_string()),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        for expected in [
            "<a href=\"#f-title\">Title must not be empty.</a>".to_string(),
            "<a href=\"#f-due_on\">Due on must be a date such as 2027-03-31.</a>".to_string(),
            "<option value=\"milestone\" selected>".to_string(),
            format!("value=\"{today}\""),
            "value=\"next week\"".to_string(),
            format!("value=\"{}\" checked", requirements.id),
        ] {
            assert!(
                refused.body.contains(&expected),
                "{expected} in:\n{}",
                refused.body
            );
        }
        assert_eq!(
            program::plan(ctx, &actor).await.unwrap().tasks.len(),
            tasks_before,
            "nothing written"
        );

        // Risks: a rating out of range and no title are refused together, nothing written, and
        // the form comes back with every field as typed; the heat map counts the rest.
        let refused = browser
            .post(
                "/program/risks",
                &[
                    ("csrf", &csrf),
                    ("title", " "),
                    ("category", "adoption"),
                    ("likelihood", "7"),
                    ("impact", "4"),
                    ("mitigation", "Loan tablets with data plans"),
                    ("next_review_on", &today.to_string()),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        refused.assert_no_inline_code();
        let body = &refused.body;
        let summary = body.find("There is a problem").expect("an error summary");
        let form = body.find("id=\"add-risk-title\"").expect("the form");
        assert!(summary < form, "the summary is above the form");
        for expected in [
            "<a href=\"#f-likelihood\">Likelihood must be between 1 and 5.</a>",
            "<a href=\"#f-title\">Risk must not be empty.</a>",
            "id=\"f-likelihood-error\"",
            "id=\"f-title-error\"",
            "value=\"7\"",
            "value=\"4\"",
            "Loan tablets with data plans</textarea>",
            "<option value=\"adoption\" selected>",
            &format!("value=\"{today}\""),
        ] {
            assert!(body.contains(expected), "{expected} in:\n{body}");
        }
        assert!(
            program::plan(ctx, &actor).await.unwrap().risks.is_empty(),
            "nothing written"
        );
        for (title, l, i) in [
            ("Bandwidth at Albany", "4", "5"),
            ("Clinicians prefer the phone", "4", "5"),
            ("Payer rules change", "2", "3"),
        ] {
            let saved = browser
                .post(
                    "/program/risks",
                    &[
                        ("csrf", &csrf),
                        ("title", title),
                        ("category", "technical"),
                        ("likelihood", l),
                        ("impact", i),
                        ("mitigation", "Plan B"),
                        (
                            "next_review_on",
                            &today
                                .checked_sub(jiff::Span::new().days(1))
                                .unwrap()
                                .to_string(),
                        ),
                    ],
                )
                .await;
            saved.assert_redirect_starts("/program/risks?done=risk");
        }
        // A review in a row keeps what was typed in that row and says what is wrong beside it.
        let first = program::plan(ctx, &actor).await.unwrap().risks[0].clone();
        let review = browser
            .post(
                &format!("/program/risks/{}", first.id),
                &[
                    ("csrf", &csrf),
                    ("likelihood", "9"),
                    ("impact", "two"),
                    ("status", "mitigating"),
                    ("next_review_on", &today.to_string()),
                ],
            )
            .await;
        assert_eq!(review.status, StatusCode::UNPROCESSABLE_ENTITY);
        let scope = format!("f-{}", first.id);
        for expected in [
            format!("<a href=\"#{scope}-likelihood\">Likelihood must be between 1 and 5.</a>"),
            format!("<a href=\"#{scope}-impact\">Impact must be between 1 and 5.</a>"),
            format!("id=\"{scope}-likelihood\" name=\"likelihood\" type=\"text\" value=\"9\""),
            format!("id=\"{scope}-impact-error\""),
            "value=\"two\"".to_string(),
        ] {
            assert!(
                review.body.contains(&expected),
                "{expected} in:\n{}",
                review.body
            );
        }
        assert_eq!(
            program::risk(ctx, &actor, first.id)
                .await
                .unwrap()
                .likelihood,
            first.likelihood,
            "nothing written"
        );
        let risks = browser.get("/program/risks").await;
        risks.assert_no_inline_code();
        let heat = svg_of(&risks.body);
        assert_eq!(count(&heat, "<rect"), 25, "a 5×5 grid");
        assert!(heat.contains("likelihood 4, impact 5: 2 open risk(s)"));
        assert!(
            risks.body.contains("3 risk review(s) overdue"),
            "{}",
            risks.body
        );
        let csv = browser.get("/program/risks.csv").await;
        assert!(
            csv.body.lines().count() == 4 && csv.body.contains("\"20\""),
            "{}",
            csv.body
        );
        let tasks_csv = browser.get("/program/tasks.csv").await;
        assert_eq!(tasks_csv.body.lines().count(), 1 + plan.tasks.len());

        // Sites: pilot waits for the readiness items; an override needs a reason and is audited.
        let site = org.sites[0].id;
        let refused = browser
            .post(
                &format!("/program/sites/{site}/stage"),
                &[("csrf", &csrf), ("stage", "pilot")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        let shown = refused;
        assert!(shown.body.contains("not ready for pilot"), "{}", shown.body);
        assert!(
            shown
                .body
                .contains("<span class=\"badge badge-stage-not_started\">Not started</span>"),
            "{}",
            shown.body
        );
        // Every stage has a badge colour of its own in the style sheet.
        let css = browser.get("/assets/app.css").await.body;
        let mut fills = Vec::new();
        for stage in domain::program::SiteStage::ALL {
            let rule = format!(".badge-stage-{} {{", stage.as_str());
            let at = css
                .find(&rule)
                .unwrap_or_else(|| panic!("no badge colour for {rule}"));
            let body = &css[at..at + css[at..].find('}').unwrap()];
            let fill = body
                .split("background:")
                .nth(1)
                .and_then(|b| b.split(';').next())
                .unwrap_or_else(|| panic!("{rule} sets no background"))
                .trim()
                .to_string();
            assert!(!fills.contains(&fill), "{rule} shares its colour {fill}");
            fills.push(fill);
        }
        assert_eq!(
            program::sites(ctx, &actor).await.unwrap()[0].rollout.stage,
            domain::program::SiteStage::NotStarted,
            "nothing written"
        );
        let ticked = browser
            .post(
                &format!("/program/sites/{site}/checklist/equipment_tested"),
                &[("csrf", &csrf), ("done", "true")],
            )
            .await;
        ticked.assert_redirect_starts("/program/sites?done=item");
        let computed = browser
            .post(
                &format!("/program/sites/{site}/checklist/staff_certified"),
                &[("csrf", &csrf), ("done", "true")],
            )
            .await;
        assert!(
            computed.body.contains("cannot be ticked by hand"),
            "{}",
            computed.body
        );
        let moved = browser
            .post(
                &format!("/program/sites/{site}/stage"),
                &[
                    ("csrf", &csrf),
                    ("stage", "pilot"),
                    (
                        "override_reason",
                        "Board approved the pilot with paper fallback on 3 March",
                    ),
                ],
            )
            .await;
        moved.assert_redirect_starts("/program/sites?done=override");
        let overrides = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(org.org.id),
                action: Some(AuditAction::SiteGateOverride),
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(overrides.len(), 1);
        assert!(
            overrides[0]
                .entry
                .detail
                .as_deref()
                .unwrap()
                .contains("paper fallback")
        );
        // The pilot evaluation: two targets out of range are both said, in the site's form.
        let refused = browser
            .post(
                &format!("/program/sites/{site}/evaluation"),
                &[
                    ("csrf", &csrf),
                    ("target_digital_pct", "300"),
                    ("target_no_show_pct", "-5"),
                    ("decision", "go"),
                    ("notes", "Strong start"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        for expected in [
            format!("<a href=\"#f-{site}-target_digital_pct\">"),
            format!("<a href=\"#f-{site}-target_no_show_pct\">"),
            "Strong start</textarea>".to_string(),
            "value=\"300\"".to_string(),
        ] {
            assert!(
                refused.body.contains(&expected),
                "{expected} in:\n{}",
                refused.body
            );
        }
        // The pilot evaluation records measured figures (none yet: 0%) and the decision.
        let evaluated = browser
            .post(
                &format!("/program/sites/{site}/evaluation"),
                &[
                    ("csrf", &csrf),
                    ("target_digital_pct", "30"),
                    ("target_no_show_pct", "10"),
                    ("decision", "no_go"),
                    ("notes", "Too early"),
                ],
            )
            .await;
        evaluated.assert_redirect_starts("/program/sites?done=evaluation");
        let sites = browser.get("/program/sites").await;
        assert!(
            sites.body.contains("No go — digital 0% (target 30%)"),
            "{}",
            sites.body
        );

        // Goals: a goal in the past is refused; one ahead is shown, off track with no meetings.
        let past = browser
            .post(
                "/program/goals",
                &[("csrf", &csrf), ("target_pct", "130"), ("by", "2020-01-01")],
            )
            .await;
        assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
        for expected in [
            "<a href=\"#f-goal-by\">By must be in the future.</a>",
            "<a href=\"#f-goal-target_pct\">",
            "id=\"f-goal-target_pct\" name=\"target_pct\" type=\"text\" value=\"130\"",
        ] {
            assert!(
                past.body.contains(expected),
                "{expected} in:\n{}",
                past.body
            );
        }
        let by = app
            .clock
            .now()
            .checked_add(SignedDuration::from_hours(24 * 700))
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
            .to_string();
        browser
            .post(
                "/program/goals",
                &[("csrf", &csrf), ("target_pct", "30"), ("by", &by)],
            )
            .await
            .assert_redirect_starts("/program?done=goal");
        let home = browser.get("/program").await;
        assert!(home.body.contains("Off track"), "{}", home.body);

        // Staff see none of it.
        let staff = browser_for(&app, &nurse).await;
        for path in [
            "/program",
            "/program/timeline",
            "/program/risks",
            "/program/tasks.csv",
        ] {
            assert_eq!(
                staff.get(path).await.status,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
);

on_both_backends!(
    the_demo_seeds_a_program_in_flight,
    |app: TestApp| async move {
        server::demo::seed_and_print(&app.state, "http://127.0.0.1:8080")
            .await
            .unwrap();
        let org = app
            .store()
            .find_org_by_name(server::demo::ORG_NAME)
            .await
            .unwrap()
            .unwrap();
        let users = app
            .store()
            .list_users(org.id, Some(Role::ProgramManager))
            .await
            .unwrap();
        let actor = server::auth::actor::actor_for_user(&users[0], None);
        let ctx = app.state.ctx();
        let o = program::overview(ctx, &actor).await.unwrap();
        let mut stages: Vec<(&str, &str)> = o
            .rollout
            .sites
            .iter()
            .map(|s| (s.site.name.as_str(), s.rollout.stage.as_str()))
            .collect();
        stages.sort();
        assert_eq!(
            stages,
            [
                ("Albany Clinic", "preparing"),
                ("Brooklyn Clinic", "live"),
                ("Oakland Clinic", "not_started")
            ]
        );
        assert_eq!(o.rollout.evaluations.len(), 1, "the pilot was evaluated");
        assert!(
            o.plan.tasks.iter().any(|t| t.is_late(o.plan.today)),
            "something is late"
        );
        assert!(o.plan.tasks.iter().any(|t| t.status == TaskStatus::Done));
        assert_eq!(o.plan.risks.len(), 5);
        assert!(o.plan.roster.len() >= 5);
        // Goals measured from six months of past visits: the share rises month by month.
        let (goal, progress) = &o.goals[0];
        assert_eq!(goal.target_pct, 30);
        assert_eq!(progress.months.len(), 6, "{progress:?}");
        assert!(
            progress.months.windows(2).all(|w| w[0].pct() < w[1].pct()),
            "{progress:?}"
        );
        assert!(progress.on_track);
        // Training: certified, expiring, excepted and uncertified staff.
        let records = domain::training::service::records(ctx, &actor)
            .await
            .unwrap();
        let standings: std::collections::HashSet<&str> =
            records.iter().map(|r| r.standing.as_str()).collect();
        for s in ["certified", "expiring", "exception", "uncertified"] {
            assert!(standings.contains(s), "{s} in {standings:?}");
        }
        // Brooklyn met its gate (certified staff, a super-user): its moves are plain stage changes.
        let moves = app
            .store()
            .search_audit(&AuditQuery {
                org_id: Some(org.id),
                action: Some(AuditAction::SiteStageChange),
                limit: 50,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            moves
                .iter()
                .any(|m| m.entry.detail.as_deref() == Some("pilot to live")),
            "{moves:?}"
        );
    }
);

on_both_backends!(
    the_program_api_refuses_bad_input_with_the_field_and_writes_nothing,
    |app: TestApp| async move {
        use crate::clinic::{code, get, post};
        use serde_json::json;
        let org = app.org("Riverside").await;
        let pm = app.staff(&org, Role::ProgramManager, &[0]).await;
        let pm = app.sign_in(&pm).await;
        let (status, body) = post(
            &app,
            &pm,
            "/api/v1/program",
            json!({"name": "Rollout", "starts_on": "2026-13-01"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (status, program) = post(
            &app,
            &pm,
            "/api/v1/program",
            json!({"name": "Rollout", "starts_on": "2026-01-05"}),
        )
        .await;
        assert_eq!(status, 201, "{program}");
        let (status, body) = post(
            &app,
            &pm,
            "/api/v1/program",
            json!({"name": "Again", "starts_on": "2026-01-05"}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "conflict"));
        let (_, o) = get(&app, &pm, "/api/v1/program").await;
        let tasks = o["tasks"].as_array().unwrap();
        assert_eq!(
            (o["phases"].as_array().unwrap().len(), tasks.len()),
            (4, 14)
        );
        let first = tasks
            .iter()
            .find(|t| t["title"] == "Requirements and stakeholders")
            .unwrap();
        let last = tasks
            .iter()
            .find(|t| t["title"] == "Pilot evaluation")
            .unwrap();
        let mut cyclic = json!({
            "phase_id": first["phase_id"], "title": first["title"], "kind": first["kind"],
            "starts_on": first["starts_on"], "due_on": first["due_on"], "depends_on": [last["id"]],
        });
        let (status, body) = app_put(
            &app,
            &pm,
            &format!("/api/v1/program/tasks/{}", first["id"].as_str().unwrap()),
            &cyclic,
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("cycle"));
        cyclic["depends_on"] = json!([]);
        cyclic["due_on"] = json!("2030-01-01");
        let (status, body) = app_put(
            &app,
            &pm,
            &format!("/api/v1/program/tasks/{}", first["id"].as_str().unwrap()),
            &cyclic,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("due_on")
        );
        let (status, body) = post(&app, &pm, "/api/v1/risks", json!({"title": "r", "category": "technical", "likelihood": 9, "impact": 1, "next_review_on": "2027-01-01"})).await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let site = org.sites[0].id;
        let (status, body) = post(
            &app,
            &pm,
            &format!("/api/v1/sites/{site}/rollout/stage"),
            json!({"stage": "live"}),
        )
        .await;
        assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
        let (status, body) = post(
            &app,
            &pm,
            &format!("/api/v1/sites/{site}/rollout/stage"),
            json!({"stage": "preparing"}),
        )
        .await;
        assert_eq!(
            (status, body["stage"].as_str()),
            (200, Some("preparing")),
            "{body}"
        );
        let (status, body) = post(
            &app,
            &pm,
            "/api/v1/goals",
            json!({"target_pct": 130, "by": "2030-01-01"}),
        )
        .await;
        assert_eq!((status, code(&body)), (422, "validation_failed"));
        let (_, after) = get(&app, &pm, "/api/v1/program").await;
        assert!(
            after["risks"].as_array().unwrap().is_empty()
                && after["goals"].as_array().unwrap().is_empty(),
            "nothing written"
        );
    }
);

async fn app_put(
    app: &TestApp,
    session: &Session,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = session
        .client
        .put(app.url(path))
        .header("x-csrf-token", &session.csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}
