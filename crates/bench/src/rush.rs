//! The "8 a.m. rush": a clinic opens its calendar and hundreds of patients try to book at the
//! same minute, most of them after the same few popular slots.
//!
//! Seeding: 50 clinicians (CLI) with weekday hours over two weeks (API, bearer token), published
//! into exactly `slots` slots; `patients` patient accounts (API for the records, CLI for the
//! accounts), each signed in once. Then `patients` keep-alive connections, one per signed-in
//! patient, make `attempts` booking attempts in a closed loop: with probability `hot_share` an
//! attempt aims at one of the `hot` soonest slots, otherwise at the next slot nobody is known to
//! hold (a patient who gets `slot_taken` moves on, like a person picking another time). Every
//! attempt is timed. Afterwards, with the server stopped, the database itself is asked whether any
//! slot, clinician or patient is double-booked.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::http::{self, Conn};
use crate::load::{Outcome, Rng};
use crate::telemed::{Server, Telemed, cpu_time, machine_ticks};

const PASSWORD: &str = "rush-password-2026";
/// Booking days: two working weeks.
const DAYS: usize = 10;
const SLOT_MINUTES: usize = 30;

/// The shape of one rush.
#[derive(Debug, Clone)]
pub struct RushConfig {
    pub slots: usize,
    pub clinicians: usize,
    pub patients: usize,
    pub attempts: usize,
    pub hot: usize,
    pub hot_share: f64,
    pub stamp: u64,
}

/// What the database holds afterwards.
#[derive(Debug, Default)]
pub struct Verification {
    pub slots: i64,
    pub appointments: i64,
    pub slots_held_twice: i64,
    pub clinician_overlaps: i64,
    pub patient_overlaps: i64,
}

pub struct RushReport {
    pub outcome: Outcome,
    /// Latencies of the attempts that booked, and of those refused, in microseconds, sorted.
    pub booked_us: Vec<u32>,
    pub refused_us: Vec<u32>,
    pub booked: u64,
    pub slot_taken: u64,
    pub patient_double_booked: u64,
    pub server_cpu: Option<Duration>,
    pub machine_busy: Option<f64>,
    pub seeding: Duration,
    pub verification: Verification,
}

fn field(value: &Value, name: &str) -> anyhow::Result<String> {
    value[name]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("expected \"{name}\" in {value}"))
}

/// Sends one JSON request on a connection; fails on an unexpected status.
async fn call(conn: &mut Conn, request: Vec<u8>, expect: u16, what: &str) -> anyhow::Result<Value> {
    let status = conn.send(&request).await?;
    let body: Value = serde_json::from_slice(conn.body()).unwrap_or(Value::Null);
    if status != expect {
        bail!("{what} answered {status}: {body}");
    }
    Ok(body)
}

fn json_request(
    method: &str,
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Vec<u8> {
    let bytes = body.to_string();
    http::request(
        method,
        addr,
        path,
        headers,
        Some(("application/json", bytes.as_bytes())),
    )
}

/// Runs `job(i)` for `0..count` on `threads` threads (CLI processes, mostly), in order of `i`.
fn in_parallel<T: Send>(
    count: usize,
    threads: usize,
    job: impl Fn(usize) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    match job(i) {
                        Ok(v) => {
                            if let Ok(mut r) = results.lock() {
                                r[i] = Some(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a seeding thread panicked"))?
        .into_iter()
        .map(|r| r.context("a seeding job did not finish"))
        .collect()
}

/// The Monday that starts the booking fortnight: at least two days from now, so every slot is
/// in the future whatever the time zone.
fn first_monday() -> anyhow::Result<jiff::civil::Date> {
    #[allow(
        clippy::disallowed_methods,
        reason = "a benchmark run is dated by the machine's clock"
    )]
    let mut day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(2))?;
    while day.weekday() != jiff::civil::Weekday::Monday {
        day = day.checked_add(jiff::Span::new().days(1))?;
    }
    Ok(day)
}

/// What seeding made: the slots (id, start), the bookable visit type, the patients' sign-in emails.
pub struct Seeded {
    pub org: String,
    pub slots: Vec<(String, String)>,
    pub visit_type: String,
    pub emails: Vec<String>,
    pub elapsed: Duration,
}

pub async fn run(telemed: &Telemed, log: &Path, cfg: &RushConfig) -> anyhow::Result<RushReport> {
    let seeded = seed(telemed, log, cfg).await?;
    // Everyone signs in before the clinic opens its calendar.
    let server = telemed.serve(log).await?;
    let sessions = sign_in(server.addr, &seeded.emails).await?;
    println!(
        "rush: {} patients signed in; the rush starts",
        sessions.len()
    );
    let outcome = rush(
        server.addr,
        sessions,
        &seeded.slots,
        &seeded.visit_type,
        cfg,
        &server,
    )
    .await?;
    server.stop()?;
    let verification = verify(&telemed.database_url, &seeded.org).await?;
    Ok(RushReport {
        seeding: seeded.elapsed,
        verification,
        ..outcome
    })
}

/// Signs every patient in, one keep-alive connection each: (connection, cookie, CSRF token).
pub async fn sign_in(
    addr: std::net::SocketAddr,
    emails: &[String],
) -> anyhow::Result<Vec<(Conn, String, String)>> {
    let mut sessions = Vec::with_capacity(emails.len());
    for email in emails {
        let mut conn = Conn::open(addr).await?;
        let body = json!({ "email": email, "password": PASSWORD });
        let answer = call(
            &mut conn,
            json_request("POST", addr, "/api/v1/session", &[], &body),
            200,
            "POST session",
        )
        .await?;
        let cookie = conn.cookie().context("sign-in set no cookie")?.to_string();
        sessions.push((conn, cookie, field(&answer, "csrf_token")?));
    }
    Ok(sessions)
}

/// Seeds the organization, clinicians, their published slots and the patients' accounts; the
/// server is stopped afterwards.
pub async fn seed(telemed: &Telemed, log: &Path, cfg: &RushConfig) -> anyhow::Result<Seeded> {
    if cfg.clinicians == 0 || !cfg.slots.is_multiple_of(cfg.clinicians * DAYS) {
        bail!(
            "--rush-slots must be a multiple of {DAYS} x --rush-clinicians (each clinician works {DAYS} days)"
        );
    }
    let per_day = cfg.slots / cfg.clinicians / DAYS;
    if !(1..=28).contains(&per_day) {
        bail!(
            "each clinician would have {per_day} slots a day; between 1 and 28 fit in a day from 08:00"
        );
    }
    if cfg.patients == 0 || cfg.hot == 0 || cfg.hot > cfg.slots {
        bail!(
            "--rush-patients and --rush-hot must be at least 1, and --rush-hot at most --rush-slots"
        );
    }
    let started = Instant::now();
    let org = field(
        &telemed.run_json(&[
            "org",
            "create",
            "--name",
            &format!("Rush {}", cfg.stamp),
            "--json",
        ])?,
        "id",
    )?;
    let site = field(
        &telemed.run_json(&[
            "site",
            "create",
            "--org",
            &org,
            "--name",
            "Rush Clinic",
            "--state",
            "NY",
            "--time-zone",
            "America/New_York",
            "--json",
        ])?,
        "id",
    )?;
    let client = telemed.run_json(&[
        "client",
        "create",
        "--org",
        &org,
        "--name",
        "rush",
        "--scope",
        "system/*.read system/*.write",
        "--json",
    ])?;
    let visit_type = field(
        &telemed.run_json(&[
            "visit-type",
            "create",
            "--org",
            &org,
            "--name",
            "Video visit",
            "--service-line",
            "primary_care",
            "--modality",
            "video",
            "--minutes",
            "20",
            "--patient-bookable",
            "--json",
        ])?,
        "id",
    )?;
    let clinicians = in_parallel(cfg.clinicians, 4, |i| {
        let email = format!("clinician{i}.{}@rush.example", cfg.stamp);
        field(
            &telemed.run_json(&[
                "user",
                "create",
                "--org",
                &org,
                "--role",
                "clinician",
                "--email",
                &email,
                "--password",
                PASSWORD,
                "--site",
                &site,
                "--npi",
                "1234567893",
                "--license",
                "NY:NY-1:2030-12-31",
                "--json",
            ])?,
            "id",
        )
    })?;

    // Weekly hours over exactly two weeks, published as they are added; then the patients' records.
    let server = telemed.serve(log).await?;
    let token = crate::fetch_token(
        server.addr,
        &field(&client, "client_id")?,
        &field(&client, "client_secret")?,
    )
    .await?;
    let auth = format!("Bearer {token}");
    let monday = first_monday()?;
    let last_friday = monday.checked_add(jiff::Span::new().days(11))?;
    let end_minutes = 8 * 60 + per_day * SLOT_MINUTES;
    let end_time = format!("{:02}:{:02}", end_minutes / 60, end_minutes % 60);
    let mut conn = Conn::open(server.addr).await?;
    for c in &clinicians {
        for weekday in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
            let body = json!({
                "site_id": site, "weekday": weekday, "start_time": "08:00", "end_time": end_time,
                "slot_minutes": SLOT_MINUTES, "service_lines": ["primary_care"],
                "valid_from": monday.to_string(), "valid_until": last_friday.to_string()
            });
            let path = format!("/api/v1/clinicians/{c}/availability/templates");
            call(
                &mut conn,
                json_request(
                    "POST",
                    server.addr,
                    &path,
                    &[("Authorization", &auth)],
                    &body,
                ),
                201,
                "POST templates",
            )
            .await?;
        }
    }
    let mut slots: Vec<(String, String)> = Vec::with_capacity(cfg.slots);
    for c in &clinicians {
        let path =
            format!("/api/v1/slots?clinician_id={c}&from={monday}&to={last_friday}&limit=500");
        let found = call(
            &mut conn,
            http::request("GET", server.addr, &path, &[("Authorization", &auth)], None),
            200,
            "GET slots",
        )
        .await?;
        for s in found["slots"].as_array().into_iter().flatten() {
            slots.push((field(s, "id")?, field(s, "start")?));
        }
    }
    if slots.len() != cfg.slots {
        bail!("published {} slots, expected {}", slots.len(), cfg.slots);
    }
    let mut patient_ids = Vec::with_capacity(cfg.patients);
    for i in 0..cfg.patients {
        let mut body = crate::patient_body(i, &site);
        body["mrn"] = json!(format!("RUSH-{i:06}"));
        let created = call(
            &mut conn,
            json_request(
                "POST",
                server.addr,
                "/api/v1/patients",
                &[("Authorization", &auth)],
                &body,
            ),
            201,
            "POST patients",
        )
        .await?;
        patient_ids.push(field(&created, "id")?);
    }
    drop(conn);
    server.stop()?;
    let emails = in_parallel(cfg.patients, 4, |i| {
        let email = format!("patient{i}.{}@rush.example", cfg.stamp);
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
            &patient_ids[i],
            "--json",
        ])?;
        Ok(email)
    })?;
    let seeding = started.elapsed();
    println!(
        "rush: seeded {} clinicians, {} slots ({} to {}), {} patients in {:.1} s",
        clinicians.len(),
        slots.len(),
        monday,
        last_friday,
        emails.len(),
        seeding.as_secs_f64()
    );

    Ok(Seeded {
        org,
        slots,
        visit_type,
        emails,
        elapsed: seeding,
    })
}

/// What every connection shares: the attempt counter, and the slots not yet known to be taken.
struct Shared {
    next_attempt: AtomicUsize,
    open: Mutex<VecDeque<usize>>,
}

async fn rush(
    addr: std::net::SocketAddr,
    sessions: Vec<(Conn, String, String)>,
    slots: &[(String, String)],
    visit_type: &str,
    cfg: &RushConfig,
    server: &Server,
) -> anyhow::Result<RushReport> {
    // Popular slots are the soonest ones: everybody wants Monday morning.
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by(|a, b| slots[*a].1.cmp(&slots[*b].1).then(a.cmp(b)));
    let hot: Arc<Vec<usize>> = Arc::new(order[..cfg.hot].to_vec());
    let mut rng = Rng::new(cfg.stamp);
    let mut cold: Vec<usize> = (0..slots.len()).collect();
    for i in (1..cold.len()).rev() {
        cold.swap(i, rng.below(i + 1));
    }
    let shared = Arc::new(Shared {
        next_attempt: AtomicUsize::new(0),
        open: Mutex::new(cold.into()),
    });
    let slots: Arc<Vec<(String, String)>> = Arc::new(slots.to_vec());
    let visit_type = visit_type.to_string();
    let server_cpu = cpu_time(Some(server.pid()));
    let machine = machine_ticks();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, (mut conn, cookie, csrf)) in sessions.into_iter().enumerate() {
        let (shared, hot, slots, visit_type) = (
            shared.clone(),
            hot.clone(),
            slots.clone(),
            visit_type.clone(),
        );
        let (total, hot_share) = (cfg.attempts, cfg.hot_share);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(i as u64 + 7);
            let mut out = Outcome::default();
            let mut held_times: HashSet<String> = HashSet::new();
            let (mut booked, mut taken, mut double) = (0u64, 0u64, 0u64);
            let (mut booked_us, mut refused_us) = (Vec::new(), Vec::new());
            let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
            while shared.next_attempt.fetch_add(1, Ordering::Relaxed) < total {
                // A cold pick: the next open slot at a time this patient does not hold already.
                let cold_pick = if (rng.below(1000) as f64) < hot_share * 1000.0 {
                    None
                } else {
                    let mut open = shared.open.lock().map_err(|_| anyhow::anyhow!("lock"))?;
                    let position = open.iter().take(64).position(|s| !held_times.contains(&slots[*s].1));
                    position.and_then(|p| open.remove(p))
                };
                let slot = cold_pick.unwrap_or_else(|| hot[rng.below(hot.len())]);
                let body = json!({ "slot_id": slots[slot].0, "visit_type_id": visit_type, "consent_version": 1 });
                let request = json_request("POST", addr, "/api/v1/appointments", &headers, &body);
                let sent = Instant::now();
                let result = conn.send(&request).await;
                let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                out.latencies_us.push(micros);
                if matches!(result, Ok(201)) {
                    booked_us.push(micros);
                } else {
                    refused_us.push(micros);
                }
                let retry = match result {
                    Ok(201) => {
                        out.ok += 1;
                        booked += 1;
                        held_times.insert(slots[slot].1.clone());
                        false
                    }
                    Ok(status) => {
                        out.errors += 1;
                        let body = String::from_utf8_lossy(conn.body());
                        if status == 409 && body.contains("slot_taken") {
                            taken += 1;
                            false
                        } else if status == 409 && body.contains("patient_double_booked") {
                            double += 1;
                            true
                        } else {
                            if out.first_error.is_none() {
                                out.first_error = Some(format!("HTTP {status}: {}", body.chars().take(300).collect::<String>()));
                            }
                            true
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(format!("connection error: {e}"));
                        }
                        true
                    }
                };
                if retry && let Some(s) = cold_pick {
                    shared.open.lock().map_err(|_| anyhow::anyhow!("lock"))?.push_back(s);
                }
            }
            anyhow::Ok((out, booked, taken, double, booked_us, refused_us))
        }));
    }
    let mut total = Outcome::default();
    let (mut booked, mut taken, mut double) = (0, 0, 0);
    let (mut booked_us, mut refused_us) = (Vec::new(), Vec::new());
    for task in tasks {
        let (out, b, t, d, bu, ru) = task.await??;
        booked_us.extend(bu);
        refused_us.extend(ru);
        booked += b;
        taken += t;
        double += d;
        total.ok += out.ok;
        total.errors += out.errors;
        total.latencies_us.extend(out.latencies_us);
        if total.first_error.is_none() {
            total.first_error = out.first_error;
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    booked_us.sort_unstable();
    refused_us.sort_unstable();
    let server_cpu = match (server_cpu, cpu_time(Some(server.pid()))) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let machine_busy = match (machine, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    Ok(RushReport {
        outcome: total,
        booked_us,
        refused_us,
        booked,
        slot_taken: taken,
        patient_double_booked: double,
        server_cpu,
        machine_busy,
        seeding: Duration::ZERO,
        verification: Verification::default(),
    })
}

/// Asks the database (not the application) what it holds.
pub async fn verify(url: &str, org: &str) -> anyhow::Result<Verification> {
    let count = |sql: String| async move {
        store::testing::query_i64(url, &sql)
            .await
            .with_context(|| format!("verification query failed: {sql}"))
    };
    let live = "status NOT IN ('cancelled', 'no_show')";
    Ok(Verification {
        slots: count(format!("SELECT COUNT(*) FROM slots WHERE org_id = '{org}'")).await?,
        appointments: count(format!("SELECT COUNT(*) FROM appointments WHERE org_id = '{org}' AND {live}")).await?,
        slots_held_twice: count(format!(
            "SELECT COUNT(*) FROM (SELECT slot_id FROM appointments WHERE org_id = '{org}' AND status <> 'cancelled' \
             GROUP BY slot_id HAVING COUNT(*) > 1) twice"
        ))
        .await?,
        clinician_overlaps: count(format!(
            "SELECT COUNT(*) FROM appointments a JOIN appointments b ON a.clinician_id = b.clinician_id \
             AND a.id < b.id AND a.start_at < b.end_at AND b.start_at < a.end_at \
             WHERE a.org_id = '{org}' AND a.{live} AND b.{live}"
        ))
        .await?,
        patient_overlaps: count(format!(
            "SELECT COUNT(*) FROM appointments a JOIN appointments b ON a.patient_id = b.patient_id \
             AND a.id < b.id AND a.start_at < b.end_at AND b.start_at < a.end_at \
             WHERE a.org_id = '{org}' AND a.{live} AND b.{live}"
        ))
        .await?,
    })
}
