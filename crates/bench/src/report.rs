//! Printing the results: the read table (with the floor's ratios), the rush's and signaling's.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{Row, rush, signaling};

/// Prints the signaling tables: relay round trips, and memory per idle connection.
pub(crate) fn print_signaling(
    backend: &str,
    config: &signaling::SignalingConfig,
    r: &signaling::SignalingReport,
) {
    println!();
    println!(
        "signaling: seeded {} visits in {:.1} s",
        config.idle + config.pairs,
        r.seeding.as_secs_f64()
    );
    println!(
        "| {:<10} | {:<8} | {:>5} | {:>7} | {:>11} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "relay",
        "backend",
        "pairs",
        "payload",
        "round trips",
        "per s",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    println!("|{}|", ["-"; 9].map(|_| "------------").join("|"));
    for row in &r.latency {
        println!(
            "| {:<10} | {:<8} | {:>5} | {:>6}B | {:>11} | {:>9.0} | {:>9.3} | {:>9.3} | {:>9.3} |",
            row.label,
            backend,
            row.pairs,
            config.payload_bytes,
            row.round_trips_ns.len(),
            row.per_second(),
            row.quantile_ms(0.5),
            row.quantile_ms(0.99),
            row.quantile_ms(1.0),
        );
    }
    if let Some(m) = &r.memory {
        println!();
        println!(
            "idle waiting rooms: {} connections opened in {:.1} s; server resident anonymous memory {:.1} MiB before, {:.1} MiB after: {:.1} MiB more, {:.2} KiB per connection",
            m.connections,
            m.open_seconds,
            m.before_kib as f64 / 1024.0,
            m.after_kib as f64 / 1024.0,
            (m.after_kib.saturating_sub(m.before_kib)) as f64 / 1024.0,
            m.per_connection_bytes() / 1024.0
        );
    }
}

/// Prints the rush's table and its check of the database; fails on any double booking.
pub(crate) fn print_rush(
    backend: &str,
    config: &rush::RushConfig,
    r: &rush::RushReport,
) -> anyhow::Result<()> {
    let o = &r.outcome;
    println!();
    println!(
        "| {:<12} | {:<8} | {:>5} | {:>8} | {:>6} | {:>10} | {:>14} | {:>6} | {:>10} | {:>9} | {:>9} | {:>9} | {:>10} | {:>12} |",
        "workload",
        "backend",
        "conns",
        "attempts",
        "booked",
        "slot_taken",
        "double_booked",
        "other",
        "attempts/s",
        "p50",
        "p99",
        "max",
        "server CPU",
        "machine busy"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(14),
        "-".repeat(10),
        "-".repeat(6) + ":",
        "-".repeat(9) + ":",
        "-".repeat(7) + ":",
        "-".repeat(11) + ":",
        "-".repeat(15) + ":",
        "-".repeat(7) + ":",
        "-".repeat(11) + ":",
        "-".repeat(10) + ":",
        "-".repeat(10) + ":",
        "-".repeat(10) + ":",
        "-".repeat(11) + ":",
        "-".repeat(13) + ":",
    );
    let other = o.requests() - r.booked - r.slot_taken - r.patient_double_booked;
    println!(
        "| {:<12} | {:<8} | {:>5} | {:>8} | {:>6} | {:>10} | {:>14} | {:>6} | {:>10.0} | {:>9} | {:>9} | {:>9} | {:>10} | {:>12} |",
        "8 a.m. rush",
        backend,
        config.patients,
        o.requests(),
        r.booked,
        r.slot_taken,
        r.patient_double_booked,
        other,
        o.per_second(),
        millis(o.quantile_us(0.50)),
        millis(o.quantile_us(0.99)),
        millis(o.max_us()),
        cpu_share(r.server_cpu, o.elapsed),
        r.machine_busy
            .map(|b| format!("{:.0}%", b * 100.0))
            .unwrap_or_else(|| "-".into()),
    );
    let quantile = |sorted: &[u32], q: f64| {
        let last = sorted.len().saturating_sub(1);
        millis(
            sorted
                .get(((last as f64) * q).round() as usize)
                .copied()
                .unwrap_or(0),
        )
    };
    println!(
        "latency of attempts that booked: p50 {}, p99 {}; of attempts refused: p50 {}, p99 {}",
        quantile(&r.booked_us, 0.5),
        quantile(&r.booked_us, 0.99),
        quantile(&r.refused_us, 0.5),
        quantile(&r.refused_us, 0.99)
    );
    let v = &r.verification;
    println!();
    println!(
        "rush: {} attempts in {:.2} s; seeding took {:.1} s",
        o.requests(),
        o.elapsed.as_secs_f64(),
        r.seeding.as_secs_f64()
    );
    println!(
        "database: {} slots, {} appointments; slots held twice: {}; clinician overlaps: {}; patient overlaps: {}",
        v.slots, v.appointments, v.slots_held_twice, v.clinician_overlaps, v.patient_overlaps
    );
    if let Some(error) = &o.first_error {
        println!("first unexpected answer: {error}");
    }
    if v.slots_held_twice + v.clinician_overlaps + v.patient_overlaps > 0 {
        bail!("double booking found in the database");
    }
    if v.appointments != r.booked as i64 {
        bail!(
            "the database holds {} appointments but {} bookings were confirmed",
            v.appointments,
            r.booked
        );
    }
    if v.appointments == v.slots {
        println!("every slot was booked exactly once");
    } else {
        println!("{} slots were left unbooked", v.slots - v.appointments);
    }
    Ok(())
}

fn millis(us: u32) -> String {
    format!("{:.2} ms", f64::from(us) / 1000.0)
}

fn cpu_share(cpu: Option<Duration>, elapsed: Duration) -> String {
    match cpu {
        Some(cpu) => format!(
            "{:.0}%",
            100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64().max(1e-9)
        ),
        None => "-".into(),
    }
}

pub(crate) fn print_table(backend: &str, rows: &[Row]) {
    println!();
    println!(
        "| {:<28} | {:<8} | {:>5} | {:>9} | {:>6} | {:>9} | {:>9} | {:>9} | {:>9} | {:>10} | {:>10} | {:>12} |",
        "workload",
        "backend",
        "conns",
        "requests",
        "errors",
        "req/s",
        "p50",
        "p99",
        "max",
        "server CPU",
        "client CPU",
        "machine busy"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(30),
        "-".repeat(10),
        "-".repeat(6) + ":",
        "-".repeat(10) + ":",
        "-".repeat(7) + ":",
        "-".repeat(10) + ":",
        "-".repeat(10) + ":",
        "-".repeat(10) + ":",
        "-".repeat(10) + ":",
        "-".repeat(11) + ":",
        "-".repeat(11) + ":",
        "-".repeat(13) + ":",
    );
    for row in rows {
        let o = &row.outcome;
        println!(
            "| {:<28} | {:<8} | {:>5} | {:>9} | {:>6} | {:>9.0} | {:>9} | {:>9} | {:>9} | {:>10} | {:>10} | {:>12} |",
            row.workload,
            backend,
            row.connections,
            o.requests(),
            o.errors,
            o.per_second(),
            millis(o.quantile_us(0.50)),
            millis(o.quantile_us(0.99)),
            millis(o.max_us()),
            cpu_share(row.server_cpu, o.elapsed),
            cpu_share(row.client_cpu, o.elapsed),
            row.machine_busy
                .map(|b| format!("{:.0}%", b * 100.0))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!();
    println!(
        "server and client CPU: share of one core over the measured seconds (for store.* rows, the bench process, where the store runs); machine busy: share of all {} cores, by any process (the database server's included).",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
}

/// The audited read against the floor measured in the same run: what decides on a busy machine.
pub(crate) fn print_ratios(rows: &[Row]) {
    let find = |name: &str| rows.iter().find(|r| r.workload == name);
    let Some(floor) = find(crate::HEALTHZ) else {
        return;
    };
    for name in [crate::READ, crate::READ_ONE] {
        let Some(read) = find(name) else { continue };
        if read.connections != floor.connections && name == crate::READ {
            continue;
        }
        let (f, r) = (&floor.outcome, &read.outcome);
        println!(
            "{name} ({} conns) against GET healthz ({} conns, same run): {:.2}x its throughput, p50 {:.1}x, p99 {:.1}x its latency",
            read.connections,
            floor.connections,
            r.per_second() / f.per_second().max(1e-9),
            f64::from(r.quantile_us(0.5)) / f64::from(f.quantile_us(0.5).max(1)),
            f64::from(r.quantile_us(0.99)) / f64::from(f.quantile_us(0.99).max(1)),
        );
    }
}

/// On SQLite, the sizes of the WAL file and the database after `reads` audited reads.
pub(crate) fn wal_size(database_url: &str, reads: u64) -> Option<String> {
    let path = database_url.strip_prefix("sqlite://")?;
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let mib = |p: &str| {
        std::fs::metadata(p)
            .ok()
            .map(|m| m.len() as f64 / 1048576.0)
    };
    Some(format!(
        "SQLite WAL file after {reads} audited reads: {:.1} MiB (database {:.1} MiB)",
        mib(&format!("{path}-wal"))?,
        mib(path)?
    ))
}

/// The median time of a small write followed by fsync: the floor under every durable commit.
pub(crate) fn fsync_latency(dir: &std::path::Path) -> Option<Duration> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).ok()?;
    let block = [0u8; 4096];
    let mut times = Vec::with_capacity(50);
    for _ in 0..50 {
        let started = Instant::now();
        file.write_all(&block).ok()?;
        file.sync_data().ok()?;
        times.push(started.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort_unstable();
    times.get(times.len() / 2).copied()
}
