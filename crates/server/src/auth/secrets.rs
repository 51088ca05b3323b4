//! Random tokens and their hashes. Only hashes of bearer secrets are ever stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// 256 random bits from the operating system, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn fill_random(buf: &mut [u8]) {
    // The OS generator failing means the machine cannot do cryptography at all; refuse to go on.
    if getrandom::fill(buf).is_err() {
        tracing::error!("operating system random generator failed");
        std::process::abort();
    }
}

/// SHA-256 of a high-entropy secret (tokens, session ids, recovery codes), hex encoded.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Compares in time independent of where the first difference is.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
