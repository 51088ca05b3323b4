//! Connects this server's hub to the other servers sharing the database: the hub's messages
//! (`relay_protocol.rs`) encoded in order for the transport to publish, the transport's payloads
//! decoded and applied, and the heartbeat: every server says it is alive every few seconds, and
//! the participants of a server silent for three heartbeats (it crashed, so it never said
//! `Leave`) are dropped from this server's rooms. The transport itself (PostgreSQL
//! `LISTEN`/`NOTIFY`) is started by `startup.rs`, which hands the payloads back and forth.
//!
//! Liveness is measured on the runtime's monotonic clock, not the domain's `Clock`: it is about
//! processes answering, not about the time of day of anything recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::hub::Hub;
use super::outbox::lock;
use super::relay_protocol::{Relay, RelayEnvelope, RelayMessage};

/// A server not heard from for this many heartbeats is gone.
const MISSED_HEARTBEATS: u32 = 3;

/// Queues messages for the publishing task (in order, without waiting for the database).
struct Queued {
    outgoing: mpsc::UnboundedSender<String>,
}

impl Relay for Queued {
    fn publish(&self, envelope: RelayEnvelope) {
        match serde_json::to_string(&envelope) {
            Ok(payload) => {
                let _ = self.outgoing.send(payload);
            }
            Err(e) => tracing::error!(error = %e, "relay message not encodable"),
        }
    }
}

/// This server's end of the relay: what it heard from whom, and when.
pub struct RelayLink {
    hub: Arc<Hub>,
    relay: Arc<Queued>,
    /// When each other server was last heard from.
    heard: Mutex<HashMap<String, Instant>>,
    /// Servers declared gone; hearing one again means this server lost track (its listening
    /// connection was down), so it asks everyone who is connected where.
    gone: Mutex<HashSet<String>>,
    silence: Duration,
}

/// Starts relaying `hub`'s messages and the heartbeat; returns the link (for what arrives) and
/// the payloads to publish, in the order they were sent.
pub fn attach(
    hub: &Arc<Hub>,
    heartbeat: Duration,
) -> (Arc<RelayLink>, mpsc::UnboundedReceiver<String>) {
    let (outgoing, queued) = mpsc::unbounded_channel::<String>();
    let relay = Arc::new(Queued { outgoing });
    hub.set_relay(relay.clone());
    let link = Arc::new(RelayLink {
        hub: hub.clone(),
        relay,
        heard: Mutex::default(),
        gone: Mutex::default(),
        silence: heartbeat * MISSED_HEARTBEATS,
    });
    let beating = link.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(heartbeat);
        loop {
            every.tick().await;
            beating.send(RelayMessage::Alive);
            beating.sweep(Instant::now());
        }
    });
    (link, queued)
}

impl RelayLink {
    fn send(&self, message: RelayMessage) {
        self.relay.publish(RelayEnvelope {
            node: self.hub.node().to_string(),
            message,
        });
    }

    /// A payload another server (or this one) published.
    pub fn receive(&self, payload: &str) {
        let envelope = match serde_json::from_str::<RelayEnvelope>(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "relay: unreadable message ignored");
                return;
            }
        };
        if envelope.node == self.hub.node() {
            return;
        }
        lock(&self.heard).insert(envelope.node.clone(), Instant::now());
        if lock(&self.gone).remove(&envelope.node) {
            tracing::info!(node = %envelope.node, "relay: a server thought gone is heard again");
            self.send(RelayMessage::Resync);
        }
        self.hub.apply(envelope);
    }

    /// Drops the participants of the servers silent for too long.
    fn sweep(&self, now: Instant) {
        let silent: Vec<String> = {
            let mut heard = lock(&self.heard);
            let silent = heard
                .iter()
                .filter(|(_, at)| now.saturating_duration_since(**at) > self.silence)
                .map(|(node, _)| node.clone())
                .collect::<Vec<_>>();
            for node in &silent {
                heard.remove(node);
            }
            silent
        };
        if silent.is_empty() {
            return;
        }
        for node in &silent {
            tracing::warn!(node = %node, "relay: a server went silent; its participants are dropped");
        }
        lock(&self.gone).extend(silent.iter().cloned());
        self.hub
            .forget_servers(|node| silent.iter().any(|s| s == node));
    }
}
