//! The server-rendered web UI: one route table, pages rendered from Askama templates.
//!
//! Handlers are thin: read the form or query, call the same `domain` use cases and `auth` functions
//! as the JSON API, and render a view struct prepared here. Every form posts, then redirects to a
//! page, and carries a CSRF token; nothing needs JavaScript.

mod account;
mod admin;
mod appointment_view;
mod appointments;
mod assets;
mod audit;
mod availability;
mod availability_edit;
mod booking;
mod calendar;
mod check_in_answers;
mod consent;
mod csv_export;
mod form;
mod front_desk;
pub mod fuzzing;
mod home;
mod inbox;
mod join;
mod messages;
mod multipart;
mod notes;
mod page;
mod password_reset;
mod patients;
mod program;
mod program_charts;
mod program_risks;
mod program_sites;
mod program_tasks;
mod queue;
mod session;
mod shell;
mod signin;
mod summaries;
mod training;
mod user_edit;
mod visit;
mod visit_check_in;
mod visit_link;
mod visit_nurse;
mod visit_record;
mod visit_types;
mod waiting_room;
mod when;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::root))
        .route("/app", get(home::app))
        .route("/me", get(home::me))
        .route("/signin", get(signin::form).post(signin::submit))
        .route(
            "/signin/code",
            get(signin::code_form).post(signin::code_submit),
        )
        .route(
            "/signin/enrol",
            get(signin::enrol_form).post(signin::enrol_submit),
        )
        .route("/signout", post(signin::sign_out))
        .route(
            "/signin/forgot",
            get(password_reset::forgot_form).post(password_reset::forgot_submit),
        )
        .route(
            "/signin/reset/{token}",
            get(password_reset::reset_form).post(password_reset::reset_submit),
        )
        .route(
            "/me/contact",
            get(account::contact_form).post(account::contact_submit),
        )
        .route(
            "/me/password",
            get(account::password_form).post(account::password_submit),
        )
        .route("/patients", get(patients::list))
        .route(
            "/patients/new",
            get(patients::new_form).post(patients::create),
        )
        .route("/patients/{id}", get(patients::show))
        .route(
            "/patients/{id}/edit",
            get(patients::edit_form).post(patients::update),
        )
        .route("/patients/{id}/break-glass", post(patients::break_glass))
        .route("/admin/users", get(admin::users))
        .route(
            "/admin/users/new",
            get(admin::new_user_form).post(admin::create_user),
        )
        .route("/admin/users/{id}/active", post(admin::set_active))
        .route(
            "/admin/users/{id}",
            get(user_edit::form).post(user_edit::update),
        )
        .route(
            "/admin/users/{id}/second-factor",
            post(user_edit::reset_second_factor),
        )
        .route(
            "/admin/users/{id}/password-reset",
            post(user_edit::send_password_reset),
        )
        .route("/admin/sites", get(admin::sites).post(admin::create_site))
        .route(
            "/admin/sites/{id}",
            get(admin::edit_site_form).post(admin::update_site),
        )
        .route("/audit", get(audit::search))
        .route("/audit/export.csv", get(audit::export))
        .route("/audit/break-glass", get(audit::break_glass))
        .route("/audit/break-glass/{id}/review", post(audit::review))
        .route("/book", get(booking::search))
        .route(
            "/book/confirm",
            get(booking::confirm_form).post(booking::confirm_submit),
        )
        .route("/appointments", get(appointments::list))
        .route("/appointments/{id}", get(appointments::show))
        .route(
            "/appointments/{id}/reschedule",
            post(booking::reschedule_submit),
        )
        .route("/appointments/{id}/cancel", post(appointments::cancel))
        .route("/appointments/{id}/check-in", post(appointments::check_in))
        .route("/appointments/{id}/confirm", post(appointments::confirm))
        .route("/appointments/{id}/start", post(appointments::start))
        .route("/appointments/{id}/complete", post(appointments::complete))
        .route("/appointments/{id}/no-show", post(appointments::no_show))
        .route("/appointments/{id}/nurse", post(appointments::add_nurse))
        .route(
            "/appointments/{id}/join-link",
            get(visit_link::form).post(visit_link::send),
        )
        .route("/front-desk", get(front_desk::day))
        .route("/schedule", get(calendar::schedule))
        .route("/schedule/calendar-feed", post(calendar::new_feed))
        .route("/schedule/availability", get(availability::show))
        .route(
            "/schedule/availability/hours",
            post(availability_edit::add_hours),
        )
        .route(
            "/schedule/availability/hours/{id}/end",
            post(availability_edit::end_hours),
        )
        .route(
            "/schedule/availability/exceptions",
            post(availability_edit::add_exception),
        )
        .route("/urgent-care", get(queue::urgent_care).post(queue::join))
        .route("/urgent-care/leave", post(queue::leave))
        .route("/queue", get(queue::waiting))
        .route("/queue/take", post(queue::take))
        .route(
            "/admin/visit-types",
            get(visit_types::list).post(visit_types::create),
        )
        .route(
            "/admin/visit-types/{id}",
            get(visit_types::edit_form).post(visit_types::update),
        )
        .route("/admin/consent", get(consent::show).post(consent::publish))
        .route(
            "/visits/{id}/check-in",
            get(visit_check_in::form).post(visit_check_in::submit),
        )
        .route("/visits/{id}", get(visit::show))
        .route("/visits/{id}/admit", post(visit::admit))
        .route("/visits/{id}/end", post(visit::end))
        .route("/visits/{id}/emergency", post(visit::emergency))
        .route("/visits/{id}/invites", post(visit::invite))
        .route(
            "/visits/{id}/guests/{invite}/admit",
            post(visit::admit_guest),
        )
        .route("/visits/{id}/record", get(visit_record::show))
        .route("/visits/{id}/note", get(notes::show).post(notes::start))
        .route("/notes/{id}/save", post(notes::save))
        .route("/notes/{id}/sign", post(notes::sign))
        .route("/notes/{id}/addenda", post(notes::addend))
        .route("/summaries", get(summaries::summaries))
        .route("/summaries/{id}", get(summaries::summary))
        .route("/messages", get(messages::list))
        .route(
            "/messages/new",
            get(messages::new_form).post(messages::create),
        )
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/reply", post(messages::reply))
        .route("/messages/{id}/close", post(messages::close))
        .route("/messages/{id}/reopen", post(messages::reopen))
        .route("/messages/{id}/assign", post(messages::assign))
        .route("/attachments/{id}", get(messages::download))
        .route("/waiting-room", get(waiting_room::show))
        .route(
            "/waiting-room/alerts/{id}/acknowledge",
            post(waiting_room::acknowledge),
        )
        .route("/program", get(program::home).post(program::start))
        .route("/program/goals", post(program::add_goal))
        .route("/program/roster", post(program::set_roster))
        .route("/program/board", get(program_tasks::board))
        .route("/program/tasks", post(program_tasks::add_task))
        .route(
            "/program/tasks/{id}/status",
            post(program_tasks::set_task_status),
        )
        .route(
            "/program/tasks/{id}",
            get(program_tasks::task).post(program_tasks::update_task),
        )
        .route("/program/timeline", get(program::timeline))
        .route(
            "/program/risks",
            get(program_risks::risks).post(program_risks::add_risk),
        )
        .route("/program/risks/{id}", post(program_risks::review_risk))
        .route("/program/sites", get(program_sites::sites))
        .route("/program/sites/{id}/stage", post(program_sites::move_site))
        .route(
            "/program/sites/{id}/checklist/{key}",
            post(program_sites::set_item),
        )
        .route(
            "/program/sites/{id}/evaluation",
            post(program_sites::evaluate),
        )
        .route("/program/tasks.csv", get(program_tasks::tasks_csv))
        .route("/program/risks.csv", get(program_risks::risks_csv))
        .route("/training", get(training::mine))
        .route("/training/enrolments/{id}", get(training::show))
        .route(
            "/training/enrolments/{id}/modules/{index}",
            post(training::complete_module),
        )
        .route(
            "/training/enrolments/{id}/tests/{kind}",
            post(training::submit_test),
        )
        .route("/training/records", get(training::records))
        .route("/training/records.csv", get(training::export))
        .route("/training/exceptions", post(training::grant_exception))
        .route("/join/{token}", get(join::show).post(join::submit))
        .route("/v/{token}", get(visit_link::show).post(visit_link::open))
        .route("/assets/{file}", get(assets::serve))
        .route("/assets/live/{file}", get(assets::serve_live))
}

/// The page for an unknown address; the server's fallback for everything outside the API.
pub fn not_found_page() -> impl IntoResponse {
    page::PageError::NotFound
}
