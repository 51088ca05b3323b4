//! Stylesheet, script and icons, compiled into the binary and served from `/assets/...`.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::page::PageError;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
const VISIT_JS: &str = include_str!("../../assets/visit.js");
const NOTES_JS: &str = include_str!("../../assets/notes.js");
const FAVICON: &str = include_str!("../../assets/favicon.svg");

/// The file, or the 404 page. Cached for an hour: assets change only with a new binary.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "app.css" => ("text/css; charset=utf-8", CSS),
        "app.js" => ("text/javascript; charset=utf-8", JS),
        "visit.js" => ("text/javascript; charset=utf-8", VISIT_JS),
        "notes.js" => ("text/javascript; charset=utf-8", NOTES_JS),
        "favicon.svg" => ("image/svg+xml", FAVICON),
        _ => return PageError::NotFound.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
