//! CSV downloads of the rollout pages (tasks, risks, training records).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// One CSV line, every field quoted; a cell that starts like a formula (`=`, `+`, `-`, `@`) gets
/// a leading `'`, so a spreadsheet shows it instead of running it.
pub fn line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| {
            let safe = if f.starts_with(['=', '+', '-', '@']) {
                format!("'{f}")
            } else {
                f.clone()
            };
            format!("\"{}\"", safe.replace('"', "\"\""))
        })
        .collect::<Vec<_>>()
        .join(",")
        + "\r\n"
}

/// The file as a download named `name`.
pub fn download(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(
            line(&["a \"b\"".into(), "=SUM(A1)".into(), "-3".into()]),
            "\"a \"\"b\"\"\",\"'=SUM(A1)\",\"'-3\"\r\n"
        );
    }
}
