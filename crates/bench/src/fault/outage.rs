//! The faults that take the database away from a running server: PostgreSQL stopped and started
//! again (`pg-restart`), the SQLite file system filled up (`disk-full`), the SQLite database
//! read-only (`read-only`). The server is not restarted while the database is away;
//! `/healthz` and `/readyz` are asked throughout the restart of PostgreSQL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Booking, FaultConfig, check, ms, shell};
use crate::http::{self, Conn};
use crate::rush::Seeded;
use crate::telemed::{Server, Telemed};

/// `/healthz` and `/readyz`, asked every 100 ms on fresh connections.
struct Probe {
    at: Instant,
    /// When both answers were in.
    done: Instant,
    healthz: Option<u16>,
    readyz: Option<u16>,
}

fn start_probes(addr: SocketAddr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Probe>> {
    tokio::spawn(async move {
        let mut probes = Vec::new();
        let ask = |path: &'static str| async move {
            let request = http::request("GET", addr, path, &[], None);
            tokio::time::timeout(Duration::from_secs(2), async {
                Conn::open(addr).await?.send(&request).await
            })
            .await
            .ok()
            .and_then(Result::ok)
        };
        while !stop.load(Ordering::Relaxed) {
            let at = Instant::now();
            let (healthz, readyz) = tokio::join!(ask("/healthz"), ask("/readyz"));
            probes.push(Probe {
                at,
                done: Instant::now(),
                healthz,
                readyz,
            });
            tokio::time::sleep(Duration::from_millis(100).saturating_sub(at.elapsed())).await;
        }
        probes
    })
}

fn diff(after: &BTreeMap<u16, u64>, before: &BTreeMap<u16, u64>) -> BTreeMap<u16, u64> {
    after
        .iter()
        .map(|(s, n)| (*s, n - before.get(s).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Waits until `done` holds, for at most 120 s; returns how long it took.
pub(super) async fn until(since: Instant, done: impl Fn() -> bool) -> Option<Duration> {
    while since.elapsed() < Duration::from_secs(120) {
        if done() {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

pub(super) async fn pg_restart(
    telemed: &Telemed,
    cfg: &FaultConfig,
    seeded: &Seeded,
    booking: Booking,
    mut server: Server,
) -> anyhow::Result<()> {
    let (Some(stop_db), Some(start_db)) = (&cfg.db_stop, &cfg.db_start) else {
        bail!("--fault pg-restart needs --db-stop-command and --db-start-command");
    };
    let ledger = booking.ledger.clone();
    let probes_stop = Arc::new(AtomicBool::new(false));
    let probes = start_probes(server.addr, probes_stop.clone());
    let load = booking.start(server.addr);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut windows = Vec::new();
    for _ in 1..=cfg.runs {
        let other_before = ledger.other();
        let unanswered_before = ledger.unanswered.load(Ordering::Relaxed);
        let confirmed_before = ledger.confirmed_count();
        let stopping = Instant::now();
        shell(stop_db).await?;
        let stopped = Instant::now();
        tokio::time::sleep(cfg.outage).await;
        let starting = Instant::now();
        shell(start_db).await?;
        let back = Instant::now();
        let first_write = until(back, || ledger.first_confirmed_after(back).is_some()).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        windows.push((
            stopping,
            stopped,
            starting,
            back,
            first_write,
            diff(&ledger.other(), &other_before),
            ledger.unanswered.load(Ordering::Relaxed) - unanswered_before,
            ledger.confirmed_count() - confirmed_before,
        ));
    }
    load.stop().await;
    probes_stop.store(true, Ordering::Relaxed);
    let probes = probes.await?;
    let never_restarted = server.is_running();
    let check = check(
        telemed,
        &telemed.database_url,
        &seeded.org,
        &ledger.confirmed_ids(),
    )
    .await?;
    let healthz_failed = probes.iter().filter(|p| p.healthz != Some(200)).count();
    println!(
        "pg-restart: {} probes of /healthz, {} not 200; the server process was {}",
        probes.len(),
        healthz_failed,
        if never_restarted {
            "never restarted"
        } else {
            "gone"
        }
    );
    let mut failed = healthz_failed > 0 || !never_restarted || check.failed();
    for (run, (stopping, stopped, starting, back, first_write, other, unanswered, confirmed)) in
        windows.iter().enumerate()
    {
        let away: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.at >= *stopped && p.done < *starting)
            .collect();
        let not_ready = away.iter().filter(|p| p.readyz == Some(503)).count();
        let no_answer = away.iter().filter(|p| p.readyz.is_none()).count();
        let first_not_ready = probes
            .iter()
            .find(|p| p.at >= *stopping && p.readyz != Some(200))
            .map(|p| p.at.duration_since(*stopping));
        let ready_again = probes
            .iter()
            .find(|p| p.at >= *back && p.readyz == Some(200))
            .map(|p| p.at.duration_since(*back));
        println!(
            "pg-restart run {}: database stopped in {} ms, away {} ms; /readyz while away: {} probes, {} answered 503, {} no answer within 2 s, first not-ready {} ms after the stop began; ready again {} ms and first booking {} ms after the database was back; writes while away answered {:?}, {} unanswered; {} bookings confirmed in the run",
            run + 1,
            ms(stopped.duration_since(*stopping)),
            ms(back.duration_since(*stopped)),
            away.len(),
            not_ready,
            no_answer,
            first_not_ready.map_or("-".into(), |d| ms(d).to_string()),
            ready_again.map_or("never".into(), |d| ms(d).to_string()),
            first_write.map_or("never".into(), |d| ms(d).to_string()),
            other,
            unanswered,
            confirmed
        );
        failed |= not_ready != away.len() || ready_again.is_none() || first_write.is_none();
    }
    println!("pg-restart: {}", check.line());
    if let Ok(first) = ledger.first_other.lock()
        && let Some(first) = first.as_ref()
    {
        println!("pg-restart: first refused write: {first}");
    }
    server.stop()?;
    if failed {
        bail!("pg-restart: a check failed (see above)");
    }
    Ok(())
}

/// Fills the file system holding `dir` with one file; returns how many bytes it took.
fn fill(path: &Path) -> anyhow::Result<u64> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    let mut written = 0u64;
    for size in [1 << 20, 4096, 512] {
        let block = vec![0u8; size];
        while file.write_all(&block).is_ok() {
            written += size as u64;
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

fn log_errors(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|text| text.lines().filter(|l| l.contains("ERROR")).count())
        .unwrap_or(0)
}

pub(super) async fn disk_full(
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
        .context("--fault disk-full runs on SQLite")?;
    let filler = Path::new(db)
        .parent()
        .context("the database has no directory")?
        .join("fault-filler");
    let ledger = booking.ledger.clone();
    let (cookie, csrf) = booking.sessions[0].clone();
    let load = booking.start(server.addr);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut failed = false;
    // Reads while the disk is full: a slot search (writes nothing) and the patient's own
    // appointments (audited, so it cannot be answered without writing its audit record).
    let monday = &seeded.slots[0].1[..10];
    let search = http::request(
        "GET",
        server.addr,
        &format!("/api/v1/slots?from={monday}&limit=5"),
        &[("Cookie", &cookie)],
        None,
    );
    let audited = http::request(
        "GET",
        server.addr,
        "/api/v1/appointments?limit=5",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        None,
    );
    for run in 1..=cfg.runs {
        let other_before = ledger.other();
        let errors_before = log_errors(log);
        let bytes = tokio::task::spawn_blocking({
            let filler = filler.clone();
            move || fill(&filler)
        })
        .await??;
        let full = Instant::now();
        let confirmed_at_full = ledger.confirmed_count();
        let mut reads: BTreeMap<(&str, u16), u64> = BTreeMap::new();
        let mut conn = Conn::open(server.addr).await?;
        while full.elapsed() < cfg.outage {
            for (name, request) in [("slot search", &search), ("own appointments", &audited)] {
                let status = conn.send(request).await.unwrap_or(0);
                *reads.entry((name, status)).or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Bookings answered before the fill took effect are not refusals of a full disk.
        let confirmed_while_full = ledger.confirmed_count() - confirmed_at_full;
        let refused = diff(&ledger.other(), &other_before);
        let errors = log_errors(log) - errors_before;
        std::fs::remove_file(&filler)?;
        let freed = Instant::now();
        let resumed = until(freed, || ledger.first_confirmed_after(freed).is_some()).await;
        println!(
            "disk-full run {run}: filled {} MiB more; for {} ms: writes answered {refused:?} ({confirmed_while_full} confirmed), reads {reads:?}, {errors} ERROR lines in the log; writes resumed {} ms after the space came back",
            bytes / (1 << 20),
            ms(cfg.outage),
            resumed.map_or("never".into(), |d| ms(d).to_string()),
        );
        failed |= resumed.is_none()
            || refused.keys().any(|s| *s != 503)
            || errors == 0
            || !reads
                .keys()
                .any(|(name, s)| *name == "slot search" && *s == 200)
            || reads
                .keys()
                .any(|(name, s)| *name == "slot search" && *s != 200);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    load.stop().await;
    server.stop()?;
    let check = check(
        telemed,
        &telemed.database_url,
        &seeded.org,
        &ledger.confirmed_ids(),
    )
    .await?;
    let corrupt = store::testing::query_i64(
        &telemed.database_url,
        "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'",
    )
    .await?;
    println!(
        "disk-full: {}; integrity_check problems {corrupt}",
        check.line()
    );
    if let Ok(first) = ledger.first_other.lock()
        && let Some(first) = first.as_ref()
    {
        println!("disk-full: first refused write: {first}");
    }
    if failed || check.failed() || corrupt != 0 {
        bail!("disk-full: a check failed (see above)");
    }
    Ok(())
}

pub(super) async fn read_only(
    telemed: &Telemed,
    log: &Path,
    cfg: &FaultConfig,
    seeded: &Seeded,
    booking: Booking,
    server: Server,
) -> anyhow::Result<()> {
    let (Some(make_read_only), Some(make_writable)) = (&cfg.db_stop, &cfg.db_start) else {
        bail!(
            "--fault read-only needs --db-stop-command (read-only) and --db-start-command (writable)"
        );
    };
    // A file system is not made read-only under a process that holds a file open for writing:
    // the server is stopped for it, and started on the read-only database.
    server.stop()?;
    shell(make_read_only).await?;
    let started = Instant::now();
    let server = telemed.serve(log).await?;
    let ready = started.elapsed();
    let ledger = booking.ledger.clone();
    let errors_before = log_errors(log);
    let (cookie, _) = booking.sessions[0].clone();
    let monday = &seeded.slots[0].1[..10];
    let search = http::request(
        "GET",
        server.addr,
        &format!("/api/v1/slots?from={monday}&limit=5"),
        &[("Cookie", &cookie)],
        None,
    );
    let load = booking.start(server.addr);
    let read_only_since = Instant::now();
    let mut reads: BTreeMap<u16, u64> = BTreeMap::new();
    let mut conn = Conn::open(server.addr).await?;
    while read_only_since.elapsed() < cfg.outage {
        let status = conn.send(&search).await.unwrap_or(0);
        *reads.entry(status).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = ledger.other();
    let confirmed_read_only = ledger.confirmed_count();
    let errors = log_errors(log) - errors_before;
    shell(make_writable).await?;
    let writable = Instant::now();
    // SQLite keeps a database it opened read-only that way: its shared memory is opened once per
    // process. Writes are not expected back before a restart (but would be welcome).
    tokio::time::sleep(cfg.outage).await;
    let without_restart = ledger.first_confirmed_after(writable).is_some();
    load.stop().await;
    server.stop()?;
    let restarted = Instant::now();
    let server = telemed.serve(log).await?;
    let load = booking.start(server.addr);
    let resumed = until(restarted, || {
        ledger.first_confirmed_after(restarted).is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop().await;
    server.stop()?;
    let check = check(
        telemed,
        &telemed.database_url,
        &seeded.org,
        &ledger.confirmed_ids(),
    )
    .await?;
    println!(
        "read-only: the server started on the read-only database and was ready in {} ms; for {} ms: writes answered {refused:?} ({confirmed_read_only} confirmed), slot searches {reads:?}, {errors} ERROR lines in the log; writes {} within {} ms of the database being writable again; after a restart, the first booking in {} ms; {}",
        ms(ready),
        ms(cfg.outage),
        if without_restart {
            "resumed"
        } else {
            "did not resume"
        },
        ms(cfg.outage),
        resumed.map_or("never".into(), |d| ms(d).to_string()),
        check.line()
    );
    if resumed.is_none()
        || confirmed_read_only > 0
        || refused.keys().any(|s| *s != 503)
        || errors == 0
        || reads.keys().any(|s| *s != 200)
        || check.failed()
    {
        bail!("read-only: a check failed (see above)");
    }
    Ok(())
}
