//! The JSON API under `/api/v1`, `/oauth/token`, and the OpenAPI document generated from these routes.

pub mod admin;
pub mod appointments;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod consent;
pub mod messages;
pub mod notes;
pub mod oauth;
pub mod ops;
pub mod patients;
pub mod program;
pub mod queue;
pub mod session;
pub mod training;
pub mod visits;

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Telemed API", description = "Telemedicine platform JSON API. Errors: {\"error\": {\"code\", \"message\"}}."),
    modifiers(&SecuritySchemes),
    tags((name = "patients"), (name = "scheduling"), (name = "visits"), (name = "notes"), (name = "messages"), (name = "training"), (name = "program"), (name = "session"), (name = "admin"), (name = "audit"), (name = "oauth"), (name = "ops"))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Token from POST /oauth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::sessions::COOKIE,
            ))),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The API routes and their OpenAPI document, built from the same list so they cannot drift apart.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(patients::create_patient, patients::list_patients))
        .routes(routes!(patients::get_patient, patients::update_patient))
        .routes(routes!(patients::break_glass))
        .routes(routes!(
            availability::list_visit_types,
            availability::create_visit_type
        ))
        .routes(routes!(availability::update_visit_type))
        .routes(routes!(availability::get_availability))
        .routes(routes!(availability::create_template))
        .routes(routes!(availability::end_template))
        .routes(routes!(availability::create_exception))
        .routes(routes!(availability::publish_slots))
        .routes(routes!(appointments::search_slots))
        .routes(routes!(appointments::book, appointments::list))
        .routes(routes!(appointments::get))
        .routes(routes!(appointments::reschedule))
        .routes(routes!(appointments::cancel))
        .routes(routes!(appointments::confirm))
        .routes(routes!(appointments::check_in))
        .routes(routes!(appointments::start))
        .routes(routes!(appointments::complete))
        .routes(routes!(appointments::no_show))
        .routes(routes!(consent::current_text, consent::publish_text))
        .routes(routes!(consent::patient_status, consent::give))
        .routes(routes!(queue::join, queue::waiting))
        .routes(routes!(queue::my_place))
        .routes(routes!(queue::leave))
        .routes(routes!(queue::take))
        .routes(routes!(calendar::issue))
        .routes(routes!(calendar::feed))
        .routes(routes!(visits::waiting_room))
        .routes(routes!(visits::get_record))
        .routes(routes!(visits::admit))
        .routes(routes!(visits::end))
        .routes(routes!(visits::invite, visits::list_invites))
        .routes(routes!(visits::admit_guest))
        .routes(routes!(visits::emergency))
        .routes(routes!(visits::list_alerts))
        .routes(routes!(visits::acknowledge_alert))
        .routes(routes!(notes::search_codes))
        .routes(routes!(notes::start_note, notes::appointment_note))
        .routes(routes!(notes::unsigned_notes))
        .routes(routes!(notes::get_note, notes::save_note))
        .routes(routes!(notes::sign_note))
        .routes(routes!(notes::add_addendum))
        .routes(routes!(notes::get_summary))
        .routes(routes!(notes::my_summaries))
        .routes(routes!(messages::my_recipients))
        .routes(routes!(messages::start_thread, messages::inbox))
        .routes(routes!(messages::my_threads))
        .routes(routes!(messages::get_thread))
        .routes(routes!(messages::reply))
        .routes(routes!(messages::close))
        .routes(routes!(messages::reopen))
        .routes(routes!(messages::assign))
        .routes(routes!(messages::download))
        .routes(routes!(program::program_overview, program::start_program))
        .routes(routes!(program::add_task))
        .routes(routes!(program::update_task))
        .routes(routes!(program::add_risk))
        .routes(routes!(program::update_risk))
        .routes(routes!(program::move_site))
        .routes(routes!(program::add_goal))
        .routes(routes!(training::list_courses, training::create_course))
        .routes(routes!(training::mine))
        .routes(routes!(training::records))
        .routes(routes!(training::get_enrolment))
        .routes(routes!(training::complete_module))
        .routes(routes!(training::submit_test))
        .routes(routes!(training::grant_exception))
        .routes(routes!(session::sign_in, session::sign_out))
        .routes(routes!(session::second_factor))
        .routes(routes!(session::me))
        .routes(routes!(admin::list_sites, admin::create_site))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user))
        .routes(routes!(audit::search))
        .routes(routes!(audit::export))
        .routes(routes!(audit::list_break_glass))
        .routes(routes!(audit::review_break_glass))
        .routes(routes!(oauth::token))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .split_for_parts()
}

/// Adds `/api/openapi.json` serving the document.
pub fn with_openapi_route(
    router: Router<AppState>,
    doc: utoipa::openapi::OpenApi,
) -> Router<AppState> {
    let doc = std::sync::Arc::new(complete_document(doc));
    router.route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

/// OpenAPI requires a description on every response; where a route gives none, the status's
/// reason phrase ("Not Found") stands in.
fn complete_document(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    let operations = value
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let Some(response) = response.as_object_mut() else {
                continue;
            };
            let missing = response
                .get("description")
                .and_then(serde_json::Value::as_str)
                .is_none_or(str::is_empty);
            if missing {
                let reason = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
                    .and_then(|code| code.canonical_reason())
                    .unwrap_or("Response");
                response.insert("description".into(), serde_json::Value::from(reason));
            }
        }
    }
    value
}
