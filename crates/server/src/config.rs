//! One typed configuration, read from flags and `TELEMED_*` environment variables, with safe defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings of the running server. Every field has a documented default; none holds a secret.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "TELEMED_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// PEM certificate chain; with --tls-key, serve HTTPS (cookies become Secure, HSTS is sent).
    #[arg(long, env = "TELEMED_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "TELEMED_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "TELEMED_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// A session ends after this many minutes without a request.
    #[arg(long, env = "TELEMED_SESSION_IDLE_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=1440))]
    pub session_idle_minutes: i64,
    /// A session ends this many hours after sign-in, however active.
    #[arg(long, env = "TELEMED_SESSION_ABSOLUTE_HOURS", default_value_t = 12, value_parser = clap::value_parser!(i64).range(1..=168))]
    pub session_absolute_hours: i64,
    /// Failed sign-ins (password or code) in a row before the account locks.
    #[arg(long, env = "TELEMED_MAX_FAILED_SIGN_INS", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=100))]
    pub max_failed_sign_ins: i64,
    /// Sign-in attempts (password or code) accepted from one address per minute; more get 429.
    #[arg(long, env = "TELEMED_SIGN_IN_ATTEMPTS_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_attempts_per_minute: u32,
    /// Failed token requests accepted per minute for one client id, and from one address; more get
    /// 429 with Retry-After until the minute ends.
    #[arg(long, env = "TELEMED_TOKEN_FAILURES_PER_MINUTE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub token_failures_per_minute: u32,
    /// How long a locked account stays locked.
    #[arg(long, env = "TELEMED_LOCKOUT_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=10080))]
    pub lockout_minutes: i64,
    /// Lifetime of an integration bearer token.
    #[arg(long, env = "TELEMED_TOKEN_TTL_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(i64).range(60..=86400))]
    pub token_ttl_seconds: i64,
    /// How long emergency access to one patient lasts.
    #[arg(long, env = "TELEMED_BREAK_GLASS_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(i64).range(5..=1440))]
    pub break_glass_minutes: i64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "TELEMED_MAX_BODY_BYTES", default_value_t = 65536)]
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 408.
    #[arg(long, env = "TELEMED_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// A client has this long to send a request's headers (and, on a kept-alive connection, to
    /// start its next request); slower ones are disconnected.
    #[arg(long, env = "TELEMED_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_seconds: u64,
    /// A connection on which nothing is read or written this long is closed (silent sockets,
    /// WebSockets whose page stopped pinging).
    #[arg(long, env = "TELEMED_IDLE_CONNECTION_SECONDS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_connection_seconds: u64,
    /// Connections open at once from one source address; more are closed on arrival. A clinic
    /// whose staff share one public address needs about eight per person.
    #[arg(long, env = "TELEMED_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: u32,
    /// A patient cancelling later than this many hours before a visit is recorded as a late cancellation.
    #[arg(long, env = "TELEMED_CANCELLATION_CUTOFF_HOURS", default_value_t = 24, value_parser = clap::value_parser!(i64).range(0..=336))]
    pub cancellation_cutoff_hours: i64,
    /// A booked visit not checked in this many minutes after its start is marked no-show.
    #[arg(long, env = "TELEMED_NO_SHOW_GRACE_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(i64).range(1..=240))]
    pub no_show_grace_minutes: i64,
    /// Check-in opens this many minutes before a visit.
    #[arg(long, env = "TELEMED_CHECK_IN_WINDOW_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=240))]
    pub check_in_window_minutes: i64,
    /// Slots are published, and may be booked, this many days ahead.
    #[arg(long, env = "TELEMED_BOOKING_HORIZON_DAYS", default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=366))]
    pub booking_horizon_days: i64,
    /// When reminder emails go out before a visit: a comma-separated list such as 24h,1h or 2d,90m.
    #[arg(long, env = "TELEMED_REMINDER_OFFSETS", default_value = "24h,1h", value_parser = parse_offsets)]
    pub reminder_offsets: ReminderOffsets,
    /// SMTP server for reminder emails: smtp://HOST:PORT (plain, for a local relay),
    /// smtp+starttls://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465. Unset: no emails.
    #[arg(long, env = "TELEMED_SMTP_URL")]
    pub smtp_url: Option<SmtpUrl>,
    /// Sender of reminder emails.
    #[arg(
        long,
        env = "TELEMED_MAIL_FROM",
        default_value = "Telemed <no-reply@telemed.invalid>"
    )]
    pub mail_from: String,
    /// The address patients reach this server at, for links in emails (default: http://ADDR).
    #[arg(long, env = "TELEMED_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How often background jobs (reminders, no-shows, session expiry) run, in seconds.
    #[arg(long, env = "TELEMED_JOB_INTERVAL_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub job_interval_seconds: u64,
    /// Sign the audit chain's head after this many new records...
    #[arg(long, env = "TELEMED_AUDIT_CHECKPOINT_RECORDS", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub audit_checkpoint_records: i64,
    /// ...or this many seconds after the last checkpoint, if the chain moved since.
    #[arg(long, env = "TELEMED_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub audit_checkpoint_seconds: u64,
    /// Also append every signed checkpoint to this file (JSON lines): a second copy outside the
    /// database, for `telemed audit verify --against FILE`. Unset: only in the database.
    #[arg(long, env = "TELEMED_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<std::path::PathBuf>,
    /// STUN servers for video visits, comma-separated (stun:stun.example.org:3478). Unset: browsers
    /// connect directly, which works on one network.
    #[arg(long, env = "TELEMED_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,
    /// TURN servers for video visits behind strict firewalls, comma-separated
    /// (turn:turn.example.org:3478?transport=udp). Needs --turn-secret.
    #[arg(
        long,
        env = "TELEMED_TURN_URLS",
        value_delimiter = ',',
        requires = "turn_secret"
    )]
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (coturn `static-auth-secret` with `use-auth-secret`):
    /// each participant gets credentials of their own that expire.
    #[arg(long, env = "TELEMED_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// How long minted TURN credentials work.
    #[arg(long, env = "TELEMED_TURN_CREDENTIAL_MINUTES", default_value_t = 240, value_parser = clap::value_parser!(i64).range(5..=1440))]
    pub turn_credential_minutes: i64,
    /// Route every call through the TURN server (`iceTransportPolicy: "relay"`), so patients and
    /// clinicians never learn each other's IP address. Needs --turn-urls.
    #[arg(long, env = "TELEMED_ICE_RELAY_ONLY", requires = "turn_urls")]
    pub ice_relay_only: bool,
    /// How long before an appointment its clinician and the visit's nurse join the patient's
    /// care team (and may open the record without emergency access).
    #[arg(long, env = "TELEMED_CARE_TEAM_HOURS_BEFORE", default_value_t = 48, value_parser = clap::value_parser!(i64).range(0..=720))]
    pub care_team_hours_before: i64,
    /// How long after an appointment they stay in it (notes, results, the patient's questions).
    #[arg(long, env = "TELEMED_CARE_TEAM_DAYS_AFTER", default_value_t = 30, value_parser = clap::value_parser!(i64).range(0..=365))]
    pub care_team_days_after: i64,
    /// A draft note older than this shows on its clinician's home page.
    #[arg(long, env = "TELEMED_UNSIGNED_NOTE_HOURS", default_value_t = 72, value_parser = clap::value_parser!(i64).range(1..=720))]
    pub unsigned_note_hours: i64,
    /// Target time to answer a patient's message, in business days of the site.
    #[arg(long, env = "TELEMED_REPLY_BUSINESS_DAYS", default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=30))]
    pub reply_business_days: i64,
    /// Largest attachment accepted (bytes).
    #[arg(long, env = "TELEMED_ATTACHMENT_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=104_857_600))]
    pub attachment_max_bytes: u64,
    /// Messages a visit's live connection may send per second (a burst of five seconds' worth
    /// at once); faster ones are refused.
    #[arg(long, env = "TELEMED_LIVE_MESSAGES_PER_SECOND", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub live_messages_per_second: u32,
    /// A live connection that sends more than five refused messages within this many seconds
    /// is closed; the count starts again each window.
    #[arg(long, env = "TELEMED_LIVE_REFUSAL_WINDOW_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub live_refusal_window_seconds: u64,
    /// With PostgreSQL, how often this server tells the others it is alive; the participants
    /// of a server not heard from for three of these are dropped (it crashed).
    #[arg(long, env = "TELEMED_LIVE_HEARTBEAT_SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub live_heartbeat_seconds: u64,
}

/// Reminder offsets in minutes before a visit, largest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderOffsets(pub Vec<i64>);

/// Parses `24h,1h` (also `d` and `m`); each offset between 5 minutes and 14 days.
pub fn parse_offsets(raw: &str) -> Result<ReminderOffsets, String> {
    let mut minutes = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (number, unit) = part.split_at(part.len().saturating_sub(1));
        let n: i64 = number
            .parse()
            .map_err(|_| format!("'{part}' is not an offset such as 24h, 90m or 2d"))?;
        let m = match unit {
            "m" => n,
            "h" => n * 60,
            "d" => n * 24 * 60,
            _ => return Err(format!("'{part}' is not an offset such as 24h, 90m or 2d")),
        };
        if !(5..=14 * 24 * 60).contains(&m) {
            return Err(format!("'{part}' must be between 5m and 14d"));
        }
        if !minutes.contains(&m) {
            minutes.push(m);
        }
    }
    minutes.sort_unstable_by(|a, b| b.cmp(a));
    Ok(ReminderOffsets(minutes))
}

impl std::fmt::Display for ReminderOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|m| {
                if m % (24 * 60) == 0 {
                    format!("{}d", m / (24 * 60))
                } else if m % 60 == 0 {
                    format!("{}h", m / 60)
                } else {
                    format!("{m}m")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// An SMTP URL; it may hold a password, so `Debug` shows only the host.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(pub String);

impl std::str::FromStr for SmtpUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or_default();
        if !matches!(scheme, "smtp" | "smtps" | "smtp+starttls") {
            return Err("use smtp://HOST:PORT, smtp+starttls://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465".into());
        }
        Ok(Self(raw.to_string()))
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self
            .0
            .split_once("://")
            .map(|(_, rest)| rest.rsplit_once('@').map_or(rest, |(_, h)| h))
            .unwrap_or("?");
        write!(f, "SmtpUrl(<credentials redacted>@{host})")
    }
}

impl ServeConfig {
    /// Defaults for tests: port 0 and the production security settings.
    pub fn for_testing() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
            session_idle_minutes: 15,
            session_absolute_hours: 12,
            max_failed_sign_ins: 5,
            sign_in_attempts_per_minute: 30,
            token_failures_per_minute: 10,
            lockout_minutes: 15,
            token_ttl_seconds: 900,
            break_glass_minutes: 60,
            max_body_bytes: 65536,
            request_timeout_seconds: 30,
            header_timeout_seconds: 10,
            idle_connection_seconds: 90,
            max_connections_per_address: 256,
            cancellation_cutoff_hours: 24,
            no_show_grace_minutes: 15,
            check_in_window_minutes: 30,
            booking_horizon_days: 90,
            reminder_offsets: ReminderOffsets(vec![24 * 60, 60]),
            smtp_url: None,
            mail_from: "Telemed <no-reply@telemed.invalid>".into(),
            public_url: None,
            job_interval_seconds: 60,
            audit_checkpoint_records: 1000,
            audit_checkpoint_seconds: 60,
            audit_checkpoint_file: None,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_credential_minutes: 240,
            ice_relay_only: false,
            care_team_hours_before: 48,
            care_team_days_after: 30,
            unsigned_note_hours: 72,
            reply_business_days: 2,
            attachment_max_bytes: 10 * 1024 * 1024,
            live_messages_per_second: 20,
            live_refusal_window_seconds: 60,
            live_heartbeat_seconds: 5,
        }
    }

    /// The care-team window, as the access rule takes it.
    pub fn care_team_window(&self) -> domain::access::CareTeamWindow {
        domain::access::CareTeamWindow {
            before: jiff::SignedDuration::from_hours(self.care_team_hours_before),
            after: jiff::SignedDuration::from_hours(self.care_team_days_after * 24),
        }
    }

    /// Settings of notes, messaging and e-consults, as the domain takes them.
    pub fn clinical_policy(&self) -> domain::notes::ClinicalPolicy {
        domain::notes::ClinicalPolicy {
            unsigned_note_hours: self.unsigned_note_hours,
            reply_business_days: self.reply_business_days,
            attachment_max_bytes: usize::try_from(self.attachment_max_bytes).unwrap_or(usize::MAX),
        }
    }

    /// What every live connection may send.
    pub fn live_limits(&self) -> crate::signaling::limits::LiveLimits {
        crate::signaling::limits::LiveLimits {
            messages_per_second: self.live_messages_per_second,
            refusal_window: std::time::Duration::from_secs(self.live_refusal_window_seconds),
        }
    }

    /// The scheduling rules' settings, as the domain takes them.
    pub fn scheduling_policy(&self) -> domain::scheduling::SchedulingPolicy {
        domain::scheduling::SchedulingPolicy {
            cancellation_cutoff_hours: self.cancellation_cutoff_hours,
            no_show_grace_minutes: self.no_show_grace_minutes,
            check_in_window_minutes: self.check_in_window_minutes,
            booking_horizon_days: self.booking_horizon_days,
        }
    }

    /// The base of links in emails and calendar feeds, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.tls() { "https" } else { "http" };
                format!("{scheme}://{}", self.addr)
            }
        }
    }

    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The example printed by `telemed config default`.
    pub fn example() -> String {
        let d = Self::for_testing();
        format!(
            "# Telemed configuration: every setting is a flag or an environment variable.\n\
             # The values below are the defaults.\n\
             TELEMED_DATABASE_URL=sqlite://telemed-data/telemed.db   # or postgres://user@host/db\n\
             TELEMED_SECRET_KEY_FILE=telemed-data/secret.key       # seals TOTP secrets; default beside the SQLite file\n\
             TELEMED_DATA_KEY_FILE=telemed-data/data.keys          # wraps the keys sealing notes and messages; keep it apart from backups of the database\n\
             TELEMED_ADDR=127.0.0.1:8080\n\
             # TELEMED_TLS_CERT=/etc/telemed/cert.pem\n\
             # TELEMED_TLS_KEY=/etc/telemed/key.pem\n\
             TELEMED_LOG_FORMAT=text                               # or json\n\
             TELEMED_SESSION_IDLE_MINUTES={}\n\
             TELEMED_SESSION_ABSOLUTE_HOURS={}\n\
             TELEMED_MAX_FAILED_SIGN_INS={}\n\
             TELEMED_SIGN_IN_ATTEMPTS_PER_MINUTE={}\n\
             TELEMED_TOKEN_FAILURES_PER_MINUTE={}\n\
             TELEMED_LOCKOUT_MINUTES={}\n\
             TELEMED_TOKEN_TTL_SECONDS={}\n\
             TELEMED_BREAK_GLASS_MINUTES={}\n\
             TELEMED_MAX_BODY_BYTES={}\n\
             TELEMED_REQUEST_TIMEOUT_SECONDS={}\n\
             TELEMED_HEADER_TIMEOUT_SECONDS={}\n\
             TELEMED_IDLE_CONNECTION_SECONDS={}\n\
             TELEMED_MAX_CONNECTIONS_PER_ADDRESS={}\n\
             TELEMED_CANCELLATION_CUTOFF_HOURS={}\n\
             TELEMED_NO_SHOW_GRACE_MINUTES={}\n\
             TELEMED_CHECK_IN_WINDOW_MINUTES={}\n\
             TELEMED_BOOKING_HORIZON_DAYS={}\n\
             TELEMED_REMINDER_OFFSETS={}\n\
             # TELEMED_SMTP_URL=smtp+starttls://user:password@mail.example.org:587   # unset: no reminder emails\n\
             TELEMED_MAIL_FROM=\"{}\"\n\
             # TELEMED_PUBLIC_URL=https://telemed.example.org                   # links in emails; default http://ADDR\n\
             TELEMED_JOB_INTERVAL_SECONDS={}\n\
             TELEMED_AUDIT_CHECKPOINT_RECORDS={}                      # sign the audit chain's head after this many records\n\
             TELEMED_AUDIT_CHECKPOINT_SECONDS={}                      # or this long after the last signature\n\
             # TELEMED_AUDIT_CHECKPOINT_FILE=/var/log/telemed/checkpoints.jsonl # a second copy of each checkpoint\n\
             # TELEMED_AUDIT_SIGNING_KEY_FILE=telemed-data/audit-signing.key   # default beside the secret key\n\
             # TELEMED_STUN_URLS=stun:stun.example.org:3478                    # video visits; unset: direct only\n\
             # TELEMED_TURN_URLS=turn:turn.example.org:3478?transport=udp      # needs TELEMED_TURN_SECRET\n\
             # TELEMED_TURN_SECRET=...                                          # coturn static-auth-secret\n\
             TELEMED_TURN_CREDENTIAL_MINUTES={}\n\
             # TELEMED_ICE_RELAY_ONLY=true                                      # calls only through TURN (hides IPs)\n\
             TELEMED_CARE_TEAM_HOURS_BEFORE={}\n\
             TELEMED_CARE_TEAM_DAYS_AFTER={}\n\
             TELEMED_UNSIGNED_NOTE_HOURS={}\n\
             TELEMED_REPLY_BUSINESS_DAYS={}\n\
             TELEMED_ATTACHMENT_MAX_BYTES={}\n\
             TELEMED_LIVE_MESSAGES_PER_SECOND={}                     # per live connection; bursts of 5 s worth\n\
             TELEMED_LIVE_REFUSAL_WINDOW_SECONDS={}                  # more than 5 refused messages within it close a connection\n\
             TELEMED_LIVE_HEARTBEAT_SECONDS={}                        # PostgreSQL: a server silent for 3 of these is gone\n",
            d.session_idle_minutes,
            d.session_absolute_hours,
            d.max_failed_sign_ins,
            d.sign_in_attempts_per_minute,
            d.token_failures_per_minute,
            d.lockout_minutes,
            d.token_ttl_seconds,
            d.break_glass_minutes,
            d.max_body_bytes,
            d.request_timeout_seconds,
            d.header_timeout_seconds,
            d.idle_connection_seconds,
            d.max_connections_per_address,
            d.cancellation_cutoff_hours,
            d.no_show_grace_minutes,
            d.check_in_window_minutes,
            d.booking_horizon_days,
            d.reminder_offsets,
            d.mail_from,
            d.job_interval_seconds,
            d.audit_checkpoint_records,
            d.audit_checkpoint_seconds,
            d.turn_credential_minutes,
            d.care_team_hours_before,
            d.care_team_days_after,
            d.unsigned_note_hours,
            d.reply_business_days,
            d.attachment_max_bytes,
            d.live_messages_per_second,
            d.live_refusal_window_seconds,
            d.live_heartbeat_seconds,
        )
    }
}
