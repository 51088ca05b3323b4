//! Messages between servers that share one PostgreSQL database: each server `LISTEN`s on one
//! channel and publishes with `NOTIFY`, so a patient connected to one server and a clinician
//! connected to another still reach each other. (SQLite means one server: nothing to relay.)
//!
//! One connection publishes, one listens, so messages arrive in the order they were sent (an ICE
//! candidate never overtakes its offer). A payload larger than `NOTIFY` carries (8000 bytes) is
//! parked in `relay_messages` and the notification carries its id.

use jiff::SignedDuration;
use sqlx::postgres::{PgConnection, PgListener};
use sqlx::{Connection, Row};

pub const CHANNEL: &str = "telemed_live";
/// Payloads up to this size go in the notification itself.
const INLINE_BYTES: usize = 7900;
/// The prefix of a notification that carries the id of a parked payload.
const PARKED: &str = "#";
/// Parked payloads older than this are deleted.
const PARKED_FOR: SignedDuration = SignedDuration::from_secs(60);

pub struct RelayPublisher {
    conn: PgConnection,
    parked: u64,
}

impl RelayPublisher {
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        Ok(Self {
            conn: PgConnection::connect(url).await?,
            parked: 0,
        })
    }

    pub async fn publish(&mut self, payload: &str) -> Result<(), sqlx::Error> {
        if payload.len() <= INLINE_BYTES && !payload.starts_with(PARKED) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&mut self.conn)
                .await?;
            return Ok(());
        }
        let now = domain::Clock::now(&domain::SystemClock);
        let row = sqlx::query(
            "INSERT INTO relay_messages (payload, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(payload)
        .bind(now.as_microsecond())
        .fetch_one(&mut self.conn)
        .await?;
        let id: i64 = row.try_get("id")?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("{PARKED}{id}"))
            .execute(&mut self.conn)
            .await?;
        self.parked += 1;
        if self.parked.is_multiple_of(100) {
            let before = now.checked_sub(PARKED_FOR).unwrap_or(now);
            sqlx::query("DELETE FROM relay_messages WHERE created_at < $1")
                .bind(before.as_microsecond())
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }
}

pub struct RelaySubscriber {
    listener: PgListener,
}

impl RelaySubscriber {
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(Self { listener })
    }

    /// The next payload another server (or this one) published. After a lost connection the
    /// listener reconnects by itself; what was sent meanwhile is lost (the browsers' own retries
    /// and the next state change cover it).
    pub async fn recv(&mut self) -> Result<String, sqlx::Error> {
        loop {
            let notification = self.listener.recv().await?;
            let payload = notification.payload();
            let Some(id) = payload.strip_prefix(PARKED) else {
                return Ok(payload.to_string());
            };
            let Ok(id) = id.parse::<i64>() else { continue };
            let row = sqlx::query("SELECT payload FROM relay_messages WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut self.listener)
                .await?;
            if let Some(row) = row {
                return row.try_get("payload");
            }
        }
    }
}

/// The error type of relaying (the database driver's).
pub type Error = sqlx::Error;
