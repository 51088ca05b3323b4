//! The WebSocket routes: a visit's live connection for its participants, and the staff's
//! connection that watches waiting rooms and alerts.
//!
//! Each connection is one task that waits for either a frame from the browser or frames queued
//! for it. The upgrade is done here rather than by axum's extractor so that the task holds
//! exactly what the connection needs (its future is one allocation of about a kilobyte), and
//! calls into the domain are boxed so that an idle connection's task stays small: ten thousand
//! patients may be waiting at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use domain::access::{Actor, Permission, Principal};
use domain::identity::Role;
use domain::ids::AppointmentId;
use domain::visits::service::{call, chat, guests, room, visit_link};
use domain::visits::{ParticipantRole, QualitySample};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::hub::Joining;
use super::ice;
use super::limits::Budget;
use super::outbox::Outbox;
use super::protocol::{self, ClientMessage, MAX_FRAME_BYTES, Peer, Refusal, ServerFrame};
use super::relay_protocol::Identity;
use super::staff::Watch;
use crate::auth::actor::{SessionState, session_state};
use crate::auth::secrets::sha256_hex;
use crate::auth::sessions::cookie_value;
use crate::error::ApiError;
use crate::state::AppState;

/// The cookie of a guest's browser, set when they open their invitation.
pub const GUEST_COOKIE: &str = "telemed_guest";
/// The cookie of a browser that opened a patient's join link (`web/visit_link.rs`).
pub const VISIT_LINK_COOKIE: &str = "telemed_visit";
/// A connection that sends nothing this long (the page pings every 25 s) is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(75);
/// How long a connection the server closes waits for the browser's closing answer.
const CLOSING_GRACE: Duration = Duration::from_secs(2);
/// Each connection reads in chunks this large (a 64 KiB message still arrives whole); small,
/// because ten thousand patients may be waiting at once.
const READ_BUFFER_BYTES: usize = 256;

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A browser page of another site must not open a visit with this browser's cookies
/// (cross-site WebSocket hijacking): when an `Origin` is sent, it must be ours.
fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        // Not a browser (browsers always send it on WebSocket requests).
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let public_host = state.config.public_url.as_deref().and_then(|u| {
        u.split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'))
    });
    origin_host == host || public_host == Some(origin_host)
}

/// Checks a WebSocket handshake (RFC 6455 §4.2.1) and takes the connection's upgrade; the answer
/// is the `101 Switching Protocols` to send once everything else is checked.
fn handshake(parts: &mut Parts) -> Result<(Response, OnUpgrade), ApiError> {
    let has = |name: header::HeaderName, token: &str| {
        parts.headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::CONNECTION, "upgrade") || !has(header::UPGRADE, "websocket") {
        return Err(ApiError::bad_request(
            "this address takes WebSocket connections only",
        ));
    }
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(ApiError::bad_request("WebSocket version 13 is required"));
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("the WebSocket key is missing"))?;
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .map_err(|_| ApiError::bad_request("the WebSocket answer could not be built"))?;
    Ok((response, on_upgrade))
}

/// Completes the upgrade into a WebSocket with small buffers; `None` if the client went away.
async fn accept(on_upgrade: OnUpgrade) -> Option<Socket> {
    let upgraded = on_upgrade.await.ok()?;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES));
    Some(
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), WsRole::Server, Some(config))
            .await,
    )
}

/// Who is connecting: a signed-in person, a patient whose browser opened their visit's join
/// link (`room::join` keeps them to that visit), or a guest whose browser opened an invitation.
async fn who(parts: &Parts, state: &AppState) -> Result<room::Who, ApiError> {
    if let SessionState::Full(signed_in) = session_state(parts, state).await? {
        return Ok(room::Who::Member(signed_in.actor));
    }
    if let Some(token) = cookie_value(&parts.headers, VISIT_LINK_COOKIE)
        && let Some((_, actor)) = visit_link::session_actor(
            state.ctx(),
            &sha256_hex(&token),
            crate::auth::actor::client_ip(parts),
        )
        .await?
    {
        return Ok(room::Who::Member(actor));
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
    mut parts: Parts,
) -> Result<Response, ApiError> {
    if !same_origin(&parts.headers, &state) {
        return Err(ApiError::forbidden("this page may not open a visit"));
    }
    let id: AppointmentId = id
        .parse()
        .map_err(|_| ApiError::bad_request("the visit id is not valid"))?;
    let (switching, on_upgrade) = handshake(&mut parts)?;
    let who = who(&parts, &state).await?;
    let pass = room::join(state.ctx(), &who, id).await?;
    let live = room::live_visit(state.ctx(), pass.visit.org_id, id)
        .await?
        .ok_or(domain::DomainError::NotFound { resource: "visit" })?;
    let identity = match &who {
        room::Who::Member(Actor {
            principal: Principal::VisitLink { link, .. },
            ..
        }) => Identity::VisitLink(*link),
        room::Who::Member(actor) => Identity::User(
            actor
                .user_id()
                .ok_or(ApiError::forbidden("only people join visits"))?,
        ),
        room::Who::Guest(invite) => Identity::Guest(invite.id),
    };
    let role = pass.role;
    let resume = resume_requested(&parts);
    // Everything but the socket is settled here, so that the connection's task holds only
    // `Participant` and the socket (captured values would stay in the task for its whole life).
    let outbox = Arc::new(Outbox::default());
    let joining = Joining {
        live: &live,
        role,
        name: pass.name.clone(),
        identity,
        resume: resume.as_deref(),
    };
    let peer = state.hub.join(joining, outbox.clone(), |peer| {
        ServerFrame::Welcome {
            you: Peer {
                peer,
                role,
                name: &pass.name,
            },
            ice_servers: &ice::ice_servers(&state.config, peer, state.clock.now()),
            ice_transport_policy: if state.config.ice_relay_only {
                "relay"
            } else {
                "all"
            },
        }
        .encode()
    });
    drop(live);
    let participant = Participant {
        state,
        who: Box::new(who),
        role,
        id,
        peer,
        outbox,
    };
    tokio::spawn(participant.serve(on_upgrade));
    Ok(switching)
}

/// `?resume=PEER`: the peer id a browser had before its connection (or its server) was lost.
fn resume_requested(parts: &Parts) -> Option<String> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("resume="))
        .map(str::to_string)
}

/// One participant's connection, for as long as it lasts.
struct Participant {
    state: AppState,
    /// Boxed: a guest's invitation is large, and the task holds this for hours.
    who: Box<room::Who>,
    role: ParticipantRole,
    id: AppointmentId,
    peer: String,
    outbox: Arc<Outbox>,
}

impl Participant {
    async fn serve(self, on_upgrade: OnUpgrade) {
        let hub = &self.state.hub;
        let Some(mut socket) = accept(on_upgrade).await else {
            hub.leave(self.id, &self.peer, &self.outbox);
            return;
        };
        let mut budget = Budget::new(self.state.config.live_limits(), Instant::now());
        let reason = loop {
            if !flush(&mut socket, &self.outbox).await {
                break Ended::Closed;
            }
            if self.outbox.is_closed() {
                break if self.outbox.was_replaced() {
                    Ended::Replaced
                } else {
                    Ended::TooSlow
                };
            }
            tokio::select! {
                incoming = tokio::time::timeout(IDLE_LIMIT, socket.next()) => {
                    let outcome = match incoming {
                        Err(_) => break Ended::Idle,
                        Ok(Some(Err(WsError::Capacity(_)))) => break Ended::TooLarge,
                        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => break Ended::Closed,
                        Ok(Some(Ok(Message::Text(text)))) => {
                            if budget.take_message(Instant::now()) {
                                Box::pin(self.handle(text.as_str())).await
                            } else {
                                Err(too_fast(self.state.config.live_messages_per_second))
                            }
                        }
                        Ok(Some(Ok(Message::Binary(_)))) => {
                            Err(Refusal::new("malformed", "send JSON text messages"))
                        }
                        Ok(Some(Ok(_))) => continue,
                    };
                    if let Err(refusal) = outcome {
                        tracing::warn!(visit = %self.id, peer = %self.peer, code = refusal.code, "live message refused");
                        self.outbox.push(refusal.frame());
                        if !budget.refused(Instant::now()) {
                            break Ended::Refused;
                        }
                    }
                }
                () = self.outbox.ready.notified() => {}
            }
        };
        close_for(&mut socket, &self.outbox, reason).await;
        drop(socket);
        hub.leave(self.id, &self.peer, &self.outbox);
        tracing::debug!(visit = %self.id, peer = %self.peer, reason = ?reason, "live connection ended");
        if reason != Ended::Replaced {
            // Leaving is never the end of a visit: it is a drop the participant can come back from.
            if let Err(e) =
                Box::pin(call::dropped(self.state.ctx(), self.who.as_ref(), self.id)).await
            {
                tracing::debug!(visit = %self.id, error = %e, "drop not recorded");
            }
        }
    }

    async fn handle(&self, frame: &str) -> Result<(), Refusal> {
        let (state, who, id) = (&self.state, self.who.as_ref(), self.id);
        let hub = &state.hub;
        match protocol::parse(frame)? {
            ClientMessage::Signal { to, data } => hub.signal(id, &self.peer, &to, data),
            ClientMessage::Chat { text } => {
                // Kept with the visit's record first: a line the others saw is never lost.
                let line = chat::say(state.ctx(), who, id, &text)
                    .await
                    .map_err(refusal_of)?;
                hub.chat(id, &self.peer, &line.text)
            }
            ClientMessage::Ping => {
                self.outbox.push(ServerFrame::Pong.encode());
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
                        role: self.role,
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
}

/// Sends everything queued; false once the browser is gone.
async fn flush(socket: &mut Socket, outbox: &Outbox) -> bool {
    let frames = outbox.take();
    if frames.is_empty() {
        return true;
    }
    for frame in frames {
        if socket.feed(Message::Text(frame)).await.is_err() {
            return false;
        }
    }
    socket.flush().await.is_ok()
}

/// A report that media flows (or dropped) which lost a race with another participant's report
/// (both browsers connect at once): the visit moved on meanwhile, which is what was reported.
/// Not the sender's fault, so not a refusal (refusals count towards closing the connection).
fn settled<T>(outcome: Result<T, domain::DomainError>) -> Result<(), Refusal> {
    match outcome {
        Ok(_)
        | Err(
            domain::DomainError::Conflict { .. } | domain::DomainError::InvalidTransition { .. },
        ) => Ok(()),
        Err(e) => Err(refusal_of(e)),
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The browser closed it or went away.
    Closed,
    /// Nothing arrived within [`IDLE_LIMIT`].
    Idle,
    /// The participant opened the visit again elsewhere.
    Replaced,
    /// It did not read what it was sent.
    TooSlow,
    /// Too many refused messages within the window.
    Refused,
    /// A frame larger than [`MAX_FRAME_BYTES`].
    TooLarge,
}

/// Tells the browser why the server closes the connection (what it can still be told).
async fn close_for(socket: &mut Socket, outbox: &Outbox, reason: Ended) {
    let (code, why) = match reason {
        Ended::Refused => (CloseCode::Policy, "too many refused messages"),
        Ended::TooLarge => (CloseCode::Size, "a message was too large"),
        _ => return,
    };
    let _ = flush(socket, outbox).await;
    let close = CloseFrame {
        code,
        reason: why.into(),
    };
    let _ = socket.send(Message::Close(Some(close))).await;
    // Read on until the browser's own close (briefly): closing with its messages still unread
    // would reset the connection, and the browser would never see why it was closed.
    let _ = tokio::time::timeout(CLOSING_GRACE, async {
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn too_fast(per_second: u32) -> Refusal {
    Refusal::new(
        "rate_limited",
        format!("too many messages: at most {per_second} a second"),
    )
}

fn refusal_of(e: domain::DomainError) -> Refusal {
    let api = ApiError::from(e);
    Refusal::new(api.code, api.message)
}

/// `GET /api/v1/live/staff`: a staff member's screen is told when a waiting room of their sites
/// (or of their own patients) changes, and of alerts.
pub async fn staff_socket(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    if !same_origin(&parts.headers, &state) {
        return Err(ApiError::forbidden("this page may not watch waiting rooms"));
    }
    let (switching, on_upgrade) = handshake(&mut parts)?;
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
    tokio::spawn(async move {
        let Some(mut socket) = accept(on_upgrade).await else {
            return;
        };
        let outbox = Arc::new(Outbox::default());
        let watch = Watch {
            org,
            sites,
            clinician,
        };
        let id = state.hub.watch(watch, outbox.clone());
        let mut budget = Budget::new(state.config.live_limits(), Instant::now());
        // A staff screen only pings: every text is answered with `pong`, within the rate.
        let reason = loop {
            if !flush(&mut socket, &outbox).await || outbox.is_closed() {
                break Ended::Closed;
            }
            tokio::select! {
                incoming = tokio::time::timeout(IDLE_LIMIT, socket.next()) => match incoming {
                    Ok(Some(Ok(Message::Text(_)))) => {
                        if budget.take_message(Instant::now()) {
                            outbox.push(ServerFrame::Pong.encode());
                        } else {
                            outbox.push(too_fast(state.config.live_messages_per_second).frame());
                            if !budget.refused(Instant::now()) {
                                break Ended::Refused;
                            }
                        }
                    }
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                    Ok(Some(Err(WsError::Capacity(_)))) => break Ended::TooLarge,
                    Err(_) => break Ended::Idle,
                    _ => break Ended::Closed,
                },
                () = outbox.ready.notified() => {}
            }
        };
        close_for(&mut socket, &outbox, reason).await;
        state.hub.unwatch(id);
    });
    Ok(switching)
}
