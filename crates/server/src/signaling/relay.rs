//! Connects this server's hub to the other servers sharing the database: the hub's messages
//! (`relay_protocol.rs`) encoded in order for the transport to publish, and the transport's
//! payloads decoded and applied. The transport itself (PostgreSQL `LISTEN`/`NOTIFY`) is started
//! by `startup.rs`, which hands the payloads back and forth.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::hub::Hub;
use super::relay_protocol::{Relay, RelayEnvelope};

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

/// Starts relaying `hub`'s messages: the payloads to publish, in the order they were sent.
pub fn attach(hub: &Arc<Hub>) -> mpsc::UnboundedReceiver<String> {
    let (outgoing, queued) = mpsc::unbounded_channel::<String>();
    hub.set_relay(Arc::new(Queued { outgoing }));
    queued
}

/// A payload another server (or this one) published.
pub fn receive(hub: &Hub, payload: &str) {
    match serde_json::from_str::<RelayEnvelope>(payload) {
        Ok(envelope) => hub.apply(envelope),
        Err(e) => tracing::warn!(error = %e, "relay: unreadable message ignored"),
    }
}
