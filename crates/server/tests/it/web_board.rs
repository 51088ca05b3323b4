//! The program board works like a board (filters by phase, owner, the owner's site and
//! lateness; columns that cards can be dropped on), and the program manager's home page shows
//! where the program stands.

use domain::Clock;
use domain::identity::Role;
use domain::program::TaskKind;
use domain::program::service::{self as program, TaskCommand};
use reqwest::StatusCode;
use server::auth::actor::actor_for_user;

use crate::helpers::*;
use crate::on_both_backends;
use crate::web_scheduling::browser_for;

on_both_backends!(
    the_board_filters_by_phase_owner_site_and_lateness_and_the_home_page_shows_the_program,
    |app: TestApp| async move {
        let org = app.org("Riverside").await;
        let pm = app.staff(&org, Role::ProgramManager, &[0]).await;
        let west_nurse = app.staff(&org, Role::Nurse, &[1]).await;
        let browser = browser_for(&app, &pm).await;

        // Before the program starts, the home page says how to start it.
        let home = browser.get("/app").await;
        assert!(home.body.contains("Not started yet"), "{}", home.body);
        assert!(!home.body.contains("arrive with the program module"));

        let actor = actor_for_user(&pm.user, None);
        let ctx = app.state.ctx();
        let today = app.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let start = today.checked_sub(jiff::Span::new().days(140)).unwrap();
        program::start(ctx, &actor, "Telehealth rollout", &start.to_string())
            .await
            .unwrap();
        let plan = program::plan(ctx, &actor).await.unwrap();
        let pilot = plan.phases[2].id;
        let task = program::add_task(
            ctx,
            &actor,
            &TaskCommand {
                phase_id: pilot,
                title: "Train the West Clinic nurses".into(),
                kind: TaskKind::Task,
                owner_id: Some(west_nurse.user.id),
                starts_on: today,
                due_on: today.checked_add(jiff::Span::new().days(30)).unwrap(),
                status: domain::program::TaskStatus::NotStarted,
                depends_on: Vec::new(),
            },
        )
        .await
        .unwrap();
        let late_count = plan.tasks.iter().filter(|t| t.is_late(today)).count();
        assert!(
            late_count > 0,
            "the template is 20 weeks in: some items are late"
        );

        let board = browser.get("/program/board").await;
        assert_eq!(board.status, StatusCode::OK);
        board.assert_no_inline_code();
        assert!(board.body.contains("src=\"/assets/live/board.js\""));
        assert!(board.body.contains("data-status=\"done\""));
        assert!(
            board
                .body
                .contains(&format!("draggable=\"true\" data-task=\"{}\"", task.id))
        );
        assert!(!board.body.contains("Showing "), "no filter, no count");

        // By the owner's site: only the West nurse's task.
        let west = browser
            .get(&format!("/program/board?site={}", org.sites[1].id))
            .await;
        let total = plan.tasks.len() + 1;
        assert!(
            west.body
                .contains(&format!("Showing 1 of {total} milestones and tasks.")),
            "{}",
            west.body
        );
        assert!(west.body.contains(&format!("data-task=\"{}\"", task.id)));
        let by_owner = browser
            .get(&format!(
                "/program/board?owner={}&phase={pilot}",
                west_nurse.user.id
            ))
            .await;
        assert!(by_owner.body.contains("Showing 1 of"));
        let other_phase = browser
            .get(&format!(
                "/program/board?owner={}&phase={}",
                west_nurse.user.id, plan.phases[0].id
            ))
            .await;
        assert!(other_phase.body.contains(&format!("Showing 0 of {total}")));
        let late = browser.get("/program/board?late=true").await;
        assert!(
            late.body
                .contains(&format!("Showing {late_count} of {total}")),
            "{}",
            late.body
        );
        assert!(
            !late.body.contains(&format!("data-task=\"{}\"", task.id)),
            "not late yet"
        );
        // A move from a filtered board comes back to it filtered; anything else a form carries
        // in its filters is dropped.
        let csrf = west.csrf();
        let site_query = format!("site={}", org.sites[1].id);
        let moved = browser
            .post(
                &format!("/program/tasks/{}/status", task.id),
                &[
                    ("csrf", csrf.as_str()),
                    ("status", "in_progress"),
                    ("filters", &format!("{site_query}&evil=%0d%0aSet-Cookie:x")),
                ],
            )
            .await;
        moved.assert_redirect_starts(&format!("/program/board?{site_query}&done=task"));
        assert!(!moved.location.contains("evil"));
        // An address naming nothing shows everything rather than failing.
        let stale = browser.get("/program/board?phase=gone&owner=&site=").await;
        assert_eq!(stale.status, StatusCode::OK);
        assert!(!stale.body.contains("Showing "));

        // The home page: the program, the phase under way, what is late.
        let home = browser.get("/app").await;
        assert!(home.body.contains("Telehealth rollout"), "{}", home.body);
        assert!(home.body.contains("Now: "));
        assert!(
            home.body.contains(&format!("Late ({late_count})")),
            "{}",
            home.body
        );
        assert!(home.body.contains("href=\"/program/tasks/"));
    }
);
