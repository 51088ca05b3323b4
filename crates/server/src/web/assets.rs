//! Stylesheet, scripts and icons, compiled into the binary and served from `/assets/...`. The
//! live pages' scripts are ES modules under `/assets/live/`, importing each other by relative
//! path (no build step): the same origin, so the CSP's `script-src 'self'` admits them.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::page::PageError;

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/`: its path there, its type, its content.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    ("app.js", JS, include_str!("../../assets/app.js")),
    ("notes.js", JS, include_str!("../../assets/notes.js")),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../assets/favicon.svg"),
    ),
    (
        "live/board.js",
        JS,
        include_str!("../../assets/live/board.js"),
    ),
    (
        "live/common.js",
        JS,
        include_str!("../../assets/live/common.js"),
    ),
    (
        "live/socket.js",
        JS,
        include_str!("../../assets/live/socket.js"),
    ),
    (
        "live/device-check.js",
        JS,
        include_str!("../../assets/live/device-check.js"),
    ),
    (
        "live/inbox.js",
        JS,
        include_str!("../../assets/live/inbox.js"),
    ),
    (
        "live/urgent-care.js",
        JS,
        include_str!("../../assets/live/urgent-care.js"),
    ),
    (
        "live/waiting-room.js",
        JS,
        include_str!("../../assets/live/waiting-room.js"),
    ),
    (
        "live/visit.js",
        JS,
        include_str!("../../assets/live/visit.js"),
    ),
    (
        "live/visit-page.js",
        JS,
        include_str!("../../assets/live/visit-page.js"),
    ),
    (
        "live/media.js",
        JS,
        include_str!("../../assets/live/media.js"),
    ),
    (
        "live/mesh.js",
        JS,
        include_str!("../../assets/live/mesh.js"),
    ),
    (
        "live/quality.js",
        JS,
        include_str!("../../assets/live/quality.js"),
    ),
];

/// `/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    respond(&file)
}

/// `/assets/live/{file}`: the live pages' modules.
pub async fn serve_live(Path(file): Path<String>) -> Response {
    respond(&format!("live/{file}"))
}

/// The file, or the 404 page. Cached for an hour: assets change only with a new binary.
fn respond(path: &str) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(p, ..)| *p == path) else {
        return PageError::NotFound.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *body,
    )
        .into_response()
}
