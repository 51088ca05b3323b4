//! The server-rendered web UI: one route table, pages rendered from Askama templates.

use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(|| async { Redirect::to("/signin") }))
}

pub fn not_found_page() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><title>Not found</title><p>Page not found.</p>"),
    )
}
