//! Driving the real `telemed` binary: its CLI for seeding and checks, and `telemed serve` as a child.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::http::{self, Conn};

/// The `telemed` binary and the database it works on.
#[derive(Clone)]
pub struct Telemed {
    pub binary: PathBuf,
    pub database_url: String,
    /// The key that seals TOTP secrets; kept in the run's own directory, never the working one.
    pub secret_key_file: PathBuf,
}

impl Telemed {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--database-url")
            .arg(&self.database_url)
            .env("TELEMED_SECRET_KEY_FILE", &self.secret_key_file)
            .env("TELEMED_LOG", "warn");
        command
    }

    /// Runs `telemed ARGS...` and returns its standard output; fails with its error output.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "`telemed {}` failed ({}): {}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                stdout.trim()
            );
        }
        Ok(stdout)
    }

    /// Runs a `--json` command and parses its last line.
    pub fn run_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let stdout = self.run(args)?;
        let line = stdout.lines().last().unwrap_or("");
        serde_json::from_str(line)
            .with_context(|| format!("`telemed {}` printed no JSON: {stdout}", args.join(" ")))
    }

    /// `telemed audit verify --json`: the number of records in an intact chain.
    pub fn audit_records(&self) -> anyhow::Result<u64> {
        let report = self.run_json(&["audit", "verify", "--json"])?;
        if report["ok"] != Value::Bool(true) {
            bail!("the audit chain is broken: {report}");
        }
        report["checked"]
            .as_u64()
            .with_context(|| format!("audit verify printed no count: {report}"))
    }

    /// Starts `telemed serve` on a free loopback port and waits until it is ready.
    pub async fn serve(&self, log: &Path) -> anyhow::Result<Server> {
        let addr = free_port()?;
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let child = self
            .command()
            .args(["serve", "--addr", &addr.to_string()])
            // The sign-in workload comes from one address: lift the per-address throttle.
            .env("TELEMED_SIGN_IN_ATTEMPTS_PER_MINUTE", "100000000")
            // The signaling workload's round trips send thousands of messages a second on one
            // connection (a browser sends a few): lift the per-connection rate.
            .env("TELEMED_LIVE_MESSAGES_PER_SECOND", "100000")
            // The idle waiting rooms are ten thousand connections from one address.
            .env("TELEMED_MAX_CONNECTIONS_PER_ADDRESS", "1000000")
            // TELEMED_BENCH_SERVER_LOG lets a run see more of the server (e.g. store=debug).
            .env(
                "TELEMED_LOG",
                std::env::var("TELEMED_BENCH_SERVER_LOG")
                    .unwrap_or_else(|_| "info,sqlx=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        let mut server = Server { child, addr };
        server.wait_ready(log).await?;
        Ok(server)
    }
}

/// A running `telemed serve`. Dropping it kills the process if `stop` was not called.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let request = http::request("GET", self.addr, "/readyz", &[], None);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "telemed serve exited with {status} before it was ready; see {}",
                    log.display()
                );
            }
            if let Ok(mut conn) = Conn::open(self.addr).await
                && conn.send(&request).await.ok() == Some(200)
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "telemed serve was not ready after 60 s; see {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no shutdown at all.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server as ctrl-c would (SIGINT, graceful), by its process id; kills it after 15 s.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// CPU time (user + system) a process has used so far; Linux only, `None` elsewhere.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// Busy and total CPU ticks of the whole machine (all cores) from `/proc/stat`; Linux only.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait are fields 4 and 5.
    let idle = values.get(3)? + values.get(4)?;
    Some((total - idle, total))
}
