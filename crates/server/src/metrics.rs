//! Request counters and a latency histogram, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Metrics {
    by_status_class: [AtomicU64; 6],
    bucket_counts: [AtomicU64; 12],
    latency_micros_sum: AtomicU64,
    requests: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).min(5);
        self.by_status_class[class].fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros_sum.fetch_add(micros, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.bucket_counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The text of `/metrics`; `live_connections` is the hub's count of open live WebSockets.
    pub fn render(&self, backend: &str, live_connections: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP telemed_http_requests_total HTTP requests answered, by status class."
        );
        let _ = writeln!(out, "# TYPE telemed_http_requests_total counter");
        for (class, counter) in self.by_status_class.iter().enumerate().skip(1) {
            let _ = writeln!(
                out,
                "telemed_http_requests_total{{status=\"{class}xx\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP telemed_http_request_duration_seconds Time to answer a request."
        );
        let _ = writeln!(
            out,
            "# TYPE telemed_http_request_duration_seconds histogram"
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "telemed_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.bucket_counts[i].load(Ordering::Relaxed)
            );
        }
        let total = self.requests.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "telemed_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {total}"
        );
        let sum = self.latency_micros_sum.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        let _ = writeln!(out, "telemed_http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "telemed_http_request_duration_seconds_count {total}");
        let _ = writeln!(out, "# HELP telemed_info Build and storage backend.");
        let _ = writeln!(out, "# TYPE telemed_info gauge");
        let _ = writeln!(
            out,
            "telemed_info{{version=\"{}\",backend=\"{backend}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP telemed_live_connections Live WebSockets open on this server (visit participants and staff screens)."
        );
        let _ = writeln!(out, "# TYPE telemed_live_connections gauge");
        let _ = writeln!(out, "telemed_live_connections {live_connections}");
        out
    }
}
