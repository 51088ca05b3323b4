//! Signed checkpoints of the audit chain: the server's background signer, and the `audit verify`
//! and `audit checkpoint` commands that check and export them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use domain::compliance::checkpoint::{check_against, take_checkpoint, verify_checkpoints};
use domain::compliance::service::verify_chain;
use domain::compliance::{Checkpoint, SignatureCheck};
use domain::store::Store;
use domain::{Clock, DomainError};
use serde_json::json;

use crate::auth::audit_signing::{AuditSigner, ExportedCheckpoint, SigningKeyError};

/// How often the signer looks at the chain's head (a checkpoint is written only when due).
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// Signs a checkpoint whenever one is due, and appends each to `copy_to` (JSON lines) as a
/// second copy outside the database.
pub async fn run_forever(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    signer: Arc<AuditSigner>,
    every_records: i64,
    every_seconds: u64,
    copy_to: Option<PathBuf>,
) {
    let mut tick = tokio::time::interval(LOOK_EVERY.min(Duration::from_secs(every_seconds.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sign = |message: &[u8]| signer.sign(message);
        match take_checkpoint(
            store.as_ref(),
            clock.now(),
            every_records,
            every_seconds,
            &sign,
        )
        .await
        {
            Ok(None) => {}
            Ok(Some(cp)) => {
                tracing::debug!(seq = cp.seq, "audit checkpoint signed");
                if let Some(path) = &copy_to
                    && let Err(e) = append_line(path, &signer.export(&cp))
                {
                    tracing::error!(path = %path.display(), error = %e, "cannot append the audit checkpoint to its file");
                }
            }
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
        }
    }
}

fn append_line(path: &Path, cp: &ExportedCheckpoint) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let line = serde_json::to_string(cp).map_err(std::io::Error::other)?;
    writeln!(file, "{line}")?;
    file.sync_data()
}

/// Reads checkpoints an auditor kept: one JSON object, or one per line.
fn read_exported(path: &Path) -> Result<Vec<ExportedCheckpoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let trimmed = text.trim();
    if let Ok(one) = serde_json::from_str::<ExportedCheckpoint>(trimmed) {
        return Ok(vec![one]);
    }
    trimmed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| {
                format!(
                    "{} line {}: not an exported checkpoint: {e}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

pub(crate) struct Verdict {
    pub ok: bool,
    pub value: serde_json::Value,
    pub text: String,
}

fn broken(problem: String) -> Verdict {
    Verdict {
        ok: false,
        value: json!({ "ok": false, "problem": problem }),
        text: format!("audit chain BROKEN: {problem}"),
    }
}

fn unreadable(e: DomainError) -> Verdict {
    // A record that cannot be read is reported like a break: named, failing.
    let problem = match e {
        DomainError::Storage(why) => why,
        other => other.to_string(),
    };
    Verdict {
        ok: false,
        value: json!({ "ok": false, "problem": problem }),
        text: format!("audit chain could not be verified: {problem}"),
    }
}

async fn verdict(
    store: &dyn Store,
    signer: Result<AuditSigner, SigningKeyError>,
    against: Option<&Path>,
) -> Verdict {
    let report = match verify_chain(store).await {
        Err(e) => return unreadable(e),
        Ok(Err(b)) => return broken(b.to_string()),
        Ok(Ok(report)) => report,
    };
    let stored = match store.audit_checkpoints().await {
        Ok(all) => all.len(),
        Err(e) => return unreadable(e),
    };
    let mut covered_to = 0;
    let mut checked = 0;
    if stored > 0 {
        let signer = match signer {
            Ok(s) => s,
            Err(e) => return broken(e.to_string()),
        };
        let check = |cp: &Checkpoint| signer.check(cp);
        match verify_checkpoints(store, report.head_seq, &check).await {
            Err(e) => return unreadable(e),
            Ok(Err(b)) => return broken(b.to_string()),
            Ok(Ok(r)) => {
                covered_to = r.covered_to;
                checked = r.checked;
            }
        }
    }
    let mut kept = 0;
    if let Some(path) = against {
        let exported = match read_exported(path) {
            Ok(e) => e,
            Err(problem) => {
                return Verdict {
                    ok: false,
                    value: json!({ "ok": false, "problem": problem }),
                    text: format!("cannot read the kept checkpoints: {problem}"),
                };
            }
        };
        for cp in &exported {
            let check = |_: &Checkpoint| cp.check();
            match check_against(store, &cp.checkpoint, report.head_seq, &check).await {
                Err(e) => return unreadable(e),
                Ok(Err(b)) => return broken(b.to_string()),
                Ok(Ok(())) => {
                    kept += 1;
                    covered_to = covered_to.max(cp.checkpoint.seq);
                }
            }
        }
    }
    let uncovered = report.head_seq - covered_to;
    let mut text = format!("audit chain intact: {} records checked", report.checked);
    if checked > 0 {
        text.push_str(&format!(
            "; {checked} signed checkpoints hold (records 1 to {covered_to} covered"
        ));
        if uncovered > 0 {
            text.push_str(&format!(", {uncovered} newer not yet signed"));
        }
        text.push(')');
    } else {
        text.push_str("; no signed checkpoints yet");
    }
    if against.is_some() {
        text.push_str(&format!("; {kept} kept checkpoints found in the chain"));
    }
    Verdict {
        ok: true,
        value: json!({
            "ok": true,
            "checked": report.checked,
            "head": report.head_seq,
            "checkpoints": checked,
            "kept_checkpoints": kept,
            "covered_to": covered_to,
        }),
        text,
    }
}

/// `telemed audit verify [--against FILE]`: the verdict the command line prints.
pub(crate) async fn verify_command(
    store: &dyn Store,
    signer: Result<AuditSigner, SigningKeyError>,
    against: Option<&Path>,
) -> Verdict {
    verdict(store, signer, against).await
}

/// `telemed audit checkpoint`: signs the head now (if it moved since the last checkpoint) and
/// prints the latest checkpoint with its public key, for an auditor to keep elsewhere.
pub async fn checkpoint_command(
    store: &dyn Store,
    clock: &dyn Clock,
    signer: &AuditSigner,
) -> anyhow::Result<ExitCode> {
    let sign = |message: &[u8]| signer.sign(message);
    take_checkpoint(store, clock.now(), 1, 0, &sign).await?;
    let Some(latest) = store.latest_checkpoint().await? else {
        eprintln!("the audit trail is empty: there is nothing to sign yet");
        return Ok(ExitCode::FAILURE);
    };
    if signer.check(&latest) != SignatureCheck::Valid {
        eprintln!(
            "the latest stored checkpoint (record {}) is not signed by this server's key",
            latest.seq
        );
        return Ok(ExitCode::FAILURE);
    }
    let exported = serde_json::to_string(&signer.export(&latest))?;
    say!("{exported}");
    Ok(ExitCode::SUCCESS)
}
