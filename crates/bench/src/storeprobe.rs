//! The storage half of a read, measured in-process with no HTTP: `get_patient` alone,
//! `record_audit` alone (group commit), and both in turn as `GET /api/v1/patients/{id}` does them.
//!
//! Run with the server stopped, on the database the HTTP workloads used. Its tokio runtime has two
//! worker threads, like the server's on this machine.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::compliance::{AuditAction, AuditActor, AuditEntry};
use domain::ids::{ClientId, OrgId, PatientId};
use domain::{Clock, Store, SystemClock};

use crate::load::{Outcome, Rng};

/// One measured storage operation: its name and outcome, and the process CPU it used.
pub struct Probe {
    pub name: &'static str,
    pub outcome: Outcome,
    pub cpu: Option<Duration>,
    pub machine_busy: Option<f64>,
}

/// Runs the three probes on `database_url` with `tasks` concurrent callers for `duration` each.
pub fn run(
    database_url: &str,
    org: &str,
    client: &str,
    patient_ids: &[String],
    tasks: usize,
    duration: Duration,
) -> anyhow::Result<Vec<Probe>> {
    let org: OrgId = org.parse().context("org id")?;
    let client: ClientId = client.parse().context("client id")?;
    let ids: Vec<PatientId> = patient_ids
        .iter()
        .map(|id| id.parse().context("patient id"))
        .collect::<anyhow::Result<_>>()?;
    let ids = Arc::new(ids);
    let url = database_url.to_string();
    // A runtime of its own, on its own thread: the caller's runtime is single-threaded.
    std::thread::spawn(move || -> anyhow::Result<Vec<Probe>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let store: Arc<dyn Store> = store::connect(&url).await?;
            let audit = move || {
                AuditEntry::new(
                    SystemClock.now(),
                    AuditActor::Client { id: client },
                    AuditAction::PatientRead,
                    "Patient",
                )
                .org(org)
            };
            let mut probes = Vec::new();

            let (s, i) = (store.clone(), ids.clone());
            probes.push(
                measure("store.get_patient", tasks, duration, move |rng| {
                    let (s, id) = (s.clone(), i[rng.below(i.len())]);
                    async move { matches!(s.get_patient(org, id).await, Ok(Some(_))) }
                })
                .await,
            );

            let (s, i) = (store.clone(), ids.clone());
            probes.push(
                measure("store.record_audit", tasks, duration, move |rng| {
                    let (s, id) = (s.clone(), i[rng.below(i.len())]);
                    let entry = audit().resource(id).patient(id);
                    async move { s.record_audit(entry).await.is_ok() }
                })
                .await,
            );

            let (s, i) = (store.clone(), ids.clone());
            probes.push(
                measure("get_patient + record_audit", tasks, duration, move |rng| {
                    let (s, id) = (s.clone(), i[rng.below(i.len())]);
                    let entry = audit().resource(id).patient(id);
                    async move {
                        matches!(s.get_patient(org, id).await, Ok(Some(_)))
                            && s.record_audit(entry).await.is_ok()
                    }
                })
                .await,
            );
            Ok(probes)
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the storage probe thread panicked"))?
}

async fn measure<F, Fut>(name: &'static str, tasks: usize, duration: Duration, op: F) -> Probe
where
    F: Fn(&mut Rng) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let cpu_before = crate::telemed::cpu_time(None);
    let machine_before = crate::telemed::machine_ticks();
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(t as u64 + 101);
            let mut out = Outcome {
                latencies_us: Vec::with_capacity(1 << 16),
                ..Outcome::default()
            };
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let ok = op(&mut rng).await;
                out.latencies_us
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if ok {
                    out.ok += 1;
                } else {
                    out.errors += 1;
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for handle in handles {
        if let Ok(out) = handle.await {
            total.ok += out.ok;
            total.errors += out.errors;
            total.latencies_us.extend(out.latencies_us);
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    let cpu = match (cpu_before, crate::telemed::cpu_time(None)) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let machine_busy = match (machine_before, crate::telemed::machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    Probe {
        name,
        outcome: total,
        cpu,
        machine_busy,
    }
}
