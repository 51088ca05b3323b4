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
            lockout_minutes: 15,
            token_ttl_seconds: 900,
            break_glass_minutes: 60,
            max_body_bytes: 65536,
            request_timeout_seconds: 30,
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
             TELEMED_ADDR=127.0.0.1:8080\n\
             # TELEMED_TLS_CERT=/etc/telemed/cert.pem\n\
             # TELEMED_TLS_KEY=/etc/telemed/key.pem\n\
             TELEMED_LOG_FORMAT=text                               # or json\n\
             TELEMED_SESSION_IDLE_MINUTES={}\n\
             TELEMED_SESSION_ABSOLUTE_HOURS={}\n\
             TELEMED_MAX_FAILED_SIGN_INS={}\n\
             TELEMED_SIGN_IN_ATTEMPTS_PER_MINUTE={}\n\
             TELEMED_LOCKOUT_MINUTES={}\n\
             TELEMED_TOKEN_TTL_SECONDS={}\n\
             TELEMED_BREAK_GLASS_MINUTES={}\n\
             TELEMED_MAX_BODY_BYTES={}\n\
             TELEMED_REQUEST_TIMEOUT_SECONDS={}\n",
            d.session_idle_minutes,
            d.session_absolute_hours,
            d.max_failed_sign_ins,
            d.sign_in_attempts_per_minute,
            d.lockout_minutes,
            d.token_ttl_seconds,
            d.break_glass_minutes,
            d.max_body_bytes,
            d.request_timeout_seconds,
        )
    }
}
