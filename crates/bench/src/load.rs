//! Closed-loop load: N connections, each sending its next request as soon as the last one answered,
//! for a fixed time. Every request's latency is kept, so percentiles are exact.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::Conn;

/// What a workload sends: the next request's bytes, chosen with the connection's own generator.
pub trait Workload: Send + Sync + 'static {
    fn next_request(&self, rng: &mut Rng) -> &[u8];
}

/// xorshift64*: enough to pick ids uniformly, and costs nothing.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 32) as usize * n) >> 32
    }
}

/// The result of one run.
#[derive(Default)]
pub struct Outcome {
    /// 2xx responses.
    pub ok: u64,
    /// Other statuses and connection errors.
    pub errors: u64,
    /// One entry per completed request (ok or not), in microseconds.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
    /// The first error seen, to explain a non-zero error count.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1), in microseconds; call after `finish`.
    pub fn quantile_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let last = self.latencies_us.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        self.latencies_us[index.min(last)]
    }

    pub fn max_us(&self) -> u32 {
        self.latencies_us.last().copied().unwrap_or(0)
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `workload` over `connections` connections for `duration`.
pub async fn run<W: Workload>(
    addr: SocketAddr,
    workload: Arc<W>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    // Open every connection first, so connecting is not part of the measured time.
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(addr).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for (i, mut conn) in conns.into_iter().enumerate() {
        let workload = workload.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(i as u64 + 1);
            let mut out = Outcome {
                latencies_us: Vec::with_capacity(1 << 16),
                ..Outcome::default()
            };
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let result = conn.send(workload.next_request(&mut rng)).await;
                let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                out.latencies_us.push(micros);
                match result {
                    Ok(status) if (200..300).contains(&status) => out.ok += 1,
                    Ok(status) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            let body = String::from_utf8_lossy(conn.body());
                            let body: String = body.chars().take(300).collect();
                            out.first_error = Some(format!("HTTP {status}: {body}"));
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(format!("connection error: {e}"));
                        }
                    }
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for task in tasks {
        total.merge(task.await?);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_stays_below_its_bound_and_reaches_both_ends() {
        let mut rng = Rng::new(7);
        let picks: Vec<usize> = (0..10_000).map(|_| rng.below(10)).collect();
        assert!(picks.iter().all(|&p| p < 10));
        assert!(picks.contains(&0) && picks.contains(&9));
    }

    #[test]
    fn quantiles_come_from_the_sorted_latencies() {
        let out = Outcome {
            latencies_us: (1..=100).collect(),
            ..Outcome::default()
        };
        assert_eq!(out.quantile_us(0.5), 51);
        assert_eq!(out.quantile_us(0.99), 99);
        assert_eq!(out.max_us(), 100);
    }
}
