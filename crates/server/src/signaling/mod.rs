//! Live connections: WebSocket signaling for video visits, waiting rooms that follow the visit's
//! state, staff screens told of queue changes and alerts, and the relay between servers.

pub mod connection;
pub mod hub;
pub mod ice;
mod inbox;
pub mod limits;
mod live_room;
pub mod outbox;
pub mod protocol;
pub mod relay;
pub mod relay_protocol;
pub mod staff;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The WebSocket routes (not in the OpenAPI document, which cannot describe them; the protocol
/// is described in `protocol.rs` and docs/visits.md).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/visits/{id}/live", get(connection::visit_socket))
        .route("/api/v1/live/staff", get(connection::staff_socket))
}
