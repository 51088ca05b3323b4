//! RFC 6238 one-time codes: secrets, otpauth URIs for authenticator apps, QR codes, checking.

use jiff::Timestamp;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::secrets::fill_random;

pub const ISSUER: &str = "Telemed";

/// A new 160-bit secret, base32 as authenticator apps expect.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    fill_random(&mut bytes);
    Secret::from(bytes.to_vec()).to_base32()
}

fn build(secret_b32: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .ok()
}

/// The `otpauth://` URI an authenticator app scans.
pub fn otpauth_uri(secret_b32: &str, account: &str) -> Option<String> {
    build(secret_b32, account)?.to_url().ok()
}

/// Checks a six-digit code at `now` (one step of clock skew either way); returns the matched time step.
pub fn check(secret_b32: &str, code: &str, now: Timestamp) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = u64::try_from(now.as_second()).ok()?;
    let totp = build(secret_b32, "check")?;
    totp.check(&code, seconds)
        .and_then(|step| i64::try_from(step).ok())
}

/// The code for `now`: used by tests and the demo's printed instructions.
pub fn code_at(secret_b32: &str, now: Timestamp) -> Option<String> {
    let seconds = u64::try_from(now.as_second()).ok()?;
    Some(build(secret_b32, "code")?.generate(seconds).to_string())
}

/// An SVG QR code of the URI, for the enrolment page (rendered inline, no script).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// Ten single-use recovery codes such as `7GQK-M2XA-PW`.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..10)
        .map(|_| {
            let mut bytes = [0u8; 10];
            fill_random(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .collect();
            format!("{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..10])
        })
        .collect()
}

/// Recovery codes are compared case- and dash-insensitively.
pub fn normalise_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_checks_at_its_own_time_and_not_ten_minutes_later() {
        let secret = new_secret();
        let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let code = code_at(&secret, now).unwrap_or_default();
        assert!(check(&secret, &code, now).is_some());
        let later = Timestamp::from_second(1_800_000_600).unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(check(&secret, &code, later).is_none());
        assert!(check(&secret, "abcdef", now).is_none());
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_qr_code_is_svg() {
        let uri = otpauth_uri(&new_secret(), "ann@example.org").unwrap_or_default();
        assert!(uri.starts_with("otpauth://totp/Telemed"), "{uri}");
        assert!(qr_svg(&uri).unwrap_or_default().contains("<svg"));
    }
}
