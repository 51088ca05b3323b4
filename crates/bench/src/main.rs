//! `telemed-bench`: starts the real `telemed` binary on a database, seeds it, drives named
//! workloads over loopback HTTP and prints a table of throughput and latency.
//!
//! It prints numbers and checks only correctness (the audit trail grew by every read it made);
//! it never fails because something was slow.

mod fault;
mod http;
mod load;
mod report;
mod rush;
mod signaling;
mod storeprobe;
mod telemed;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use base64::Engine;
use clap::Parser;
use serde_json::{Value, json};

use crate::http::Conn;
use crate::load::{Outcome, Rng, Workload};
use crate::telemed::{Server, Telemed, cpu_time, machine_ticks};

const PASSWORD: &str = "bench-password-2026";

#[derive(Debug, Parser)]
#[command(
    name = "telemed-bench",
    about = "Load benchmark of the telemed server: patient reads (audited) and password sign-ins."
)]
struct Args {
    /// Database to run on: `sqlite://PATH` or `postgres://USER@HOST/DB` (a fresh one is best).
    /// Default: a new SQLite file in a temporary directory.
    #[arg(long, env = "TELEMED_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// The `telemed` binary to start (build it first: `cargo build --release -p server`).
    #[arg(long, default_value = "target/release/telemed")]
    telemed: PathBuf,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Unmeasured warm-up seconds before each workload.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Concurrent keep-alive connections for the read workload (and the floors).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Concurrent connections for the sign-in workload (argon2id is CPU-bound by design).
    #[arg(long, default_value_t = 8)]
    sign_in_connections: usize,
    /// Patients to create before reading them at random.
    #[arg(long, default_value_t = 10_000)]
    patients: usize,
    /// Connections used to create the patients.
    #[arg(long, default_value_t = 16)]
    seed_connections: usize,
    /// Threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Workloads to run, comma-separated: read (and read-one), sign-in, the floors healthz and me,
    /// and store.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "read,sign-in"
    )]
    workloads: Vec<Kind>,
    /// Keep the temporary directory (server logs, SQLite file) afterwards.
    #[arg(long)]
    keep: bool,
    /// The rush: slots published (a multiple of 10 x clinicians).
    #[arg(long, default_value_t = 10_000)]
    rush_slots: usize,
    /// The rush: clinicians the slots belong to.
    #[arg(long, default_value_t = 50)]
    rush_clinicians: usize,
    /// The rush: signed-in patients, one connection each.
    #[arg(long, default_value_t = 256)]
    rush_patients: usize,
    /// The rush: booking attempts in all.
    #[arg(long, default_value_t = 50_000)]
    rush_attempts: usize,
    /// The rush: how many of the soonest slots everybody wants.
    #[arg(long, default_value_t = 100)]
    rush_hot: usize,
    /// The rush: the share of attempts aimed at those popular slots.
    #[arg(long, default_value_t = 0.6)]
    rush_hot_share: f64,
    /// Instead of the workloads, cause a fault under a booking load and check that no confirmed
    /// booking is lost or doubled (see docs/reliability.md). The rush's options shape the load.
    #[arg(long, value_enum)]
    fault: Option<fault::Fault>,
    /// Faults: how many times to cause it.
    #[arg(long, default_value_t = 10)]
    fault_runs: usize,
    /// Faults: seconds the database stays away (pg-restart) or the disk stays full (disk-full).
    #[arg(long, default_value_t = 5)]
    fault_outage_seconds: u64,
    /// Faults: milliseconds each patient waits between two booking attempts.
    #[arg(long, default_value_t = 20)]
    fault_think_ms: u64,
    /// pg-restart: the shell command that stops the database (it must return once it is down).
    #[arg(long)]
    db_stop_command: Option<String>,
    /// pg-restart: the shell command that starts it again (it must return once it accepts connections).
    #[arg(long)]
    db_start_command: Option<String>,
    /// Signaling: patients holding a waiting room open at once, for the memory measure.
    #[arg(long, default_value_t = 10_000)]
    signaling_idle: usize,
    /// Signaling: pairs relaying at once (one pair alone is measured too).
    #[arg(long, default_value_t = 16)]
    signaling_pairs: usize,
    /// Signaling: measured round trips per pair.
    #[arg(long, default_value_t = 2_000)]
    signaling_round_trips: usize,
    /// Signaling: bytes of payload in each relayed message.
    #[arg(long, default_value_t = 1024)]
    signaling_payload: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// GET /api/v1/patients/{id} of random patients, each read audited.
    Read,
    /// POST /api/v1/session with a patient's password (argon2id).
    SignIn,
    /// With `read`, right after it: the same audited read on one connection (what one
    /// clinician's page waits for).
    ReadOne,
    /// GET /healthz: the HTTP stack and middleware alone.
    Healthz,
    /// GET /api/v1/me: the HTTP stack plus bearer token checking.
    Me,
    /// In-process, no HTTP: the store's get_patient and record_audit, alone and together.
    Store,
    /// The 8 a.m. rush: 256 patients booking 10,000 slots, most after the same few; then the
    /// database is checked for double bookings.
    Rush,
    /// Video visit signaling: relay round trips between a visit's participants (one server, and
    /// two on PostgreSQL), and one server's memory per waiting patient.
    Signaling,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

/// Row names the ratios are computed from.
const READ: &str = "GET patient (audited)";
const READ_ONE: &str = "GET patient (audited), 1 conn";
const HEALTHZ: &str = "GET healthz (no auth, no DB)";

/// One row of the results table.
struct Row {
    workload: &'static str,
    connections: usize,
    outcome: Outcome,
    server_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
    /// Share of all the machine's cores that were busy, by anything.
    machine_busy: Option<f64>,
}

async fn run(args: Args) -> anyhow::Result<()> {
    if !args.telemed.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p server`, or pass --telemed PATH",
            args.telemed.display()
        );
    }
    #[allow(
        clippy::disallowed_methods,
        reason = "a benchmark run is named by the machine's clock"
    )]
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let work_dir =
        std::env::temp_dir().join(format!("telemed-bench-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", work_dir.join("bench.db").display()),
    };
    let backend = if database_url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let log = work_dir.join("server.log");
    let telemed = Telemed {
        binary: args.telemed.clone(),
        database_url: database_url.clone(),
        secret_key_file: work_dir.join("secret.key"),
    };
    println!(
        "telemed-bench: backend {backend}, server log {}",
        log.display()
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "load average before the run: {} (other work on the machine skews the numbers)",
            load.join(" ")
        );
    }
    if let Some(fsync) = report::fsync_latency(&work_dir) {
        println!(
            "disk: a 4 KiB write + fsync in {} takes {:.2} ms (median of 50); every durable commit pays at least this",
            work_dir.display(),
            fsync.as_secs_f64() * 1000.0
        );
    }

    let result = bench(&args, &telemed, backend, stamp, &log).await;
    if result.is_ok() && !args.keep {
        let _ = std::fs::remove_dir_all(&work_dir);
    } else {
        println!("kept {}", work_dir.display());
    }
    result
}

async fn bench(
    args: &Args,
    telemed: &Telemed,
    backend: &'static str,
    stamp: u64,
    log: &std::path::Path,
) -> anyhow::Result<()> {
    telemed.run(&["migrate"])?;
    let rush_config = rush::RushConfig {
        slots: args.rush_slots,
        clinicians: args.rush_clinicians,
        patients: args.rush_patients,
        attempts: args.rush_attempts,
        hot: args.rush_hot,
        hot_share: args.rush_hot_share,
        stamp,
    };
    if let Some(kind) = args.fault {
        let config = fault::FaultConfig {
            fault: kind,
            runs: args.fault_runs.max(1),
            outage: Duration::from_secs(args.fault_outage_seconds),
            db_stop: args.db_stop_command.clone(),
            db_start: args.db_start_command.clone(),
            think: Duration::from_millis(args.fault_think_ms),
            rush: rush_config,
        };
        return fault::run(telemed, log, &config).await;
    }
    if args.workloads.contains(&Kind::Rush) {
        let report = rush::run(telemed, log, &rush_config).await?;
        report::print_rush(backend, &rush_config, &report)?;
    }
    if args.workloads.contains(&Kind::Signaling) {
        let config = signaling::SignalingConfig {
            idle: args.signaling_idle,
            pairs: args.signaling_pairs.max(1),
            round_trips: args.signaling_round_trips,
            payload_bytes: args.signaling_payload,
        };
        let report = signaling::run(telemed, log, backend, &config, stamp).await?;
        report::print_signaling(backend, &config, &report);
    }
    if args
        .workloads
        .iter()
        .any(|k| !matches!(k, Kind::Rush | Kind::Signaling))
    {
        reads_and_sign_ins(args, telemed, backend, stamp, log).await?;
    }
    Ok(())
}

/// The read, sign-in, floor and store workloads on 10,000 patients.
async fn reads_and_sign_ins(
    args: &Args,
    telemed: &Telemed,
    backend: &'static str,
    stamp: u64,
    log: &std::path::Path,
) -> anyhow::Result<()> {
    // Seed through the CLI: organization, site, integration client.
    let org = telemed.run_json(&[
        "org",
        "create",
        "--name",
        &format!("Bench {stamp}"),
        "--json",
    ])?;
    let org = str_field(&org, "id")?;
    let site = telemed.run_json(&[
        "site",
        "create",
        "--org",
        &org,
        "--name",
        "Bench Clinic",
        "--state",
        "NY",
        "--time-zone",
        "America/New_York",
        "--json",
    ])?;
    let site = str_field(&site, "id")?;
    let client = telemed.run_json(&[
        "client",
        "create",
        "--org",
        &org,
        "--name",
        "bench",
        "--scope",
        "system/*.read system/*.write",
        "--json",
    ])?;
    let client_id = str_field(&client, "client_id")?;
    let client_secret = str_field(&client, "client_secret")?;

    // Patients go through the API, so every one is created by the domain with its audit entry.
    let server = telemed.serve(log).await?;
    let token = fetch_token(server.addr, &client_id, &client_secret).await?;
    let started = Instant::now();
    let ids = create_patients(
        server.addr,
        &token,
        &site,
        args.patients,
        args.seed_connections,
    )
    .await?;
    let seeding = started.elapsed();
    server.stop()?;
    println!(
        "seeded {} patients through POST /api/v1/patients in {:.1} s ({:.0}/s, {} connections)",
        ids.len(),
        seeding.as_secs_f64(),
        ids.len() as f64 / seeding.as_secs_f64().max(1e-9),
        args.seed_connections
    );

    let email = format!("bench.patient.{stamp}@bench.example");
    telemed.run(&[
        "user",
        "create",
        "--org",
        &org,
        "--role",
        "patient",
        "--email",
        &email,
        "--password",
        PASSWORD,
        "--patient",
        &ids[0],
        "--json",
    ])?;

    let mut rows = Vec::new();
    let mut audit_check = None;
    let mut wal_report = None;

    // (a) Audited reads of random patients.
    if args.workloads.contains(&Kind::Read) {
        let audit_before = telemed.audit_records()?;
        let server = telemed.serve(log).await?;
        let token = fetch_token(server.addr, &client_id, &client_secret).await?;
        let reads = Arc::new(Reads::new(server.addr, &token, &ids));
        let (row, mut warm_ok) =
            measure(READ, &server, reads.clone(), args.connections, args).await?;
        let mut ok = row.outcome.ok;
        rows.push(row);
        if args.workloads.contains(&Kind::ReadOne) {
            let (row, warm) = measure(READ_ONE, &server, reads, 1, args).await?;
            warm_ok += warm;
            ok += row.outcome.ok;
            rows.push(row);
        }
        // While the server runs: SQLite empties the WAL when its last connection closes.
        wal_report = report::wal_size(&telemed.database_url, ok + warm_ok);
        server.stop()?;
        let audit_after = telemed.audit_records()?;
        audit_check = Some((audit_after.saturating_sub(audit_before), ok + warm_ok));
    }

    // (b) Password sign-ins (argon2id) of a patient account.
    if args.workloads.contains(&Kind::SignIn) {
        let server = telemed.serve(log).await?;
        let body = json!({ "email": email, "password": PASSWORD }).to_string();
        let sign_in = Arc::new(Fixed(http::request(
            "POST",
            server.addr,
            "/api/v1/session",
            &[],
            Some(("application/json", body.as_bytes())),
        )));
        let (row, _) = measure(
            "POST session (sign-in)",
            &server,
            sign_in,
            args.sign_in_connections,
            args,
        )
        .await?;
        server.stop()?;
        rows.push(row);
    }

    // Floors, to see where a read's time goes: the HTTP stack alone, then with token checking.
    if args.workloads.contains(&Kind::Healthz) || args.workloads.contains(&Kind::Me) {
        let server = telemed.serve(log).await?;
        if args.workloads.contains(&Kind::Healthz) {
            let healthz = Arc::new(Fixed(http::request(
                "GET",
                server.addr,
                "/healthz",
                &[],
                None,
            )));
            let (row, _) = measure(HEALTHZ, &server, healthz, args.connections, args).await?;
            rows.push(row);
        }
        if args.workloads.contains(&Kind::Me) {
            let token = fetch_token(server.addr, &client_id, &client_secret).await?;
            let auth = format!("Bearer {token}");
            let me = Arc::new(Fixed(http::request(
                "GET",
                server.addr,
                "/api/v1/me",
                &[("Authorization", &auth)],
                None,
            )));
            let (row, _) = measure(
                "GET me (bearer check only)",
                &server,
                me,
                args.connections,
                args,
            )
            .await?;
            rows.push(row);
        }
        server.stop()?;
    }

    // The storage half of a read, without HTTP, with the server stopped.
    if args.workloads.contains(&Kind::Store) {
        let probes = storeprobe::run(
            &telemed.database_url,
            &org,
            &client_id,
            &ids,
            args.connections,
            Duration::from_secs(args.seconds),
        )?;
        for probe in probes {
            rows.push(Row {
                workload: probe.name,
                connections: args.connections,
                outcome: probe.outcome,
                server_cpu: probe.cpu,
                client_cpu: None,
                machine_busy: probe.machine_busy,
            });
        }
    }

    report::print_table(backend, &rows);
    report::print_ratios(&rows);
    if let Some(wal) = &wal_report {
        println!("{wal}");
    }
    if let Some((grown, reads_ok)) = audit_check {
        println!(
            "audit: chain intact; {grown} records added during the read workload for {reads_ok} successful reads (warm-up included)"
        );
        if grown < reads_ok {
            bail!("the audit trail grew by {grown} records but {reads_ok} reads succeeded");
        }
    }
    for row in &rows {
        if let Some(error) = &row.outcome.first_error {
            println!("first error in {}: {error}", row.workload);
        }
    }
    Ok(())
}

/// Warms up, then measures one workload; returns its row and the warm-up's successful requests.
async fn measure<W: Workload>(
    name: &'static str,
    server: &Server,
    workload: Arc<W>,
    connections: usize,
    args: &Args,
) -> anyhow::Result<(Row, u64)> {
    let mut warm_ok = 0;
    if args.warmup > 0 {
        let warm = load::run(
            server.addr,
            workload.clone(),
            connections,
            Duration::from_secs(args.warmup),
        )
        .await?;
        warm_ok = warm.ok;
    }
    let server_cpu = cpu_time(Some(server.pid()));
    let client_cpu = cpu_time(None);
    let machine = machine_ticks();
    let outcome = load::run(
        server.addr,
        workload,
        connections,
        Duration::from_secs(args.seconds),
    )
    .await?;
    let used = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    Ok((
        Row {
            workload: name,
            connections,
            server_cpu: used(server_cpu, cpu_time(Some(server.pid()))),
            client_cpu: used(client_cpu, cpu_time(None)),
            machine_busy: match (machine, machine_ticks()) {
                (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                    Some((b1 - b0) as f64 / (t1 - t0) as f64)
                }
                _ => None,
            },
            outcome,
        },
        warm_ok,
    ))
}

fn str_field(value: &Value, name: &str) -> anyhow::Result<String> {
    value[name]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("expected \"{name}\" in {value}"))
}

/// `POST /oauth/token` with client_secret_basic.
async fn fetch_token(addr: SocketAddr, client_id: &str, secret: &str) -> anyhow::Result<String> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let request = http::request(
        "POST",
        addr,
        "/oauth/token",
        &[("Authorization", &format!("Basic {basic}"))],
        Some((
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials",
        )),
    );
    let mut conn = Conn::open(addr).await?;
    let status = conn.send(&request).await?;
    let body: Value = serde_json::from_slice(conn.body()).unwrap_or(Value::Null);
    if status != 200 {
        bail!("POST /oauth/token answered {status}: {body}");
    }
    str_field(&body, "access_token")
}

/// Creates `count` patients over `connections` connections; returns their ids.
async fn create_patients(
    addr: SocketAddr,
    token: &str,
    site: &str,
    count: usize,
    connections: usize,
) -> anyhow::Result<Vec<String>> {
    if count == 0 {
        bail!("--patients must be at least 1");
    }
    let auth = format!("Bearer {token}");
    let connections = connections.clamp(1, count);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let auth = auth.clone();
        let site = site.to_string();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut ids = Vec::new();
            for i in (c..count).step_by(connections) {
                let body = patient_body(i, &site).to_string();
                let request = http::request(
                    "POST",
                    addr,
                    "/api/v1/patients",
                    &[("Authorization", &auth)],
                    Some(("application/json", body.as_bytes())),
                );
                let status = conn.send(&request).await?;
                let reply: Value = serde_json::from_slice(conn.body()).unwrap_or(Value::Null);
                if status != 201 {
                    bail!("POST /api/v1/patients answered {status}: {reply}");
                }
                ids.push(str_field(&reply, "id")?);
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

fn patient_body(i: usize, site: &str) -> Value {
    const GIVEN: [&str; 8] = [
        "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Hiro",
    ];
    const FAMILY: [&str; 8] = [
        "Garcia", "Smith", "Nguyen", "Patel", "Kim", "Okafor", "Lopez", "Rossi",
    ];
    let sex = ["female", "male", "other", "unknown"][i % 4];
    json!({
        "mrn": format!("BENCH-{i:06}"),
        "given_name": GIVEN[i % GIVEN.len()],
        "family_name": FAMILY[(i / GIVEN.len()) % FAMILY.len()],
        "birth_date": format!("{}-{:02}-{:02}", 1940 + i % 70, 1 + i % 12, 1 + i % 28),
        "sex": sex,
        "email": format!("patient{i}@bench.example"),
        "phone": format!("+1 555 {:04}", i % 10_000),
        "address": {
            "line1": format!("{} Main Street", 1 + i % 999),
            "line2": null,
            "city": "Brooklyn",
            "state": "NY",
            "postal_code": "11201"
        },
        "preferred_language": "en",
        "primary_site_id": site
    })
}

/// `GET /api/v1/patients/{id}` for a random id; the requests are built once, up front.
struct Reads(Vec<Vec<u8>>);

impl Reads {
    fn new(addr: SocketAddr, token: &str, ids: &[String]) -> Self {
        let auth = format!("Bearer {token}");
        Self(
            ids.iter()
                .map(|id| {
                    http::request(
                        "GET",
                        addr,
                        &format!("/api/v1/patients/{id}"),
                        &[("Authorization", &auth)],
                        None,
                    )
                })
                .collect(),
        )
    }
}

impl Workload for Reads {
    fn next_request(&self, rng: &mut Rng) -> &[u8] {
        &self.0[rng.below(self.0.len())]
    }
}

/// The same request every time.
struct Fixed(Vec<u8>);

impl Workload for Fixed {
    fn next_request(&self, _: &mut Rng) -> &[u8] {
        &self.0
    }
}
