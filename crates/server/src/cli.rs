//! The command line: every subcommand calls the same domain functions the API does.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use serde_json::json;

use domain::access::Actor;
use domain::identity::service::org::SiteInput;
use domain::identity::service::users::{LicenseInput, UserInput};
use domain::ids::OrgId;
use domain::{Store, SystemClock};

use crate::auth::audit_signing::{AuditSigner, default_signing_key_path};
use crate::auth::sealed::{Sealer, default_key_path};
use crate::config::{LogFormat, ServeConfig};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(
    name = "telemed",
    version,
    about = "Telemed: telemedicine from a single binary."
)]
pub struct Cli {
    /// Database: `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        global = true,
        env = "TELEMED_DATABASE_URL",
        default_value = "sqlite://telemed-data/telemed.db"
    )]
    pub database_url: String,
    /// Key that seals stored TOTP secrets (created if missing). Default: `secret.key` beside the SQLite
    /// database, or `telemed-data/secret.key`. Back it up with the database: without it staff must re-enrol.
    #[arg(long, global = true, env = "TELEMED_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Key-encryption keys that wrap the data keys sealing notes, messages and attachments
    /// (created if missing). Default: `data.keys` beside the SQLite database, or
    /// `telemed-data/data.keys`. Keep it out of database backups, and back it up on its own.
    #[arg(long, global = true, env = "TELEMED_DATA_KEY_FILE")]
    pub data_key_file: Option<std::path::PathBuf>,
    /// Ed25519 key that signs the audit chain's checkpoints (created by `serve` if missing).
    /// Default: `audit-signing.key` beside the secret key file. Keep it off the database's machine
    /// if you can: whoever holds it and the database can rewrite the trail undetected.
    #[arg(long, global = true, env = "TELEMED_AUDIT_SIGNING_KEY_FILE")]
    pub audit_signing_key_file: Option<std::path::PathBuf>,
    /// SQLite: read-only connections beside the one writer. Each is a thread: about the number of
    /// cores is best.
    #[arg(long, global = true, env = "TELEMED_SQLITE_READERS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub sqlite_readers: u32,
    /// PostgreSQL: connections in the pool.
    #[arg(long, global = true, env = "TELEMED_POSTGRES_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub postgres_connections: u32,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and API (migrates the database first).
    Serve(ServeConfig),
    /// Create (once) a demo organization with staff and patients, print their sign-ins, then serve.
    Demo {
        #[command(flatten)]
        serve: ServeConfig,
        /// Create the demo data and print the sign-ins, but do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage organizations (tenants).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage sites (clinics).
    #[command(subcommand)]
    Site(SiteCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage integration clients (OAuth 2.0 client credentials).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the visit types an organization offers.
    #[command(subcommand, name = "visit-type")]
    VisitType(VisitTypeCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Copy the SQLite database to a file, consistently, while the server runs.
    Backup {
        /// Where to write the copy; must not exist yet.
        #[arg(long)]
        to: String,
    },
    /// Print the configuration settings with their defaults.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage the keys that seal free text at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new key-encryption key and a new data key, re-wrap every data key under it, and
    /// retire the old key-encryption key. Safe while the server runs, and to run again.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        #[arg(long)]
        name: String,
        /// Print `{"id": ...}` instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Create a site (clinic) with its US state and IANA time zone.
    Create {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: String,
        /// Two-letter US state code.
        #[arg(long)]
        state: String,
        /// IANA time zone, e.g. America/New_York.
        #[arg(long)]
        time_zone: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Staff get a TOTP secret to add to an authenticator app; it is printed once.
    Create {
        #[arg(long)]
        org: OrgId,
        /// patient, clinician, nurse, front_desk, site_admin, org_admin, program_manager or auditor.
        #[arg(long)]
        role: String,
        #[arg(long)]
        email: String,
        /// At least 12 characters.
        #[arg(long, env = "TELEMED_NEW_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Display name (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// A site the user works at (repeatable).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// For a patient account: the patient record id.
        #[arg(long)]
        patient: Option<String>,
        /// Clinicians: 10-digit NPI.
        #[arg(long)]
        npi: Option<String>,
        /// Clinicians: a specialty (repeatable).
        #[arg(long = "specialty")]
        specialties: Vec<String>,
        /// Clinicians: a state license as STATE:NUMBER:YYYY-MM-DD (repeatable).
        #[arg(long = "license")]
        licenses: Vec<String>,
        /// Clinicians: a language they hold visits in, such as en or es (repeatable; default en).
        #[arg(long = "language")]
        languages: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an integration client; its secret is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: String,
        /// Space-separated SMART scopes, e.g. "system/*.read system/*.write".
        #[arg(long)]
        scope: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VisitTypeCommand {
    /// Create a visit type.
    Create {
        #[arg(long)]
        org: OrgId,
        #[arg(long)]
        name: String,
        /// primary_care, behavioral_health, urgent_care, specialist_consultation,
        /// chronic_care_follow_up, post_acute_check or wellness_screening.
        #[arg(long)]
        service_line: String,
        /// video, audio_only, in_person or async_e_visit.
        #[arg(long)]
        modality: String,
        /// Length in minutes (a multiple of 5, 5 to 240).
        #[arg(long)]
        minutes: i64,
        /// any (default), new or follow_up.
        #[arg(long)]
        patient_kind: Option<String>,
        /// Patients may book it themselves (otherwise only staff book it).
        #[arg(long)]
        patient_bookable: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain and its signed checkpoints; names the first record altered, deleted
    /// or inserted, and a checkpoint that is forged or no longer matches. Exit 1 if broken.
    Verify {
        /// Also check checkpoints kept elsewhere (the output of `audit checkpoint`, or the
        /// server's `--audit-checkpoint-file`): the trail must still contain each of them.
        #[arg(long)]
        against: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign the chain's head now and print it (JSON, with the public key) for an auditor to keep.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting with its default value, as environment variables.
    Default,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TELEMED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour codes only for a person at a terminal, never into log files.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// How this command line asks for the database to be opened.
fn connect_options(cli: &Cli) -> store::ConnectOptions {
    store::ConnectOptions {
        sqlite_readers: cli.sqlite_readers,
        postgres_connections: cli.postgres_connections,
        data_key_file: Some(
            cli.data_key_file
                .clone()
                .unwrap_or_else(|| store::default_data_key_path(&cli.database_url)),
        ),
        ..store::ConnectOptions::default()
    }
}

async fn open_store(url: &str, options: &store::ConnectOptions) -> anyhow::Result<Arc<dyn Store>> {
    Ok(store::connect_with(url, options.clone()).await?)
}

pub(crate) fn print(json: bool, value: serde_json::Value, text: String) {
    if json {
        say!("{value}");
    } else {
        say!("{text}");
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let key_path = cli
        .secret_key_file
        .clone()
        .unwrap_or_else(|| default_key_path(&cli.database_url));
    let signing_key_path = cli
        .audit_signing_key_file
        .clone()
        .unwrap_or_else(|| default_signing_key_path(&key_path));
    let operator = Actor::operator();
    let options = connect_options(&cli);
    match cli.command {
        Command::Config(ConfigCommand::Default) => {
            let _ = std::io::Write::write_all(
                &mut std::io::stdout(),
                ServeConfig::example().as_bytes(),
            );
        }
        Command::Migrate => {
            let store = open_store(&cli.database_url, &options).await?;
            say!("database is up to date ({})", store.backend());
        }
        Command::Serve(config) => {
            init_logging(config.log_format);
            let store = open_store(&cli.database_url, &options).await?;
            serve(
                store,
                config,
                sealer(&key_path)?,
                &signing_key_path,
                &cli.database_url,
            )
            .await?;
        }
        Command::Demo {
            serve: config,
            no_serve,
        } => {
            init_logging(config.log_format);
            let store = open_store(&cli.database_url, &options).await?;
            let state = AppState::new(
                store.clone(),
                Arc::new(SystemClock),
                config.clone(),
                sealer(&key_path)?,
            );
            let scheme = if config.tls() { "https" } else { "http" };
            crate::demo::seed_and_print(&state, &format!("{scheme}://{}", config.addr)).await?;
            if !no_serve {
                serve(
                    store,
                    config,
                    sealer(&key_path)?,
                    &signing_key_path,
                    &cli.database_url,
                )
                .await?;
            }
        }
        Command::Org(OrgCommand::Create { name, json }) => {
            let state = command_state(&cli.database_url, &options, &key_path).await?;
            let org =
                domain::identity::service::org::create_org(state.ctx(), &operator, &name).await?;
            print(
                json,
                json!({ "id": org.id.to_string() }),
                format!("created organization {} ({})", org.name, org.id),
            );
        }
        Command::Site(SiteCommand::Create {
            org,
            name,
            state: us_state,
            time_zone,
            json,
        }) => {
            let state = command_state(&cli.database_url, &options, &key_path).await?;
            let input = SiteInput {
                name,
                state: us_state,
                time_zone,
            };
            let site =
                domain::identity::service::org::create_site(state.ctx(), &operator, org, &input)
                    .await?;
            print(
                json,
                json!({ "id": site.id.to_string() }),
                format!("created site {} ({})", site.name, site.id),
            );
        }
        Command::User(UserCommand::Create {
            org,
            role,
            email,
            password,
            name,
            sites,
            patient,
            npi,
            specialties,
            licenses,
            languages,
            json,
        }) => {
            let state = command_state(&cli.database_url, &options, &key_path).await?;
            let licenses = licenses
                .iter()
                .map(|l| parse_license(l))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let input = UserInput {
                display_name: name
                    .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string()),
                email,
                role,
                password,
                site_ids: sites,
                patient_id: patient,
                npi,
                specialties,
                licenses,
                languages,
            };
            let created = domain::identity::service::users::create(
                state.ctx(),
                &state,
                &operator,
                org,
                &input,
                true,
            )
            .await?;
            let uri = created
                .totp_secret
                .as_deref()
                .and_then(|s| crate::auth::totp::otpauth_uri(s, created.user.email.as_str()));
            let text = match &created.totp_secret {
                Some(secret) => format!(
                    "created {} {} ({})\nTOTP secret: {secret}\notpauth URI: {}",
                    created.user.role.as_str(),
                    created.user.email,
                    created.user.id,
                    uri.clone().unwrap_or_default()
                ),
                None => format!(
                    "created {} {} ({})",
                    created.user.role.as_str(),
                    created.user.email,
                    created.user.id
                ),
            };
            print(
                json,
                json!({ "id": created.user.id.to_string(), "totp_secret": created.totp_secret, "otpauth_uri": uri }),
                text,
            );
        }
        Command::Client(ClientCommand::Create {
            org,
            name,
            scope,
            json,
        }) => {
            let state = command_state(&cli.database_url, &options, &key_path).await?;
            let (client, secret) =
                crate::auth::oauth::create_client(&state, &operator, org, &name, &scope).await?;
            print(
                json,
                json!({ "client_id": client.id.to_string(), "client_secret": secret }),
                format!(
                    "client_id: {}\nclient_secret: {secret}\n(the secret is shown only now)",
                    client.id
                ),
            );
        }
        Command::VisitType(VisitTypeCommand::Create {
            org,
            name,
            service_line,
            modality,
            minutes,
            patient_kind,
            patient_bookable,
            json,
        }) => {
            let state = command_state(&cli.database_url, &options, &key_path).await?;
            let input = domain::scheduling::service::visit_types::VisitTypeInput {
                name,
                service_line,
                modality,
                patient_kind,
                duration_minutes: minutes,
                patient_bookable,
                active: None,
            };
            let created = domain::scheduling::service::visit_types::create_in(
                state.ctx(),
                &operator,
                org,
                &input,
            )
            .await?;
            print(
                json,
                json!({ "id": created.id.to_string() }),
                format!("created visit type {} ({})", created.name, created.id),
            );
        }
        Command::Audit(AuditCommand::Verify { against, json }) => {
            let store = open_store(&cli.database_url, &options).await?;
            let signer = AuditSigner::load(&signing_key_path);
            let v = crate::checkpoints::verify_command(store.as_ref(), signer, against.as_deref())
                .await;
            print(json, v.value, v.text);
            return Ok(if v.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Audit(AuditCommand::Checkpoint) => {
            let store = open_store(&cli.database_url, &options).await?;
            let signer = AuditSigner::load_or_create(&signing_key_path)?;
            return crate::checkpoints::checkpoint_command(store.as_ref(), &SystemClock, &signer)
                .await;
        }
        Command::Keys(KeysCommand::Rotate) => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "re-wrapping data keys {bar:30} {pos}/{len}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let rotation = store::rotate_data_keys(&cli.database_url, options, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish();
            say!(
                "new key-encryption key {} ({} data keys re-wrapped, {} old key-encryption key(s) retired); new values are sealed with data key {}",
                rotation.key_encryption_key,
                rotation.rewrapped,
                rotation.retired_keks,
                rotation.data_key
            );
        }
        Command::Backup { to } => {
            let store = open_store(&cli.database_url, &options).await?;
            store.backup_to(&to).await?;
            say!("backup written to {to}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_license(raw: &str) -> anyhow::Result<LicenseInput> {
    let mut parts = raw.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(state), Some(number), Some(expires_on)) => Ok(LicenseInput {
            state: state.to_string(),
            number: number.to_string(),
            expires_on: expires_on.to_string(),
        }),
        _ => anyhow::bail!("--license must look like STATE:NUMBER:YYYY-MM-DD, got '{raw}'"),
    }
}

/// The state a one-shot command runs the domain with: the store, the system clock and the sealing key.
async fn command_state(
    database_url: &str,
    options: &store::ConnectOptions,
    key_path: &std::path::Path,
) -> anyhow::Result<AppState> {
    let store = open_store(database_url, options).await?;
    Ok(AppState::new(
        store,
        Arc::new(SystemClock),
        ServeConfig::for_testing(),
        sealer(key_path)?,
    ))
}

fn sealer(path: &std::path::Path) -> anyhow::Result<Arc<Sealer>> {
    Ok(Arc::new(Sealer::load_or_create(path)?))
}

async fn serve(
    store: Arc<dyn Store>,
    config: ServeConfig,
    sealer: Arc<Sealer>,
    signing_key_path: &std::path::Path,
    database_url: &str,
) -> anyhow::Result<()> {
    crate::connections::raise_file_limit();
    let signer = Arc::new(AuditSigner::load_or_create(signing_key_path)?);
    tracing::info!(key = signer.key_id(), path = %signing_key_path.display(), "audit checkpoints signed");
    tokio::spawn(crate::checkpoints::run_forever(
        store.clone(),
        Arc::new(SystemClock),
        signer,
        config.audit_checkpoint_records,
        config.audit_checkpoint_seconds,
        config.audit_checkpoint_file.clone(),
    ));
    let listener = std::net::TcpListener::bind(config.addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
    let scheme = if config.tls() { "https" } else { "http" };
    tracing::info!(addr = %config.addr, backend = store.backend(), "serving on {scheme}://{}", config.addr);
    let state = AppState::new(store, Arc::new(SystemClock), config, sealer);
    crate::startup::start_relay(&state, database_url).await?;
    crate::startup::serve(listener, state).await
}
