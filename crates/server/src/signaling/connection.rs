//! The WebSocket routes: a visit's live connection for its participants, and the staff's
//! connection that watches waiting rooms and alerts.
//!
//! Each connection is one task that waits for either a frame from the browser or frames queued
//! for it; calls into the domain are boxed so that an idle connection's task stays small.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use domain::access::{Actor, Permission};
use domain::identity::Role;
use domain::ids::AppointmentId;
use domain::service::visits::{call, guests, room};
use domain::visits::{ParticipantRole, QualitySample};

use super::hub::{Identity, MemberInfo, Outbox};
use super::ice;
use super::protocol::{self, ClientMessage, MAX_FRAME_BYTES, MAX_REFUSALS, Refusal};
use crate::auth::actor::{SessionState, session_state};
use crate::auth::secrets::sha256_hex;
use crate::auth::sessions::cookie_value;
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie of a guest's browser, set when they open their invitation.
pub const GUEST_COOKIE: &str = "telemed_guest";
/// A connection that sends nothing this long (the page pings every 25 s) is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(75);
/// Each connection reads in chunks this large (a 64 KiB message still arrives whole); small,
/// because ten thousand patients may be waiting at once.
const READ_BUFFER_BYTES: usize = 1024;

/// A browser page of another site must not open a visit with this browser's cookies
/// (cross-site WebSocket hijacking): when an `Origin` is sent, it must be ours.
fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        // Not a browser (browsers always send it on WebSocket requests).
        return true;
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let public_host = state.config.public_url.as_deref().and_then(|u| {
        u.split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
    });
    origin_host == host || public_host == Some(origin_host)
}

fn upgrade(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
}

/// Who is connecting: a signed-in person, or a guest whose browser opened an invitation.
async fn who(parts: &Parts, state: &AppState) -> Result<room::Who, ApiError> {
    if let SessionState::Full(signed_in) = session_state(parts, state).await? {
        return Ok(room::Who::Member(signed_in.actor));
    }
    if let Some(token) = cookie_value(&parts.headers, GUEST_COOKIE)
        && let Some(invite) = guests::by_session(state.ctx(), &sha256_hex(&token)).await?
    {
        return Ok(room::Who::Guest(invite));
    }
    Err(ApiError::unauthenticated())
}

/// `GET /api/v1/visits/{id}/live`: a participant's live connection to a visit (its waiting
/// room, then its call).
pub async fn visit_socket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ws: WebSocketUpgrade,
    parts: Parts,
) -> Result<Response, ApiError> {
    if !same_origin(&parts.headers, &state) {
        return Err(ApiError::forbidden("this page may not open a visit"));
    }
    let id: AppointmentId = id
        .parse()
        .map_err(|_| ApiError::bad_request("the visit id is not valid"))?;
    let who = who(&parts, &state).await?;
    let pass = room::join(state.ctx(), &who, id).await?;
    let invites = state.store.list_invites(pass.visit.org_id, id).await?;
    Ok(upgrade(ws)
        .on_upgrade(move |socket| Box::pin(run_participant(state, socket, who, pass, invites))))
}

async fn run_participant(
    state: AppState,
    mut socket: WebSocket,
    who: room::Who,
    pass: room::Pass,
    invites: Vec<domain::visits::Invite>,
) {
    let hub = state.hub.clone();
    let id = pass.visit.appointment_id;
    let peer = hub.new_peer_id();
    let identity = match &who {
        room::Who::Member(actor) => match actor.user_id() {
            Some(user) => Identity::User(user),
            None => return,
        },
        room::Who::Guest(invite) => Identity::Guest(invite.id),
    };
    let welcome = serde_json::json!({
        "type": "welcome",
        "you": {"peer": peer, "role": pass.role, "name": pass.name},
        "ice_servers": ice::ice_servers(&state.config, &peer, state.clock.now()),
        "ice_transport_policy": if state.config.ice_relay_only { "relay" } else { "all" },
    })
    .to_string();
    if socket.send(Message::Text(welcome.into())).await.is_err() {
        return;
    }
    let outbox = Arc::new(Outbox::default());
    let info = MemberInfo {
        peer: peer.clone(),
        node: hub.node().to_string(),
        role: pass.role,
        name: pass.name.clone(),
        identity,
    };
    hub.join(&pass.visit, invites, info, outbox.clone());
    if let Some(frame) = hub.state_frame(id, &peer) {
        outbox.push(frame.into());
    }
    let mut refusals = 0u32;
    let reason = loop {
        tokio::select! {
            incoming = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => {
                let frame = match incoming {
                    Err(_) => break "idle",
                    Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break "closed",
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Binary(_)))) => {
                        refusals += 1;
                        outbox.push(Refusal::new("malformed", "send JSON text messages").frame().into());
                        continue;
                    }
                    Ok(Some(Ok(_))) => continue,
                };
                if let Err(refusal) = Box::pin(handle(&state, &who, pass.role, id, &peer, &outbox, frame.as_str())).await {
                    refusals += 1;
                    tracing::warn!(visit = %id, %peer, code = refusal.code, "live message refused");
                    outbox.push(refusal.frame().into());
                }
                if refusals > MAX_REFUSALS {
                    break "refused";
                }
            }
            () = outbox.ready.notified() => {}
        }
        if !flush(&mut socket, &outbox).await {
            break "closed";
        }
        if outbox.is_closed() {
            break if outbox.was_replaced() {
                "replaced"
            } else {
                "too slow"
            };
        }
    };
    if reason == "refused" {
        let _ = flush(&mut socket, &outbox).await;
        let close = CloseFrame {
            code: close_code::POLICY,
            reason: "too many refused messages".into(),
        };
        let _ = socket.send(Message::Close(Some(close))).await;
    }
    hub.leave(id, &peer);
    tracing::debug!(visit = %id, %peer, reason, "live connection ended");
    if reason != "replaced" {
        // Leaving is never the end of a visit: it is a drop the participant can come back from.
        if let Err(e) = Box::pin(call::dropped(state.ctx(), &who, id)).await {
            tracing::debug!(visit = %id, error = %e, "drop not recorded");
        }
    }
}

/// Sends everything queued; false once the browser is gone.
async fn flush(socket: &mut WebSocket, outbox: &Outbox) -> bool {
    for frame in outbox.take() {
        if socket.send(Message::Text(frame)).await.is_err() {
            return false;
        }
    }
    true
}

/// A report that media flows (or dropped) which lost a race with another participant's report
/// (both browsers connect at once): the visit moved on meanwhile, which is what was reported.
/// Not the sender's fault, so not a refusal (refusals count towards closing the connection).
fn settled<T>(outcome: Result<T, domain::DomainError>) -> Result<(), Refusal> {
    match outcome {
        Ok(_)
        | Err(domain::DomainError::Conflict(_) | domain::DomainError::InvalidTransition { .. }) => {
            Ok(())
        }
        Err(e) => Err(refusal_of(e)),
    }
}

fn refusal_of(e: domain::DomainError) -> Refusal {
    let api = ApiError::from(e);
    Refusal::new(api.code, api.message)
}

async fn handle(
    state: &AppState,
    who: &room::Who,
    role: ParticipantRole,
    id: AppointmentId,
    peer: &str,
    outbox: &Outbox,
    frame: &str,
) -> Result<(), Refusal> {
    let hub = &state.hub;
    match protocol::parse(frame)? {
        ClientMessage::Signal { to, data } => hub.signal(id, peer, &to, data),
        ClientMessage::Chat { text } => hub.chat(id, peer, &text),
        ClientMessage::Ping => {
            outbox.push(r#"{"type":"pong"}"#.into());
            Ok(())
        }
        ClientMessage::Media { audio_only } => {
            call::set_audio_only(state.ctx(), who, id, audio_only)
                .await
                .map(|_| ())
                .map_err(refusal_of)
        }
        ClientMessage::Connected => settled(call::connected(state.ctx(), who, id).await),
        ClientMessage::Reconnecting => settled(call::dropped(state.ctx(), who, id).await),
        ClientMessage::Stats { samples } => {
            let now = state.clock.now();
            let samples = samples
                .into_iter()
                .map(|s| QualitySample {
                    appointment_id: id,
                    at: now,
                    role,
                    round_trip_ms: s.round_trip_ms,
                    packet_loss_pct: s.packet_loss_pct,
                    bitrate_kbps: s.bitrate_kbps,
                    frames_decoded: s.frames_decoded,
                })
                .collect();
            call::report_quality(state.ctx(), who, id, samples)
                .await
                .map_err(refusal_of)
        }
    }
}

/// `GET /api/v1/live/staff`: a staff member's screen is told when a waiting room of their sites
/// (or of their own patients) changes, and of alerts.
pub async fn staff_socket(
    State(state): State<AppState>,
    ws: WebSocketUpgrade,
    parts: Parts,
) -> Result<Response, ApiError> {
    if !same_origin(&parts.headers, &state) {
        return Err(ApiError::forbidden("this page may not watch waiting rooms"));
    }
    let actor: Actor = match session_state(&parts, &state).await? {
        SessionState::Full(signed_in) => signed_in.actor,
        _ => return Err(ApiError::unauthenticated()),
    };
    domain::access::require(&actor, Permission::ReadAppointments)?;
    let org = actor.org()?;
    if actor.role == Some(Role::Patient) {
        return Err(ApiError::forbidden("patients do not see waiting rooms"));
    }
    let sites = match actor.role {
        Some(Role::OrgAdmin) => None,
        _ => Some(actor.site_ids.clone()),
    };
    let clinician = (actor.role == Some(Role::Clinician))
        .then(|| actor.user_id())
        .flatten();
    Ok(upgrade(ws)
        .on_upgrade(move |socket| Box::pin(run_watcher(state, socket, org, sites, clinician)))
        .into_response())
}

async fn run_watcher(
    state: AppState,
    mut socket: WebSocket,
    org: domain::ids::OrgId,
    sites: Option<Vec<domain::ids::SiteId>>,
    clinician: Option<domain::ids::UserId>,
) {
    let outbox = Arc::new(Outbox::default());
    let id = state.hub.watch(org, sites, clinician, outbox.clone());
    loop {
        tokio::select! {
            incoming = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => match incoming {
                Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => {
                    outbox.push(r#"{"type":"pong"}"#.into());
                }
                _ => break,
            },
            () = outbox.ready.notified() => {}
        }
        if !flush(&mut socket, &outbox).await || outbox.is_closed() {
            break;
        }
    }
    state.hub.unwatch(id);
}
