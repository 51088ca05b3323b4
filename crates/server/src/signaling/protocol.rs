//! The messages of a visit's live connection, one JSON object per WebSocket text frame.
//!
//! From the browser:
//! - `{"type":"signal","to":PEER,"data":{...}}`: an SDP description or ICE candidate for one
//!   other participant (relayed as is; only between participants who are both let in).
//! - `{"type":"chat","text":"..."}`: to everyone in the call (not stored).
//! - `{"type":"media","audio_only":true}`: this participant switched to audio only (or back).
//! - `{"type":"connected"}` / `{"type":"reconnecting"}`: media flows / the connection dropped.
//! - `{"type":"stats","samples":[{"round_trip_ms":..,"packet_loss_pct":..,"bitrate_kbps":..,"frames_decoded":..}]}`
//! - `{"type":"ping"}`: keeps the connection open through proxies (answered with `pong`).
//!
//! From the server: `welcome` (who you are, your ICE servers), `state` (the visit as you may see
//! it), `peers` (who else is in the call, for the participants let in), `signal` (with `from`),
//! `chat`, `pong`, `error` (a refused message: `code` and `message`), `replaced` (you opened the
//! visit somewhere else; this connection closes).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// A message larger than this is refused (the connection stays open); one larger than
/// [`MAX_FRAME_BYTES`] closes the connection.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
pub const MAX_CHAT_CHARS: usize = 2000;
/// Refused messages a connection may send before it is closed.
pub const MAX_REFUSALS: u32 = 5;

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
        serde_json::json!({"type": "error", "code": self.code, "message": self.message}).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

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
