//! Sign-in, second factor, sessions, integration tokens, and turning any of them into an `Actor`.

pub mod actor;
pub mod audit_signing;
pub mod oauth;
pub mod passwords;
pub mod sealed;
pub mod secrets;
pub mod sessions;
pub mod signin;
pub mod throttle;
pub mod totp;
