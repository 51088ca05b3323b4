//! `multipart/form-data` bodies (RFC 7578): the forms that attach files without JavaScript.
//! Text fields become a [`FormData`] (so the CSRF check and field helpers work as for any
//! form); file fields keep their bytes. The body is read up to the upload limit, not the
//! smaller limit of ordinary forms.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::form::FormData;
use super::page::PageError;
use crate::state::AppState;

/// A file field as sent: the name the browser gave and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    pub field: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A multipart form: its text fields and its files (empty file inputs are left out).
#[derive(Debug, Default)]
pub struct MultipartForm {
    pub form: FormData,
    pub files: Vec<FilePart>,
}

impl FromRequest<AppState> for MultipartForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let too_large = || {
            PageError::BadRequest(format!(
                "The form is too large. Each file may be at most {:.0} MB.",
                state.config.attachment_max_bytes as f64 / (1024.0 * 1024.0)
            ))
            .into_response()
        };
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(boundary_of);
        let limit = crate::extract::upload_limit(&state.config);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_large())?;
        // Not multipart (an old page, a test posting a plain form): read it as a plain form.
        let Some(boundary) = boundary else {
            return Ok(Self {
                form: FormData::from_encoded(&bytes),
                files: Vec::new(),
            });
        };
        Ok(parse(&bytes, &boundary).unwrap_or_default())
    }
}

/// The boundary of a `multipart/form-data` content type.
pub(super) fn boundary_of(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| &haystack[i..i + needle.len()] == needle)
}

/// A header parameter (`name="x"`) of a part's `Content-Disposition`.
fn parameter(disposition: &str, key: &str) -> Option<String> {
    disposition.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits the body into parts; `None` when it is not well formed (read as an empty form, which
/// the CSRF check then refuses).
pub fn parse(body: &[u8], boundary: &str) -> Option<MultipartForm> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut files = Vec::new();
    let mut at = find(body, &delimiter, 0)? + delimiter.len();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            break;
        }
        // Skip the line break after the delimiter.
        at = find(body, b"\r\n", at)? + 2;
        let headers_end = find(body, b"\r\n\r\n", at)?;
        let headers = std::str::from_utf8(&body[at..headers_end]).ok()?;
        let content_start = headers_end + 4;
        let mut next_delimiter = b"\r\n".to_vec();
        next_delimiter.extend_from_slice(&delimiter);
        let content_end = find(body, &next_delimiter, content_start)?;
        let content = &body[content_start..content_end];
        let disposition = headers
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(value.trim())
            })
            .unwrap_or_default();
        if let Some(name) = parameter(disposition, "name") {
            match parameter(disposition, "filename") {
                Some(file_name) => {
                    if !(content.is_empty() && file_name.is_empty()) {
                        files.push(FilePart {
                            field: name,
                            file_name,
                            bytes: content.to_vec(),
                        });
                    }
                }
                None => pairs.push((name, String::from_utf8_lossy(content).into_owned())),
            }
        }
        at = content_end + next_delimiter.len();
    }
    Some(MultipartForm {
        form: FormData::from_owned(pairs),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_and_files_are_read_and_an_empty_file_input_is_left_out() {
        let mut body = Vec::new();
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nline one\r\nline two\r\n\
              --XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"rash.jpg\"\r\n\
              Content-Type: image/jpeg\r\n\r\n",
        );
        body.extend_from_slice(&[0xFF, 0xD8, 0xFF, b'\r', b'\n', b'-', b'-', 0]);
        body.extend_from_slice(
            b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"\"\r\n\
              Content-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n",
        );
        let parsed = parse(&body, "XyZ").unwrap();
        assert_eq!(parsed.form.get("csrf"), "abc");
        assert_eq!(parsed.form.get("body"), "line one\r\nline two");
        assert_eq!(parsed.files.len(), 1);
        assert_eq!(parsed.files[0].file_name, "rash.jpg");
        assert_eq!(
            parsed.files[0].bytes,
            vec![0xFF, 0xD8, 0xFF, b'\r', b'\n', b'-', b'-', 0]
        );
    }

    #[test]
    fn the_boundary_is_read_from_the_content_type_and_a_broken_body_is_refused() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=----abc").as_deref(),
            Some("----abc")
        );
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"q r\"").as_deref(),
            Some("q r")
        );
        assert_eq!(boundary_of("application/x-www-form-urlencoded"), None);
        assert!(parse(b"--b\r\nno end", "b").is_none());
    }
}
