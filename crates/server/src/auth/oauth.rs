//! OAuth 2.0 client credentials for integrations: clients, secrets, and short-lived bearer tokens.

use jiff::SignedDuration;

use domain::DomainError;
use domain::access::{Actor, Principal, Scope};
use domain::compliance::{AuditAction, AuditActor, AuditEntry, Outcome};
use domain::identity::required_text;
use domain::ids::{ClientId, OrgId};
use domain::store::{ClientRecord, TokenRecord};

use super::secrets;
use crate::state::AppState;

/// A new client and its secret: the secret is shown once and stored only as a hash.
pub async fn create_client(
    state: &AppState,
    actor: &Actor,
    org: OrgId,
    name: &str,
    scope: &str,
) -> Result<(ClientRecord, String), DomainError> {
    if !actor.in_org(org) {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    domain::access::require(actor, domain::Permission::ManageClients)?;
    if state.store.get_org(org).await?.is_none() {
        return Err(DomainError::NotFound {
            resource: "organization",
        });
    }
    let name = required_text("name", name, 200)?;
    let scopes = Scope::parse_list(scope)?;
    let secret = secrets::random_token();
    let record = ClientRecord {
        id: ClientId::new(),
        org_id: org,
        name,
        // The secret is 256 random bits: a fast hash is enough, and keeps the unauthenticated
        // token endpoint cheap (argon2 is for guessable passwords).
        secret_hash: secrets::sha256_hex(&secret),
        scopes: scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        created_at: state.clock.now(),
    };
    let audit = AuditEntry::new(
        record.created_at,
        actor.audit_actor(),
        AuditAction::ClientCreate,
        "Client",
    )
    .org(org)
    .resource(record.id);
    state.store.create_client(&record, audit).await?;
    Ok((record, secret))
}

/// Why a token request was refused, in RFC 6749's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    InvalidClient,
    InvalidScope(String),
    Internal,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Client credentials grant: authenticates the client and issues a token for the granted scopes.
pub async fn issue_token(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    requested: Option<&str>,
    ip: Option<String>,
) -> Result<IssuedToken, TokenError> {
    let client = match client_id.parse::<ClientId>() {
        Ok(id) => state
            .store
            .get_client(id)
            .await
            .map_err(|_| TokenError::Internal)?,
        Err(_) => None,
    };
    let Some(client) = client else {
        return Err(TokenError::InvalidClient);
    };
    let refuse = |detail: &str| {
        AuditEntry::new(
            state.clock.now(),
            AuditActor::Client { id: client.id },
            AuditAction::TokenRefused,
            "Client",
        )
        .org(client.org_id)
        .resource(client.id)
        .from_ip(ip.clone())
        .outcome(Outcome::Failure)
        .detail(detail.to_string())
    };
    if !secrets::constant_time_eq(&secrets::sha256_hex(client_secret), &client.secret_hash) {
        state
            .store
            .record_audit(refuse("bad secret"))
            .await
            .map_err(|_| TokenError::Internal)?;
        return Err(TokenError::InvalidClient);
    }
    let allowed = Scope::parse_list(&client.scopes).map_err(|_| TokenError::Internal)?;
    let granted = match requested.map(str::trim).filter(|s| !s.is_empty()) {
        None => allowed,
        Some(raw) => {
            let wanted =
                Scope::parse_list(raw).map_err(|e| TokenError::InvalidScope(e.to_string()))?;
            if let Some(extra) = wanted.iter().find(|w| !allowed.contains(w)) {
                state
                    .store
                    .record_audit(refuse("scope not allowed"))
                    .await
                    .map_err(|_| TokenError::Internal)?;
                return Err(TokenError::InvalidScope(format!(
                    "{extra} is not granted to this client"
                )));
            }
            wanted
        }
    };
    let scope = granted
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let token = secrets::random_token();
    let now = state.clock.now();
    let expires_at = now
        .checked_add(SignedDuration::from_secs(state.config.token_ttl_seconds))
        .map_err(|_| TokenError::Internal)?;
    let record = TokenRecord {
        token_hash: secrets::sha256_hex(&token),
        client_id: client.id,
        org_id: client.org_id,
        scopes: scope.clone(),
        expires_at,
    };
    let audit = AuditEntry::new(
        now,
        AuditActor::Client { id: client.id },
        AuditAction::TokenIssued,
        "Client",
    )
    .org(client.org_id)
    .resource(client.id)
    .from_ip(ip)
    .detail(scope.clone());
    state
        .store
        .create_token(&record, audit)
        .await
        .map_err(|_| TokenError::Internal)?;
    Ok(IssuedToken {
        access_token: token,
        expires_in: state.config.token_ttl_seconds,
        scope,
    })
}

/// Tokens already looked up, by hash. Tokens never change after issue, so a cached copy is exact
/// until it expires; this saves a database read on every integration request.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, TokenRecord>>,
}

impl TokenCache {
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, hash: &str) -> Option<TokenRecord> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
    }

    fn put(&self, record: TokenRecord, now: jiff::Timestamp) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, r| r.expires_at > now);
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(record.token_hash.clone(), record);
    }
}

/// The actor behind a bearer token, if the token exists and has not expired.
pub async fn actor_for_token(
    state: &AppState,
    token: &str,
    ip: Option<String>,
) -> Result<Option<Actor>, DomainError> {
    let hash = secrets::sha256_hex(token);
    let record = match state.tokens.get(&hash) {
        Some(record) => record,
        None => match state.store.get_token(&hash).await? {
            Some(record) => {
                state.tokens.put(record.clone(), state.clock.now());
                record
            }
            None => return Ok(None),
        },
    };
    if record.expires_at <= state.clock.now() {
        return Ok(None);
    }
    Ok(Some(Actor {
        principal: Principal::Client(record.client_id),
        org_id: Some(record.org_id),
        role: None,
        site_ids: Vec::new(),
        own_patient: None,
        scopes: Scope::parse_list(&record.scopes)?,
        source_ip: ip,
    }))
}
