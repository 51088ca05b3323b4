//! Live signaling: how fast `telemed` relays a message between a visit's two participants, and
//! what one server pays in memory for each patient waiting in a waiting room.
//!
//! Seeding writes straight through the store (the same one `telemed` uses): one organization,
//! 100 clinicians, one patient account per visit, each visit checked in (waiting) with a session
//! for its patient and clinician; the visits of the latency pairs are admitted. Then:
//! - relay latency: each pair opens two WebSocket clients (patient, clinician); the patient sends
//!   a `signal` with a 1 KiB payload, the clinician's client echoes it back as its own `signal`,
//!   and the patient times the round trip (client -> server -> peer -> server -> client). One
//!   pair, then all pairs at once; with PostgreSQL also with the clinician on a second server.
//! - idle memory: a fresh server; its resident memory before, and after `idle` patients opened
//!   their waiting room (each received its `welcome` and `state`) and went quiet.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::identity::*;
use domain::ids::*;
use domain::scheduling::*;
use domain::store::{NewUser, SessionRecord};
use domain::visits::{AppointmentStep, Visit, VisitChange, VisitLogEntry, VisitState};
use domain::{Clock, Store, SystemClock};
use futures_util::{SinkExt, StreamExt};
use jiff::SignedDuration;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::telemed::{Server, Telemed};

const CLINICIANS: usize = 100;

#[derive(Debug, Clone)]
pub struct SignalingConfig {
    /// Waiting patients connected at once for the memory measure.
    pub idle: usize,
    /// Pairs relaying at once (the latency measure also runs one pair alone).
    pub pairs: usize,
    /// Measured round trips per pair (after 200 unmeasured ones).
    pub round_trips: usize,
    pub payload_bytes: usize,
}

/// One visit's two participants.
#[derive(Debug, Clone)]
struct Seat {
    visit: AppointmentId,
    patient_cookie: String,
    clinician_cookie: String,
}

pub struct LatencyRow {
    pub label: String,
    pub pairs: usize,
    /// Sorted round trips in nanoseconds.
    pub round_trips_ns: Vec<u64>,
    pub elapsed: Duration,
}

impl LatencyRow {
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.round_trips_ns.is_empty() {
            return 0.0;
        }
        let i = ((self.round_trips_ns.len() - 1) as f64 * q).round() as usize;
        self.round_trips_ns[i] as f64 / 1e6
    }

    pub fn per_second(&self) -> f64 {
        self.round_trips_ns.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub struct MemoryReport {
    pub connections: usize,
    pub before_kib: u64,
    pub after_kib: u64,
    pub open_seconds: f64,
}

impl MemoryReport {
    pub fn per_connection_bytes(&self) -> f64 {
        (self.after_kib.saturating_sub(self.before_kib) * 1024) as f64
            / self.connections.max(1) as f64
    }
}

pub struct SignalingReport {
    pub seeding: Duration,
    pub latency: Vec<LatencyRow>,
    pub memory: Option<MemoryReport>,
}

fn operator(action: AuditAction, org: OrgId) -> AuditEntry {
    AuditEntry::new(SystemClock.now(), AuditActor::Operator, action, "Bench").org(org)
}

fn ny() -> anyhow::Result<UsState> {
    Ok(UsState::parse("state", "NY")?)
}

/// A session for `user`: the cookie value (its token) and its record.
fn session(user: &User, n: usize, stamp: u64) -> (String, SessionRecord) {
    let token = format!("bench-{stamp}-{n}-{}", UserId::new());
    let now = SystemClock.now();
    let record = SessionRecord {
        token_hash: sha256_hex(&token),
        user_id: user.id,
        org_id: user.org_id,
        mfa_pending: false,
        csrf_token: "bench".into(),
        created_at: now,
        last_seen_at: now,
        source_ip: None,
    };
    (token, record)
}

fn sha256_hex(value: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Seeds `visits` checked-in video visits; the first `admitted` of them are let in.
async fn seed(
    store: Arc<dyn Store>,
    visits: usize,
    admitted: usize,
    stamp: u64,
) -> anyhow::Result<Vec<Seat>> {
    let now = SystemClock.now();
    let org = Organization {
        id: OrgId::new(),
        name: format!("Signaling bench {stamp}"),
        created_at: now,
    };
    store
        .create_org(&org, operator(AuditAction::OrgCreate, org.id))
        .await?;
    let site = Site {
        id: SiteId::new(),
        org_id: org.id,
        name: "Main".into(),
        state: ny()?,
        time_zone: TimeZoneName::parse("tz", "America/New_York")?,
        created_at: now,
    };
    store
        .create_site(&site, operator(AuditAction::SiteCreate, org.id))
        .await?;
    let visit_type = VisitType {
        id: VisitTypeId::new(),
        org_id: org.id,
        name: "Video visit".into(),
        service_line: ServiceLine::PrimaryCare,
        modality: Modality::Video,
        patient_kind: PatientKind::Any,
        duration_minutes: 20,
        patient_bookable: true,
        active: true,
        created_at: now,
    };
    store
        .create_visit_type(&visit_type, operator(AuditAction::VisitTypeCreate, org.id))
        .await?;
    let user = |email: String, role: Role, patient: Option<PatientId>| -> anyhow::Result<User> {
        Ok(User {
            id: UserId::new(),
            org_id: org.id,
            email: Email::parse("email", &email)?,
            display_name: email.clone(),
            role,
            site_ids: vec![site.id],
            patient_id: patient,
            clinician: (role == Role::Clinician).then(|| ClinicianProfile {
                npi: "1234567893".into(),
                specialties: vec!["family medicine".into()],
                languages: vec!["en".into()],
                licenses: vec![StateLicense {
                    state: site.state,
                    number: "N-1".into(),
                    expires_on: jiff::civil::date(2099, 1, 1),
                }],
            }),
            active: true,
            created_at: now,
        })
    };
    let add_user = |u: User| {
        let store = store.clone();
        async move {
            let new = NewUser {
                user: u,
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bench$bench".into(),
                totp_secret: None,
            };
            store
                .create_user(&new, operator(AuditAction::UserCreate, new.user.org_id))
                .await
        }
    };
    let mut clinicians = Vec::new();
    let mut clinician_cookies = Vec::new();
    for c in 0..CLINICIANS {
        let u = user(
            format!("dr{c}.{stamp}@bench.example"),
            Role::Clinician,
            None,
        )?;
        add_user(u.clone()).await?;
        let (cookie, record) = session(&u, c, stamp);
        store.create_session(&record).await?;
        clinicians.push(u);
        clinician_cookies.push(cookie);
    }
    // The visits start within the hour, a slot per clinician every 20 minutes.
    let first_start = now.checked_add(SignedDuration::from_mins(5))?;
    let mut seats = Vec::with_capacity(visits);
    let mut slots = Vec::with_capacity(visits);
    for i in 0..visits {
        let start =
            first_start.checked_add(SignedDuration::from_mins(20 * (i / CLINICIANS) as i64))?;
        slots.push(Slot {
            id: SlotId::new(),
            org_id: org.id,
            clinician_id: clinicians[i % CLINICIANS].id,
            site_id: site.id,
            start_at: start,
            end_at: start.checked_add(SignedDuration::from_mins(20))?,
            service_lines: ServiceLines::of(&[ServiceLine::PrimaryCare]),
            template_id: None,
            exception_id: None,
            withdrawn: false,
            created_at: now,
        });
    }
    for chunk in slots.chunks(1000) {
        store
            .publish_slots(chunk, operator(AuditAction::SlotsPublish, org.id))
            .await?;
    }
    for (i, slot) in slots.iter().enumerate() {
        let p = Patient {
            id: PatientId::new(),
            org_id: org.id,
            mrn: format!("B{stamp}-{i}"),
            given_name: "Pat".into(),
            family_name: format!("Ient{i}"),
            birth_date: jiff::civil::date(1980, 1, 1),
            sex: Sex::Female,
            email: None,
            phone: None,
            address: Address {
                line1: "1 Main St".into(),
                line2: None,
                city: "Albany".into(),
                state: site.state,
                postal_code: "12207".into(),
            },
            preferred_language: "en".into(),
            primary_site_id: site.id,
            created_at: now,
            updated_at: now,
        };
        store
            .create_patient(
                &p,
                operator(AuditAction::PatientCreate, org.id).patient(p.id),
            )
            .await?;
        let account = user(
            format!("p{i}.{stamp}@bench.example"),
            Role::Patient,
            Some(p.id),
        )?;
        add_user(account.clone()).await?;
        let (cookie, record) = session(&account, CLINICIANS + i, stamp);
        store.create_session(&record).await?;
        let a = Appointment {
            id: AppointmentId::new(),
            org_id: org.id,
            patient_id: p.id,
            clinician_id: slot.clinician_id,
            site_id: site.id,
            slot_id: Some(slot.id),
            visit_type_id: visit_type.id,
            service_line: ServiceLine::PrimaryCare,
            modality: Modality::Video,
            start_at: slot.start_at,
            end_at: slot.end_at,
            patient_state: site.state,
            status: AppointmentStatus::Booked,
            reason: None,
            late_cancellation: false,
            cancel_reason: None,
            created_at: now,
            updated_at: now,
        };
        let event = |from: Option<AppointmentStatus>, to, action| AppointmentEvent {
            id: AppointmentEventId::new(),
            appointment_id: a.id,
            at: now,
            action,
            from_status: from,
            to_status: to,
            actor: AuditActor::Operator,
            detail: Some("bench".into()),
        };
        store
            .book(NewBooking {
                appointment: a.clone(),
                event: event(None, AppointmentStatus::Booked, AppointmentAction::Book),
                consent: None,
                audit: vec![operator(AuditAction::AppointmentCreate, org.id)],
            })
            .await?;
        let check_in = StatusChange {
            org_id: org.id,
            appointment_id: a.id,
            from: AppointmentStatus::Booked,
            to: AppointmentStatus::CheckedIn,
            at: now,
            late_cancellation: false,
            cancel_reason: None,
            patient_state: Some(site.state),
            end_at: None,
            consent: None,
            event: event(
                Some(AppointmentStatus::Booked),
                AppointmentStatus::CheckedIn,
                AppointmentAction::CheckIn,
            ),
            audit: vec![operator(AuditAction::AppointmentChange, org.id)],
        };
        let visit = Visit {
            appointment_id: a.id,
            org_id: org.id,
            site_id: site.id,
            clinician_id: a.clinician_id,
            patient_id: p.id,
            state: VisitState::Waiting,
            outcome: None,
            modality: Modality::Video,
            audio_only: false,
            audio_only_used: false,
            location_state: site.state,
            location_text: "home".into(),
            questionnaire: None,
            checked_in_at: now,
            admitted_at: None,
            started_at: None,
            ended_at: None,
            drops: 0,
            updated_at: now,
        };
        let log = |kind: &str| VisitLogEntry {
            id: VisitEventId::new(),
            appointment_id: a.id,
            at: now,
            kind: kind.into(),
            actor: AuditActor::Operator,
            detail: None,
        };
        if !store
            .open_visit(check_in, &visit, log("checked_in"))
            .await?
        {
            bail!("seeding: visit {i} was not opened");
        }
        if i < admitted {
            let admit = VisitChange {
                org_id: org.id,
                appointment_id: a.id,
                from: VisitState::Waiting,
                to: VisitState::Admitted,
                at: now,
                outcome: None,
                appointment: vec![AppointmentStep {
                    from: AppointmentStatus::CheckedIn,
                    to: AppointmentStatus::InVisit,
                    event: event(
                        Some(AppointmentStatus::CheckedIn),
                        AppointmentStatus::InVisit,
                        AppointmentAction::Start,
                    ),
                    end_at: None,
                }],
                log: log("admitted"),
                audit: vec![operator(AuditAction::VisitChange, org.id)],
            };
            if !store.change_visit(admit).await? {
                bail!("seeding: visit {i} was not admitted");
            }
        }
        seats.push(Seat {
            visit: a.id,
            patient_cookie: cookie,
            clinician_cookie: clinician_cookies[i % CLINICIANS].clone(),
        });
    }
    Ok(seats)
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(
    addr: std::net::SocketAddr,
    visit: AppointmentId,
    cookie: &str,
) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{addr}/api/v1/visits/{visit}/live").into_client_request()?;
    request
        .headers_mut()
        .insert("cookie", format!("telemed_session={cookie}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .with_context(|| format!("opening visit {visit}'s live connection"))?;
    Ok(socket)
}

/// Reads frames until one of type `kind` satisfying `wanted`.
async fn until(
    socket: &mut Socket,
    kind: &str,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, socket.next())
            .await
            .with_context(|| format!("no '{kind}' frame within 30 s"))?;
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(text.as_str())?;
                if value["type"] == kind && wanted(&value) {
                    return Ok(value);
                }
            }
            Some(Ok(_)) => {}
            other => bail!("the connection ended waiting for '{kind}': {other:?}"),
        }
    }
}

fn has_peers(v: &Value) -> bool {
    v["peers"].as_array().is_some_and(|p| !p.is_empty())
}

/// One pair's round trips: the patient on `patient_addr`, the clinician on `clinician_addr`.
async fn pair(
    patient_addr: std::net::SocketAddr,
    clinician_addr: std::net::SocketAddr,
    seat: Seat,
    warmup: usize,
    measured: usize,
    payload: usize,
) -> anyhow::Result<Vec<u64>> {
    let mut patient = connect(patient_addr, seat.visit, &seat.patient_cookie).await?;
    let mut clinician = connect(clinician_addr, seat.visit, &seat.clinician_cookie).await?;
    let me = until(&mut patient, "welcome", |_| true).await?;
    let me = me["you"]["peer"]
        .as_str()
        .context("welcome without a peer id")?
        .to_string();
    let peers = until(&mut patient, "peers", has_peers).await?;
    let them = peers["peers"][0]["peer"]
        .as_str()
        .context("peer id")?
        .to_string();
    until(&mut clinician, "peers", has_peers).await?;
    // The clinician's client echoes every signal back to its sender.
    let echo = tokio::spawn(async move {
        while let Some(Ok(frame)) = clinician.next().await {
            let Message::Text(text) = frame else { continue };
            let text = text.as_str();
            if !text.starts_with(r#"{"type":"signal""#) {
                continue;
            }
            let Some(at) = text.find(r#""data":"#) else {
                continue;
            };
            let data = &text[at + 7..text.len() - 1];
            let reply = format!(r#"{{"type":"signal","to":"{me}","data":{data}}}"#);
            if clinician.send(Message::text(reply)).await.is_err() {
                break;
            }
        }
    });
    let frame = format!(
        r#"{{"type":"signal","to":"{them}","data":{{"candidate":{{"pad":"{}"}}}}}}"#,
        "x".repeat(payload)
    );
    let mut times = Vec::with_capacity(measured);
    for i in 0..warmup + measured {
        let started = Instant::now();
        patient.send(Message::text(frame.clone())).await?;
        loop {
            match patient.next().await {
                Some(Ok(Message::Text(text)))
                    if text.as_str().starts_with(r#"{"type":"signal""#) =>
                {
                    break;
                }
                Some(Ok(_)) => {}
                other => bail!("the patient's connection ended: {other:?}"),
            }
        }
        if i >= warmup {
            times.push(started.elapsed().as_nanos() as u64);
        }
    }
    echo.abort();
    Ok(times)
}

async fn latency(
    label: &str,
    patient_addr: std::net::SocketAddr,
    clinician_addr: std::net::SocketAddr,
    seats: &[Seat],
    cfg: &SignalingConfig,
) -> anyhow::Result<LatencyRow> {
    let started = Instant::now();
    let tasks: Vec<_> = seats
        .iter()
        .cloned()
        .map(|seat| {
            tokio::spawn(pair(
                patient_addr,
                clinician_addr,
                seat,
                200,
                cfg.round_trips,
                cfg.payload_bytes,
            ))
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_unstable();
    Ok(LatencyRow {
        label: label.into(),
        pairs: seats.len(),
        round_trips_ns: all,
        elapsed: started.elapsed(),
    })
}

/// Resident anonymous memory of a process (its heap and stacks), in KiB. Not all of VmRSS: the
/// SQLite file is memory-mapped, and the pages read from it count as resident file pages,
/// which are the kernel's page cache rather than the server's memory.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn idle_memory(server: &Server, seats: &[Seat]) -> anyhow::Result<MemoryReport> {
    // Settle: one connection opened and closed, so first-use allocations are in the baseline.
    if let Some(first) = seats.first() {
        let mut s = connect(server.addr, first.visit, &first.patient_cookie).await?;
        until(&mut s, "state", |_| true).await?;
        drop(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss_kib(server.pid()).context("reading the server's memory")?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(seats.len());
    for batch in seats.chunks(250) {
        let opened: Vec<_> = batch
            .iter()
            .cloned()
            .map(|seat| {
                let addr = server.addr;
                tokio::spawn(async move {
                    let mut s = connect(addr, seat.visit, &seat.patient_cookie).await?;
                    until(&mut s, "welcome", |_| true).await?;
                    // The state with the estimate: the server is done with this patient.
                    until(&mut s, "state", |v| v["visit"]["wait_minutes"].is_i64()).await?;
                    Ok::<_, anyhow::Error>(s)
                })
            })
            .collect();
        for o in opened {
            held.push(o.await??);
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    // TELEMED_BENCH_HOLD_SECONDS keeps the connections open longer, to look at the server meanwhile.
    let hold = std::env::var("TELEMED_BENCH_HOLD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = rss_kib(server.pid()).context("reading the server's memory")?;
    let report = MemoryReport {
        connections: held.len(),
        before_kib: before,
        after_kib: after,
        open_seconds,
    };
    drop(held);
    Ok(report)
}

pub async fn run(
    telemed: &Telemed,
    log: &Path,
    backend: &str,
    cfg: &SignalingConfig,
    stamp: u64,
) -> anyhow::Result<SignalingReport> {
    let started = Instant::now();
    let url = telemed.database_url.clone();
    let total = cfg.idle + cfg.pairs;
    let pairs = cfg.pairs;
    // Seeding in a runtime of its own: the bench's runtime is single-threaded.
    let seats = std::thread::spawn(move || -> anyhow::Result<Vec<Seat>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let store: Arc<dyn Store> = ::store::connect(&url).await?;
            seed(store, total, pairs, stamp).await
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("seeding panicked"))??;
    let seeding = started.elapsed();
    let (pair_seats, idle_seats) = seats.split_at(cfg.pairs);

    let mut rows = Vec::new();
    let node = telemed.serve(log).await?;
    rows.push(latency("1 node", node.addr, node.addr, &pair_seats[..1], cfg).await?);
    rows.push(latency("1 node", node.addr, node.addr, pair_seats, cfg).await?);
    if backend == "postgres" {
        let other = telemed.serve(log).await?;
        // Both servers must be listening for each other before the first pair joins.
        tokio::time::sleep(Duration::from_millis(500)).await;
        rows.push(latency("2 nodes", node.addr, other.addr, &pair_seats[..1], cfg).await?);
        rows.push(latency("2 nodes", node.addr, other.addr, pair_seats, cfg).await?);
        other.stop()?;
    }
    node.stop()?;
    let memory = if cfg.idle > 0 {
        let fresh = telemed.serve(log).await?;
        let report = idle_memory(&fresh, idle_seats).await?;
        fresh.stop()?;
        Some(report)
    } else {
        None
    };
    Ok(SignalingReport {
        seeding,
        latency: rows,
        memory,
    })
}
