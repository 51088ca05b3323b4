//! Faults on purpose under a booking load (`--fault`): the server killed with SIGKILL in the middle
//! of the rush, PostgreSQL restarted under it, the SQLite disk filled up, `telemed backup` taken
//! while bookings are written.
//!
//! Every scenario seeds like the rush (`rush::seed`), signs the patients in, and lets each of them
//! book free slots in a closed loop over its own connection, reconnecting when the server goes
//! away. A ledger keeps every booking confirmed to a client (a 201 with the appointment's id);
//! afterwards the database itself is asked whether each one is there, whether any slot, clinician
//! or patient is booked twice, whether every appointment has its audit record, and whether
//! `telemed audit verify` passes. A lost or doubled booking, or a broken chain, fails the run.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

mod outage;

use crate::http::{self, Conn};
use crate::load::Rng;
use crate::rush::{self, RushConfig, Seeded};
use crate::telemed::{Server, Telemed};

/// Which fault to cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// `kill -9` of the server at a random moment of the booking load, then a restart.
    Crash,
    /// The database stopped and started again under load (`--db-stop-command`,
    /// `--db-start-command`); the server is never restarted.
    PgRestart,
    /// The SQLite database's file system filled up under load, then space given back.
    DiskFull,
    /// `telemed backup` while bookings are written; the copies are checked and the last one is
    /// restored.
    Backup,
    /// The server started on a read-only SQLite database (`--db-stop-command` makes it read-only
    /// while the server is stopped), then the database made writable again under load
    /// (`--db-start-command`), without a restart.
    ReadOnly,
}

pub struct FaultConfig {
    pub fault: Fault,
    pub runs: usize,
    /// How long the database stays away (pg-restart) or the disk stays full (disk-full).
    pub outage: Duration,
    pub db_stop: Option<String>,
    pub db_start: Option<String>,
    /// How long each patient waits between two attempts (keeps the load within the slots).
    pub think: Duration,
    pub rush: RushConfig,
}

/// Every answer the booking load got.
#[derive(Default)]
struct Ledger {
    /// Appointment ids confirmed with a 201, and when.
    confirmed: Mutex<Vec<(String, Instant)>>,
    /// Attempts whose answer never came (connection reset, refused, timed out): either may be true.
    unanswered: AtomicU64,
    attempts: AtomicU64,
    /// Answers other than 201 and the 409s of a normal rush, by status.
    other: Mutex<BTreeMap<u16, u64>>,
    first_other: Mutex<Option<String>>,
    /// Slots not known to be taken.
    open: Mutex<VecDeque<usize>>,
}

impl Ledger {
    fn confirmed_count(&self) -> usize {
        self.confirmed.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn confirmed_ids(&self) -> Vec<String> {
        self.confirmed
            .lock()
            .map(|c| c.iter().map(|(id, _)| id.clone()).collect())
            .unwrap_or_default()
    }

    fn first_confirmed_after(&self, at: Instant) -> Option<Instant> {
        self.confirmed
            .lock()
            .ok()?
            .iter()
            .map(|(_, t)| *t)
            .filter(|t| *t >= at)
            .min()
    }

    fn other(&self) -> BTreeMap<u16, u64> {
        self.other.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

/// The booking load: one task per signed-in patient.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

struct Booking {
    sessions: Vec<(String, String)>,
    slots: Arc<Vec<(String, String)>>,
    visit_type: String,
    ledger: Arc<Ledger>,
    think: Duration,
}

impl Booking {
    fn start(&self, addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (cookie, csrf) in self.sessions.clone() {
            let (stop, ledger, slots) = (stop.clone(), self.ledger.clone(), self.slots.clone());
            let patient = Patient {
                addr,
                cookie,
                csrf,
                slots,
                visit_type: self.visit_type.clone(),
                ledger,
                stop,
                think: self.think,
            };
            tasks.push(tokio::spawn(book(patient)));
        }
        Load { stop, tasks }
    }
}

/// What one booking patient's task holds.
struct Patient {
    addr: SocketAddr,
    cookie: String,
    csrf: String,
    slots: Arc<Vec<(String, String)>>,
    visit_type: String,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
    think: Duration,
}

/// One patient booking the next open slot at a time they do not hold, until told to stop.
async fn book(patient: Patient) {
    let Patient {
        addr,
        cookie,
        csrf,
        slots,
        visit_type,
        ledger,
        stop,
        think,
    } = patient;
    let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let mut held: HashSet<String> = HashSet::new();
    let mut conn: Option<Conn> = None;
    let pause = || tokio::time::sleep(Duration::from_millis(50));
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match tokio::time::timeout(Duration::from_secs(2), Conn::open(addr)).await {
                Ok(Ok(c)) => conn = Some(c),
                _ => pause().await,
            }
            continue;
        };
        let pick = ledger.open.lock().ok().and_then(|mut open| {
            let position = open
                .iter()
                .take(64)
                .position(|s| !held.contains(&slots[*s].1));
            position.and_then(|p| open.remove(p))
        });
        let Some(slot) = pick else {
            pause().await;
            continue;
        };
        let body =
            json!({ "slot_id": slots[slot].0, "visit_type_id": visit_type, "consent_version": 1 })
                .to_string();
        let request = http::request(
            "POST",
            addr,
            "/api/v1/appointments",
            &headers,
            Some(("application/json", body.as_bytes())),
        );
        ledger.attempts.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(Duration::from_secs(10), c.send(&request)).await;
        let give_back = match answer {
            Ok(Ok(201)) => {
                let reply: Value = serde_json::from_slice(c.body()).unwrap_or(Value::Null);
                match reply["id"].as_str() {
                    Some(id) => {
                        if let Ok(mut confirmed) = ledger.confirmed.lock() {
                            confirmed.push((id.to_string(), Instant::now()));
                        }
                        held.insert(slots[slot].1.clone());
                    }
                    None => note_other(&ledger, 201, "a 201 without an appointment id"),
                }
                false
            }
            Ok(Ok(409)) if String::from_utf8_lossy(c.body()).contains("slot_taken") => false,
            Ok(Ok(409)) if String::from_utf8_lossy(c.body()).contains("patient_double_booked") => {
                true
            }
            Ok(Ok(status)) => {
                note_other(&ledger, status, &String::from_utf8_lossy(c.body()));
                pause().await;
                true
            }
            Ok(Err(_)) | Err(_) => {
                ledger.unanswered.fetch_add(1, Ordering::Relaxed);
                conn = None;
                pause().await;
                true
            }
        };
        if give_back && let Ok(mut open) = ledger.open.lock() {
            open.push_back(slot);
        }
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
    }
}

fn note_other(ledger: &Ledger, status: u16, body: &str) {
    if let Ok(mut other) = ledger.other.lock() {
        *other.entry(status).or_default() += 1;
    }
    if let Ok(mut first) = ledger.first_other.lock()
        && first.is_none()
    {
        *first = Some(format!(
            "HTTP {status}: {}",
            body.chars().take(300).collect::<String>()
        ));
    }
}

/// What the database holds, checked against the ledger.
struct Check {
    confirmed: usize,
    lost: usize,
    doubled: i64,
    unaudited: i64,
    appointments: i64,
    audit_records: u64,
}

/// Asks the database at `url` (the server's, or a copy) about the confirmed bookings `ids`.
async fn check(telemed: &Telemed, url: &str, org: &str, ids: &[String]) -> anyhow::Result<Check> {
    let mut present = 0i64;
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(|id| format!("'{id}'"))
            .collect::<Vec<_>>()
            .join(",");
        present += store::testing::query_i64(
            url,
            &format!(
                "SELECT COUNT(*) FROM appointments WHERE status <> 'cancelled' AND id IN ({list})"
            ),
        )
        .await
        .context("counting confirmed bookings")?;
    }
    let v = rush::verify(url, org).await?;
    let unaudited = store::testing::query_i64(
        url,
        &format!(
            "SELECT COUNT(*) FROM appointments a WHERE a.org_id = '{org}' \
             AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.resource_id = a.id)"
        ),
    )
    .await?;
    let on_copy = Telemed {
        database_url: url.to_string(),
        ..telemed.clone()
    };
    let audit_records = tokio::task::spawn_blocking(move || on_copy.audit_records()).await??;
    Ok(Check {
        confirmed: ids.len(),
        lost: ids.len().saturating_sub(present as usize),
        doubled: v.slots_held_twice + v.clinician_overlaps + v.patient_overlaps,
        unaudited,
        appointments: v.appointments,
        audit_records,
    })
}

impl Check {
    fn failed(&self) -> bool {
        self.lost > 0 || self.doubled > 0 || self.unaudited > 0
    }

    fn line(&self) -> String {
        format!(
            "confirmed {}, lost {}, doubled {}, appointments {}, without an audit record {}, audit verify ok ({} records)",
            self.confirmed,
            self.lost,
            self.doubled,
            self.appointments,
            self.unaudited,
            self.audit_records
        )
    }
}

/// Runs a shell command (the database's stop or start) off the load's thread.
async fn shell(command: &str) -> anyhow::Result<()> {
    let owned = command.to_string();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &owned])
            .status()
    })
    .await??;
    if !status.success() {
        bail!("`{command}` failed ({status})");
    }
    Ok(())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

pub async fn run(telemed: &Telemed, log: &Path, cfg: &FaultConfig) -> anyhow::Result<()> {
    let seeded = rush::seed(telemed, log, &cfg.rush).await?;
    let server = telemed.serve(log).await?;
    let sessions = rush::sign_in(server.addr, &seeded.emails)
        .await?
        .into_iter()
        .map(|(_, cookie, csrf)| (cookie, csrf))
        .collect();
    let mut rng = Rng::new(cfg.rush.stamp);
    let mut open: Vec<usize> = (0..seeded.slots.len()).collect();
    for i in (1..open.len()).rev() {
        open.swap(i, rng.below(i + 1));
    }
    let ledger = Arc::new(Ledger {
        open: Mutex::new(open.into()),
        ..Ledger::default()
    });
    let booking = Booking {
        sessions,
        slots: Arc::new(seeded.slots.clone()),
        visit_type: seeded.visit_type.clone(),
        ledger,
        think: cfg.think,
    };
    println!(
        "fault {:?}: {} patients signed in, {} slots open; {} runs",
        cfg.fault,
        booking.sessions.len(),
        seeded.slots.len(),
        cfg.runs
    );
    match cfg.fault {
        Fault::Crash => crash(telemed, log, cfg, &seeded, booking, server, rng).await,
        Fault::PgRestart => outage::pg_restart(telemed, cfg, &seeded, booking, server).await,
        Fault::DiskFull => outage::disk_full(telemed, log, cfg, &seeded, booking, server).await,
        Fault::Backup => backup(telemed, log, cfg, &seeded, booking, server).await,
        Fault::ReadOnly => outage::read_only(telemed, log, cfg, &seeded, booking, server).await,
    }
}

async fn crash(
    telemed: &Telemed,
    log: &Path,
    cfg: &FaultConfig,
    seeded: &Seeded,
    booking: Booking,
    mut server: Server,
    mut rng: Rng,
) -> anyhow::Result<()> {
    let ledger = booking.ledger.clone();
    let mut recoveries = Vec::new();
    let mut unanswered_total = 0;
    for run in 1..=cfg.runs {
        let before = ledger.confirmed_count();
        let unanswered_before = ledger.unanswered.load(Ordering::Relaxed);
        let load = booking.start(server.addr);
        let after = Duration::from_millis(200 + rng.below(1300) as u64);
        tokio::time::sleep(after).await;
        let killed = Instant::now();
        server.kill()?;
        load.stop().await;
        server = telemed.serve(log).await?;
        let recovered = killed.elapsed();
        recoveries.push(recovered);
        let unanswered = ledger.unanswered.load(Ordering::Relaxed) - unanswered_before;
        unanswered_total += unanswered;
        let check = check(
            telemed,
            &telemed.database_url,
            &seeded.org,
            &ledger.confirmed_ids(),
        )
        .await?;
        let open = ledger.open.lock().map(|o| o.len()).unwrap_or(0);
        println!(
            "crash run {run}: killed after {} ms of load, {} bookings confirmed in the run, {unanswered} unanswered at the kill; ready again {} ms after the kill; {}; {open} slots still open",
            ms(after),
            ledger.confirmed_count() - before,
            ms(recovered),
            check.line()
        );
        if check.failed() {
            bail!("crash run {run}: {}", check.line());
        }
    }
    server.stop()?;
    recoveries.sort();
    println!(
        "crash summary: {} runs, {} bookings confirmed, 0 lost, 0 doubled, {} attempts unanswered at a kill, kill to ready {} to {} ms (median {} ms); other answers {:?}",
        cfg.runs,
        ledger.confirmed_count(),
        unanswered_total,
        recoveries.first().map_or(0, |d| ms(*d)),
        recoveries.last().map_or(0, |d| ms(*d)),
        recoveries.get(recoveries.len() / 2).map_or(0, |d| ms(*d)),
        ledger.other()
    );
    Ok(())
}

async fn backup(
    telemed: &Telemed,
    log: &Path,
    cfg: &FaultConfig,
    seeded: &Seeded,
    booking: Booking,
    server: Server,
) -> anyhow::Result<()> {
    let db = telemed
        .database_url
        .strip_prefix("sqlite://")
        .context("--fault backup runs on SQLite (PostgreSQL is backed up with pg_dump)")?
        .to_string();
    let dir = Path::new(&db)
        .parent()
        .context("the database has no directory")?
        .to_path_buf();
    let ledger = booking.ledger.clone();
    let load = booking.start(server.addr);
    let mut last = None;
    for run in 1..=cfg.runs {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = ledger.confirmed_ids();
        let copy = dir.join(format!("backup-{run}.db"));
        let started = Instant::now();
        let to = copy.display().to_string();
        let t = telemed.clone();
        tokio::task::spawn_blocking(move || t.run(&["backup", "--to", &to])).await??;
        let took = started.elapsed();
        let during = ledger.confirmed_count() - before.len();
        let url = format!("sqlite://{}", copy.display());
        let check = check(telemed, &url, &seeded.org, &before).await?;
        let size = std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0);
        println!(
            "backup run {run}: {} MiB copy in {} ms while {during} more bookings were confirmed; on the copy: {}",
            size / (1 << 20),
            ms(took),
            check.line()
        );
        if check.failed() {
            bail!("backup run {run}: {}", check.line());
        }
        last = Some((copy, before));
    }
    load.stop().await;
    let confirmed = ledger.confirmed_ids();
    server.stop()?;
    let (copy, before) = last.context("no backup was taken")?;

    // The restore of docs/reliability.md: the server stopped, the database and its -wal and -shm
    // files replaced by the copy, the server started.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    std::fs::copy(&copy, &db)?;
    let started = Instant::now();
    let server = telemed.serve(log).await?;
    let ready = started.elapsed();
    let check = check(telemed, &telemed.database_url, &seeded.org, &before).await?;
    // A booking on the restored database, by a patient whose session was in the copy.
    let sessions = rush::sign_in(server.addr, &seeded.emails[..1]).await?;
    let restored = Booking {
        sessions: sessions.into_iter().map(|(_, c, s)| (c, s)).collect(),
        slots: booking.slots.clone(),
        visit_type: booking.visit_type.clone(),
        ledger: Arc::new(Ledger {
            open: Mutex::new((0..booking.slots.len()).collect()),
            ..Ledger::default()
        }),
        think: booking.think,
    };
    let load = restored.start(server.addr);
    let booked = outage::until(Instant::now(), || restored.ledger.confirmed_count() > 0).await;
    load.stop().await;
    server.stop()?;
    println!(
        "restore: the last copy in place of the database, ready in {} ms; {} of the {} bookings confirmed by then are not in it (taken after the copy began); first new booking after {} ms; {}",
        ms(ready),
        confirmed.len() - before.len(),
        confirmed.len(),
        booked.map_or("never".into(), |d| ms(d).to_string()),
        check.line()
    );
    if check.failed() || booked.is_none() {
        bail!("restore: a check failed");
    }
    Ok(())
}
