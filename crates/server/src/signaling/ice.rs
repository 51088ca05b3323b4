//! The ICE servers a participant's browser uses: STUN as configured, and TURN with credentials
//! minted for this participant in this visit.
//!
//! TURN credentials follow the time-limited shared-secret scheme coturn implements with
//! `use-auth-secret` (the "TURN REST API"): the username is `<expiry unix time>:<label>` and the
//! password is base64(HMAC-SHA1(secret, username)). The TURN server checks both without asking
//! us, and refuses the credentials once the expiry passed.

use aws_lc_rs::hmac;
use base64::Engine;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::config::ServeConfig;

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The password of a TURN username under the shared secret.
pub fn turn_password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let tag = hmac::sign(&key, username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The ICE servers for one participant. `label` names them in the TURN server's logs; it must
/// carry no patient data (a participant id is enough).
pub fn ice_servers(config: &ServeConfig, label: &str, now: Timestamp) -> Vec<IceServer> {
    let mut servers = Vec::new();
    if !config.stun_urls.is_empty() {
        servers.push(IceServer {
            urls: config.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if let (false, Some(secret)) = (config.turn_urls.is_empty(), &config.turn_secret) {
        let expiry = now
            .saturating_add(SignedDuration::from_mins(config.turn_credential_minutes))
            .unwrap_or(now)
            .as_second();
        let username = format!("{expiry}:{label}");
        servers.push(IceServer {
            urls: config.turn_urls.clone(),
            credential: Some(turn_password(secret, &username)),
            username: Some(username),
        });
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_hmac_sha1_coturn_computes() {
        // As computed by `echo -n 1433435400:joe | openssl dgst -sha1 -hmac north -binary | base64`.
        assert_eq!(
            turn_password("north", "1433435400:joe"),
            "JhqJyDRqYs53HlWCSkeq9iFP6do="
        );
    }

    #[test]
    fn turn_credentials_expire_after_the_configured_minutes_and_stun_needs_none() {
        let mut config = ServeConfig::for_testing();
        assert!(ice_servers(&config, "p1", Timestamp::UNIX_EPOCH).is_empty());
        config.stun_urls = vec!["stun:127.0.0.1:3478".into()];
        config.turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        config.turn_secret = Some("s3cret".into());
        config.turn_credential_minutes = 60;
        let now = Timestamp::from_second(1_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let servers = ice_servers(&config, "p1", now);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].username, None);
        let turn = &servers[1];
        assert_eq!(turn.username.as_deref(), Some("1003600:p1"));
        assert_eq!(
            turn.credential.as_deref(),
            Some(turn_password("s3cret", "1003600:p1").as_str())
        );
    }
}
