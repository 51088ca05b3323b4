//! The messages between servers sharing one PostgreSQL database, so that participants of one
//! visit connected to different servers meet in one live room, and staff screens anywhere hear
//! of every waiting room. `relay.rs` carries them; the hub applies them.
//!
//! Each message is one JSON payload ([`RelayEnvelope`]) naming the server that sent it.

use domain::ids::{AppointmentId, InviteId, OrgId, SiteId, ThreadId, UserId, VisitLinkId};
use domain::visits::{Escalation, ParticipantRole, VisitState};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Who a participant is, across connections and servers: a second connection of the same person
/// replaces the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    User(UserId),
    Guest(InviteId),
    /// A patient without an account, by their visit's join link.
    VisitLink(VisitLinkId),
}

/// A participant as every server knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Unique among every server's connections (it starts with the server's node name).
    pub peer: String,
    /// The server the participant is connected to.
    pub node: String,
    pub role: ParticipantRole,
    pub name: String,
    pub identity: Identity,
}

/// What one server tells the others.
#[derive(Debug, Serialize, Deserialize)]
pub enum RelayMessage {
    /// A participant connected here to a visit (the others answer with `Here`).
    Join {
        room: AppointmentId,
        org: OrgId,
        member: MemberInfo,
    },
    /// The participants connected here to a visit, to a server that just heard of it.
    Here {
        room: AppointmentId,
        members: Vec<MemberInfo>,
    },
    Leave {
        room: AppointmentId,
        peer: String,
    },
    /// A description or candidate for a participant connected to another server.
    Signal {
        room: AppointmentId,
        from: String,
        to: String,
        data: Box<RawValue>,
    },
    /// A chat frame, rendered once by the sender's server.
    Chat {
        room: AppointmentId,
        frame: String,
    },
    /// A visit changed (every server reloads it and tells its staff screens).
    Changed {
        org: OrgId,
        room: AppointmentId,
        site: SiteId,
        clinician: UserId,
        state: VisitState,
    },
    Alert {
        escalation: Escalation,
    },
    /// A message thread changed (every server tells its staff screens of that site).
    Thread {
        org: OrgId,
        site: SiteId,
        clinician: Option<UserId>,
        thread: ThreadId,
    },
    /// The sender is alive (every few seconds): a server silent for three heartbeats crashed,
    /// and its participants are dropped.
    Alive,
    /// The sender lost track of the others (it could not hear them for a while): each answers
    /// with `Here` for every room it has.
    Resync,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RelayEnvelope {
    pub node: String,
    pub message: RelayMessage,
}

/// Carries messages to the other servers; absent with one server.
pub trait Relay: Send + Sync {
    fn publish(&self, envelope: RelayEnvelope);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_crosses_with_its_data_unchanged() {
        let data = r#"{"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0"}}"#;
        let envelope = RelayEnvelope {
            node: "a1b2c3d4".into(),
            message: RelayMessage::Signal {
                room: AppointmentId::new(),
                from: "a1b2c3d41".into(),
                to: "e5f6a7b82".into(),
                data: RawValue::from_string(data.into()).unwrap(),
            },
        };
        let payload = serde_json::to_string(&envelope).unwrap();
        let back: RelayEnvelope = serde_json::from_str(&payload).unwrap();
        match back.message {
            RelayMessage::Signal { data: got, .. } => assert_eq!(got.get(), data),
            other => panic!("{other:?}"),
        }
    }
}
