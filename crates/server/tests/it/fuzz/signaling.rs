//! The live connection's messages: every WebSocket text frame a browser sends goes through
//! `protocol::parse`; what the server sends back (the refusal, the relayed signal, the chat
//! line) must be JSON a browser can read. Also the relay's messages between servers, read from
//! PostgreSQL notifications (`RelayEnvelope`).

use server::signaling::protocol::{self, ClientMessage, MAX_CHAT_CHARS, ServerFrame};

use super::{Target, mutate_json, run};

const WORDS: &[&str] = &[
    "type",
    "signal",
    "chat",
    "media",
    "connected",
    "reconnecting",
    "stats",
    "ping",
    "to",
    "data",
    "text",
    "audio_only",
    "samples",
    "round_trip_ms",
    "packet_loss_pct",
    "bitrate_kbps",
    "frames_decoded",
    "sdp",
    "candidate",
    "sdpMid",
    "offer",
    "answer",
];

/// JSON as a browser's `JSON.parse` reads it. A signal's `data` is relayed exactly as its sender
/// wrote it, never decoded, so it may hold what JavaScript accepts and serde_json's strict
/// decoding does not (a lone surrogate escape such as `\ud800`): its syntax is what must hold.
fn must_be_json_syntax(frame: &str) {
    if let Err(e) = serde_json::from_str::<Box<serde_json::value::RawValue>>(frame) {
        panic!("the server would send a frame that is not JSON ({e}): {frame:?}");
    }
}

fn must_be_json(frame: &str) {
    if let Err(e) = serde_json::from_str::<serde_json::Value>(frame) {
        panic!("the server would send a frame that is not JSON ({e}): {frame:?}");
    }
}

#[test]
fn fuzz_signaling_messages() {
    let target = Target::new("signaling")
        .words(WORDS)
        .structured(mutate_json);
    run(target, |input| {
        // Text frames are UTF-8 (the WebSocket layer refuses others before the parser).
        let Ok(frame) = std::str::from_utf8(input) else {
            return;
        };
        match protocol::parse(frame) {
            Err(refusal) => must_be_json(&refusal.frame()),
            Ok(ClientMessage::Signal { to, data }) => {
                let out = ServerFrame::Signal { from: &to, data }.encode();
                must_be_json_syntax(&out);
                assert!(
                    out.contains(data.get()),
                    "the signal's data changed on the way"
                );
            }
            Ok(ClientMessage::Chat { text }) => {
                assert!(!text.trim().is_empty() && text.chars().count() <= MAX_CHAT_CHARS);
                let out = ServerFrame::Chat {
                    from: "p1",
                    name: "Ana",
                    role: domain::visits::ParticipantRole::Patient,
                    text: &text,
                    at: "09:00".into(),
                }
                .encode();
                must_be_json(&out);
            }
            Ok(ClientMessage::Stats { samples }) => {
                let _ = samples.len();
            }
            Ok(_) => {}
        }
    });
}

#[test]
fn fuzz_relay_messages_between_servers() {
    let target = Target::new("relay")
        .words([
            "node",
            "message",
            "Join",
            "Here",
            "Leave",
            "Signal",
            "Chat",
            "Changed",
            "Alert",
            "Thread",
            "Alive",
            "Resync",
            "room",
            "org",
            "member",
            "members",
            "peer",
            "role",
            "name",
            "identity",
            "User",
            "Guest",
            "VisitLink",
            "from",
            "to",
            "data",
            "frame",
            "site",
            "clinician",
            "state",
            "escalation",
            "thread",
            "patient",
            "clinician",
        ])
        .structured(mutate_json);
    run(target, |input| {
        let Ok(payload) = std::str::from_utf8(input) else {
            return;
        };
        if let Ok(envelope) =
            serde_json::from_str::<server::signaling::relay_protocol::RelayEnvelope>(payload)
        {
            // What was read can be sent on again.
            let again = serde_json::to_string(&envelope).unwrap_or_default();
            must_be_json_syntax(&again);
            let back =
                serde_json::from_str::<server::signaling::relay_protocol::RelayEnvelope>(&again);
            assert!(
                back.is_ok(),
                "a relayed message did not read back: {again:?}"
            );
        }
    });
}
