//! The messages of a visit's live connection, one JSON object per WebSocket text frame.
//!
//! From the browser ([`parse`] into [`ClientMessage`]):
//! - `{"type":"signal","to":PEER,"data":{...}}`: an SDP description or ICE candidate for one
//!   other participant (relayed as is; only between participants who are both let in).
//! - `{"type":"chat","text":"..."}`: to everyone in the call, kept with the visit's record first.
//! - `{"type":"media","audio_only":true}`: this participant switched to audio only (or back).
//! - `{"type":"connected"}` / `{"type":"reconnecting"}`: media flows / the connection dropped.
//! - `{"type":"stats","samples":[{"round_trip_ms":..,"packet_loss_pct":..,"bitrate_kbps":..,"frames_decoded":..}]}`
//! - `{"type":"ping"}`: keeps the connection open through proxies (answered with `pong`).
//!
//! From the server, every frame is a [`ServerFrame`]: `welcome` (who you are, your ICE
//! servers), `state` (the visit as your role may see it), `peers` (who else is in the call, for
//! the participants let in), `signal` (with `from`), `chat`, `pong`, `error` (a refused message:
//! `code` and `message`), `replaced` (you opened the visit somewhere else; this connection
//! closes); and to staff screens `queue` (a waiting room changed), `alert`, and `thread` (a
//! message thread of their sites changed: ids only, never what it says).

use std::borrow::Cow;

use domain::ids::{AppointmentId, EscalationId, InviteId, SiteId, ThreadId, UserId};
use domain::visits::{Escalation, ParticipantRole, VisitOutcome, VisitState, VisitView};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ice::IceServer;

/// A message larger than this is refused (the connection stays open); one larger than
/// [`MAX_FRAME_BYTES`] closes the connection.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
pub use domain::visits::chat::MAX_CHAT_CHARS;

/// One quality report, as a browser computes it from `RTCPeerConnection.getStats()`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSample {
    pub round_trip_ms: Option<f64>,
    pub packet_loss_pct: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    pub frames_decoded: Option<i64>,
}

/// Every field any message may carry; `kind` says which apply. (A flat struct rather than a
/// tagged enum so that `data` is borrowed from the frame, never parsed or copied.)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    audio_only: Option<bool>,
    #[serde(default)]
    samples: Option<Vec<StatsSample>>,
}

#[derive(Debug)]
pub enum ClientMessage<'a> {
    Signal {
        to: Cow<'a, str>,
        data: &'a RawValue,
    },
    Chat {
        text: String,
    },
    Media {
        audio_only: bool,
    },
    Connected,
    Reconnecting,
    Stats {
        samples: Vec<StatsSample>,
    },
    Ping,
}

/// Why a message was refused: a stable code and a sentence for the participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The `error` frame telling the sender.
    pub fn frame(&self) -> String {
        ServerFrame::Error {
            code: self.code,
            message: &self.message,
        }
        .encode()
    }
}

fn missing(kind: &str, field: &str) -> Refusal {
    Refusal::new("malformed", format!("a '{kind}' message needs '{field}'"))
}

/// Parses one frame; anything but a well-formed message of a known type is refused.
pub fn parse(frame: &str) -> Result<ClientMessage<'_>, Refusal> {
    if frame.len() > MAX_MESSAGE_BYTES {
        return Err(Refusal::new(
            "too_large",
            format!("messages are limited to {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_str(frame)
        .map_err(|e| Refusal::new("malformed", format!("not a valid message: {e}")))?;
    let kind = envelope.kind.as_ref();
    Ok(match kind {
        "signal" => {
            let to = envelope.to.ok_or_else(|| missing(kind, "to"))?;
            let data = envelope.data.ok_or_else(|| missing(kind, "data"))?;
            if !data.get().starts_with('{') {
                return Err(Refusal::new(
                    "malformed",
                    "'data' must be an object (a description or a candidate)",
                ));
            }
            ClientMessage::Signal { to, data }
        }
        "chat" => {
            let text = envelope.text.ok_or_else(|| missing(kind, "text"))?;
            let trimmed = text.trim();
            if trimmed.is_empty() {
                return Err(Refusal::new("malformed", "a chat message cannot be empty"));
            }
            if trimmed.chars().count() > MAX_CHAT_CHARS {
                return Err(Refusal::new(
                    "too_large",
                    format!("chat messages are limited to {MAX_CHAT_CHARS} characters"),
                ));
            }
            ClientMessage::Chat {
                text: trimmed.to_string(),
            }
        }
        "media" => ClientMessage::Media {
            audio_only: envelope
                .audio_only
                .ok_or_else(|| missing(kind, "audio_only"))?,
        },
        "connected" => ClientMessage::Connected,
        "reconnecting" => ClientMessage::Reconnecting,
        "stats" => ClientMessage::Stats {
            samples: envelope.samples.ok_or_else(|| missing(kind, "samples"))?,
        },
        "ping" => ClientMessage::Ping,
        other => {
            return Err(Refusal::new(
                "unknown_type",
                format!(
                    "'{}' is not a message type (signal, chat, media, connected, reconnecting, stats, ping)",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    })
}

/// A frame from the server, to a participant's or a staff member's screen.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// The first frame of a participant's connection.
    Welcome {
        you: Peer<'a>,
        ice_servers: &'a [IceServer],
        /// `relay` when only TURN may be used, `all` otherwise.
        ice_transport_policy: &'static str,
    },
    State {
        visit: VisitFrame<'a>,
        /// In the call (or setting it up), rather than waiting to be let in.
        admitted: bool,
    },
    Peers {
        peers: Vec<Peer<'a>>,
    },
    /// The data exactly as its sender wrote it.
    Signal {
        from: &'a str,
        data: &'a RawValue,
    },
    Chat {
        from: &'a str,
        name: &'a str,
        role: ParticipantRole,
        text: &'a str,
        at: String,
    },
    Pong,
    Error {
        code: &'a str,
        message: &'a str,
    },
    Replaced {
        message: &'a str,
    },
    /// To staff: a waiting room of theirs changed (they re-read it).
    Queue {
        appointment_id: AppointmentId,
        site_id: SiteId,
        clinician_id: UserId,
        state: VisitState,
    },
    /// To staff: an emergency or a stopped check-in at one of their sites.
    Alert {
        alert: AlertFrame<'a>,
    },
    /// To staff: a message thread of one of their sites changed (they re-read their inbox).
    Thread {
        thread_id: ThreadId,
        site_id: SiteId,
    },
}

impl ServerFrame<'_> {
    /// The JSON text of the frame.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Only a serializer bug gets here (every field is a plain value).
            tracing::error!(error = %e, "a live frame could not be encoded");
            r#"{"type":"error","code":"internal","message":"a message could not be sent"}"#.into()
        })
    }
}

/// A participant as the others see them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Peer<'a> {
    pub peer: &'a str,
    pub role: ParticipantRole,
    pub name: &'a str,
}

/// The visit in a `state` frame: [`VisitView`] as JSON (what a role may not see is absent).
#[derive(Debug, Serialize)]
pub struct VisitFrame<'a> {
    id: AppointmentId,
    state: VisitState,
    audio_only: bool,
    #[serde(flatten)]
    shared: Option<SharedFrame<'a>>,
    #[serde(flatten)]
    clinical: Option<ClinicalFrame<'a>>,
}

#[derive(Debug, Serialize)]
struct SharedFrame<'a> {
    outcome: Option<VisitOutcome>,
    modality: &'static str,
    checked_in_at: String,
    wait_minutes: Option<i64>,
    guests: Vec<GuestFrame<'a>>,
}

#[derive(Debug, Serialize)]
struct GuestFrame<'a> {
    id: InviteId,
    name: &'a str,
    relation: &'static str,
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct ClinicalFrame<'a> {
    location_state: &'static str,
    location_text: &'a str,
    flags: &'a [String],
    drops: i64,
}

impl<'a> From<&'a VisitView> for VisitFrame<'a> {
    fn from(v: &'a VisitView) -> Self {
        Self {
            id: v.id,
            state: v.state,
            audio_only: v.audio_only,
            shared: v.shared.as_ref().map(|s| SharedFrame {
                outcome: s.outcome,
                modality: s.modality.as_str(),
                checked_in_at: s.checked_in_at.to_string(),
                wait_minutes: s.wait_minutes,
                guests: s
                    .guests
                    .iter()
                    .map(|g| GuestFrame {
                        id: g.id,
                        name: &g.name,
                        relation: g.relation.as_str(),
                        status: g.status,
                    })
                    .collect(),
            }),
            clinical: v.clinical.as_ref().map(|c| ClinicalFrame {
                location_state: c.location_state.code(),
                location_text: &c.location_text,
                flags: &c.flags,
                drops: c.drops,
            }),
        }
    }
}

/// An alert as staff screens show it.
#[derive(Debug, Serialize)]
pub struct AlertFrame<'a> {
    id: EscalationId,
    kind: &'static str,
    label: &'static str,
    appointment_id: AppointmentId,
    site_id: SiteId,
    raised_at: String,
    location_state: &'static str,
    location_text: &'a str,
    reason: &'a str,
}

impl<'a> From<&'a Escalation> for AlertFrame<'a> {
    fn from(e: &'a Escalation) -> Self {
        Self {
            id: e.id,
            kind: e.kind.as_str(),
            label: e.kind.label(),
            appointment_id: e.appointment_id,
            site_id: e.site_id,
            raised_at: e.raised_at.to_string(),
            location_state: e.location_state.code(),
            location_text: &e.location_text,
            reason: &e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_frame_is_valid_json_carrying_the_data_unchanged() {
        let data = r#"{"candidate":{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0"}}"#;
        let raw = RawValue::from_string(data.into()).unwrap();
        let frame = ServerFrame::Signal {
            from: "a1b2c3d41",
            data: &raw,
        }
        .encode();
        assert!(frame.contains(data), "{frame}");
        let parsed: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed["type"], "signal");
        assert_eq!(parsed["from"], "a1b2c3d41");
    }

    #[test]
    fn a_state_frame_carries_only_what_the_role_may_see() {
        use domain::visits::{ClinicalView, SharedView};
        let id = AppointmentId::new();
        let mut view = VisitView {
            id,
            state: VisitState::Waiting,
            audio_only: false,
            shared: None,
            clinical: None,
        };
        let keys = |view: &VisitView| {
            let frame = ServerFrame::State {
                visit: view.into(),
                admitted: false,
            }
            .encode();
            let parsed: serde_json::Value = serde_json::from_str(&frame).unwrap();
            assert_eq!(parsed["type"], "state");
            assert_eq!(parsed["visit"]["id"], id.to_string());
            let mut keys: Vec<String> = parsed["visit"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            (keys, parsed)
        };
        assert_eq!(keys(&view).0, ["audio_only", "id", "state"], "a guest's");
        view.shared = Some(SharedView {
            outcome: None,
            modality: domain::scheduling::Modality::Video,
            checked_in_at: jiff::Timestamp::UNIX_EPOCH,
            wait_minutes: Some(4),
            guests: Vec::new(),
        });
        let (patient, parsed) = keys(&view);
        assert_eq!(
            patient,
            [
                "audio_only",
                "checked_in_at",
                "guests",
                "id",
                "modality",
                "outcome",
                "state",
                "wait_minutes"
            ]
        );
        assert_eq!(parsed["visit"]["wait_minutes"], 4);
        assert_eq!(parsed["visit"]["modality"], "video");
        view.clinical = Some(ClinicalView {
            location_state: domain::identity::UsState::parse("patient_state", "NY").unwrap(),
            location_text: "home".into(),
            flags: vec!["fever".into()],
            drops: 1,
        });
        let (clinician, parsed) = keys(&view);
        assert_eq!(clinician.len(), patient.len() + 4);
        assert_eq!(parsed["visit"]["location_state"], "NY");
        assert_eq!(parsed["visit"]["flags"][0], "fever");
    }

    #[test]
    fn a_signal_keeps_its_data_as_sent() {
        let frame =
            r#"{"type":"signal","to":"ab12","data":{"sdp":{"type":"offer","sdp":"v=0\r\n"}}}"#;
        match parse(frame) {
            Ok(ClientMessage::Signal { to, data }) => {
                assert_eq!(to, "ab12");
                assert_eq!(data.get(), r#"{"sdp":{"type":"offer","sdp":"v=0\r\n"}}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_unknown_and_oversize_messages_are_refused_with_a_reason() {
        let cases = [
            ("not json", "malformed"),
            (r#"{"type":"signal","to":"x"}"#, "malformed"),
            (
                r#"{"type":"signal","to":"x","data":"a string"}"#,
                "malformed",
            ),
            (r#"{"type":"chat","text":"  "}"#, "malformed"),
            (r#"{"type":"media"}"#, "malformed"),
            (r#"{"type":"ping","extra":1}"#, "malformed"),
            (r#"{"type":"shutdown"}"#, "unknown_type"),
            (
                r#"{"type":"stats","samples":[{"round_trip_ms":"fast"}]}"#,
                "malformed",
            ),
        ];
        for (frame, code) in cases {
            match parse(frame) {
                Err(refusal) => assert_eq!(refusal.code, code, "{frame}"),
                Ok(m) => panic!("{frame} was accepted as {m:?}"),
            }
        }
        let big = format!(
            r#"{{"type":"signal","to":"x","data":{{"pad":"{}"}}}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(parse(&big).err().map(|r| r.code), Some("too_large"));
        let long_chat = format!(
            r#"{{"type":"chat","text":"{}"}}"#,
            "é".repeat(MAX_CHAT_CHARS + 1)
        );
        assert_eq!(parse(&long_chat).err().map(|r| r.code), Some("too_large"));
    }
}
