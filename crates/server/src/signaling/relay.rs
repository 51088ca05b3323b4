//! Connects this server's hub to the others sharing the PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use store::relay::{RelayPublisher, RelaySubscriber};
use tokio::sync::mpsc;

use super::hub::{Hub, Relay, RelayEnvelope};

/// Queues messages for the publishing task (in order, without waiting for the database).
struct PgRelay {
    outgoing: mpsc::UnboundedSender<String>,
}

impl Relay for PgRelay {
    fn publish(&self, envelope: RelayEnvelope) {
        match serde_json::to_string(&envelope) {
            Ok(payload) => {
                let _ = self.outgoing.send(payload);
            }
            Err(e) => tracing::error!(error = %e, "relay message not encodable"),
        }
    }
}

/// Starts relaying between `hub` and the other servers on the database at `url`.
pub async fn start(hub: Arc<Hub>, url: &str) -> Result<(), store::relay::Error> {
    let mut publisher = RelayPublisher::connect(url).await?;
    let mut subscriber = RelaySubscriber::connect(url).await?;
    let (outgoing, mut queued) = mpsc::unbounded_channel::<String>();
    hub.set_relay(Arc::new(PgRelay { outgoing }));
    let url = url.to_string();
    tokio::spawn(async move {
        while let Some(payload) = queued.recv().await {
            while let Err(e) = publisher.publish(&payload).await {
                tracing::warn!(error = %e, "relay: publishing failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                match RelayPublisher::connect(&url).await {
                    Ok(fresh) => publisher = fresh,
                    Err(e) => tracing::warn!(error = %e, "relay: reconnecting failed"),
                }
            }
        }
    });
    let receiving = hub.clone();
    tokio::spawn(async move {
        loop {
            match subscriber.recv().await {
                Ok(payload) => match serde_json::from_str::<RelayEnvelope>(&payload) {
                    Ok(envelope) => receiving.on_relay(envelope),
                    Err(e) => tracing::warn!(error = %e, "relay: unreadable message ignored"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "relay: listening failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    tracing::info!(
        node = hub.node(),
        "relaying live messages through PostgreSQL"
    );
    Ok(())
}
