//! Smaller parsers of outside input: the `back=` return address of the appointment forms (it
//! ends up in a `Location` header), the `Cookie` header (session, CSRF and visit cookies), the
//! `Authorization` header of the token endpoint (HTTP Basic, each part form-urlencoded), and the
//! sign-in code (six digits or a recovery code).

use axum::http::{HeaderMap, HeaderValue, header};
use server::web::fuzzing;

use super::{Target, run};

#[test]
fn fuzz_return_addresses() {
    let target = Target::new("return-address").words([
        "/front-desk",
        "/schedule",
        "/appointments",
        "?day=2026-12-07",
        "&done=",
        "#",
        "%0d%0a",
        "%0a",
        "\r\n",
        "Set-Cookie: a=b",
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\u{7f}",
        "\u{a0}",
    ]);
    run(target, |input| {
        let raw = String::from_utf8_lossy(input);
        if let Ok(Some(back)) = fuzzing::return_address(&raw) {
            assert!(back.starts_with('/') && !back.starts_with("//"), "{back:?}");
            assert!(
                back.bytes().all(|b| b.is_ascii_graphic()),
                "a return address with a control or non-ASCII character: {back:?}"
            );
        }
    });
}

#[test]
fn fuzz_cookie_headers() {
    let target = Target::new("cookie").words([
        "telemed_session=",
        "telemed_csrf=",
        "telemed_visit=",
        "; ",
        ";",
        "=",
        "==",
        "\"",
        "csrf=",
        "\n",
    ]);
    run(target, |input| {
        // The header, then a line break, then the form body that goes with it.
        let (cookie, form) = match input.iter().position(|b| *b == b'\n') {
            Some(at) => (&input[..at], &input[at + 1..]),
            None => (input, &input[..0]),
        };
        let _ = fuzzing::cookie_header(cookie, form);
    });
}

#[test]
fn fuzz_authorization_headers() {
    let target = Target::new("authorization").words([
        "Basic ", "basic ", "Bearer ", "bearer ", "=", "==", ":", "%3A", "%", "%ZZ", "dGVzdA",
        "YTpi",
    ]);
    run(target, |input| {
        let Ok(value) = HeaderValue::from_bytes(input) else {
            return;
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        if let Some((id, secret)) = server::api::oauth::basic_credentials(&headers) {
            let _ = (id.len(), secret.len());
        }
    });
}

#[test]
fn fuzz_sign_in_codes() {
    let target = Target::new("sign-in-code").words(["123456", " ", "-", "7GQK-M2XA-PW", "٣"]);
    let now = jiff::Timestamp::from_second(1_796_000_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    run(target, |input| {
        let code = String::from_utf8_lossy(input);
        let _ = server::auth::totp::check("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", &code, now);
        let normal = server::auth::totp::normalise_recovery_code(&code);
        assert!(
            normal
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() && !b.is_ascii_lowercase())
        );
    });
}
