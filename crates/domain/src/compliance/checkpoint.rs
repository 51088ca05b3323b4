//! Signed checkpoints of the audit chain.
//!
//! A hash chain shows that records were changed, but someone who can write to the database can
//! also rewrite the chain from the changed record on, or delete its newest records and rewind the
//! head. A checkpoint is the chain's head (sequence and hash) at a moment, signed with a key the
//! database does not hold. Verification checks every checkpoint's signature and that the chain
//! still holds the signed hash at the signed sequence: a rewritten or truncated chain no longer
//! does, and a forged checkpoint does not verify without the key.
//!
//! The signature itself (Ed25519) is computed by the server; this module holds what is signed,
//! and the pure checks, which take the signature check as a function.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::AuditRecord;

/// Defaults: a checkpoint after this many new records, or this long after the last one when
/// the chain has moved since.
pub const CHECKPOINT_EVERY_RECORDS: i64 = 1_000;
pub const CHECKPOINT_EVERY_SECONDS: u64 = 60;

/// The signed head of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: Timestamp,
    /// Which signing key: the first 16 hex digits of the SHA-256 of its public key.
    pub key_id: String,
    /// Base64 of the Ed25519 signature of [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes that are signed: versioned, one field per line, so no two heads share them.
    pub fn message(seq: i64, hash: &str, at: Timestamp) -> Vec<u8> {
        format!(
            "telemed audit checkpoint v1\n{seq}\n{hash}\n{}\n",
            at.as_microsecond()
        )
        .into_bytes()
    }

    pub fn signed_message(&self) -> Vec<u8> {
        Self::message(self.seq, &self.hash, self.at)
    }
}

/// Whether a new checkpoint is due for the current head.
pub fn checkpoint_due(
    last: Option<&Checkpoint>,
    head_seq: i64,
    now: Timestamp,
    every_records: i64,
    every_seconds: u64,
) -> bool {
    match last {
        None => head_seq > 0,
        Some(cp) if head_seq <= cp.seq => false,
        Some(cp) => {
            head_seq - cp.seq >= every_records.max(1)
                || now.as_second() - cp.at.as_second() >= every_seconds as i64
        }
    }
}

/// What a checkpoint check found wrong, naming the first bad sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointBreak {
    /// The checkpoint's signature does not verify with the key: it was made without it.
    Forged { seq: i64 },
    /// The chain ends before a signed checkpoint: records up to it were deleted.
    Truncated {
        checkpoint_seq: i64,
        found_last: i64,
    },
    /// The record at a signed sequence has another hash: the chain up to it was rewritten.
    Rewritten { seq: i64 },
    /// Checkpoints out of order or signed by a key this server does not know.
    UnknownKey { seq: i64, key_id: String },
}

impl std::fmt::Display for CheckpointBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointBreak::Forged { seq } => write!(
                f,
                "the checkpoint at record {seq} is forged: its signature does not verify"
            ),
            CheckpointBreak::Truncated {
                checkpoint_seq,
                found_last,
            } => write!(
                f,
                "records {}..={checkpoint_seq} were deleted: a signed checkpoint covers record {checkpoint_seq} but the chain ends at {found_last}",
                found_last + 1
            ),
            CheckpointBreak::Rewritten { seq } => write!(
                f,
                "the chain was rewritten at or before record {seq}: its hash is not the one signed at that sequence"
            ),
            CheckpointBreak::UnknownKey { seq, key_id } => write!(
                f,
                "the checkpoint at record {seq} is signed by key {key_id}, which is not this server's signing key"
            ),
        }
    }
}

/// Checks one checkpoint against the chain: `record` is the chain's record at the checkpoint's
/// sequence if there is one, `last_seq` the chain's last sequence, `verify` the signature check.
pub fn check_checkpoint(
    cp: &Checkpoint,
    record: Option<&AuditRecord>,
    last_seq: i64,
    verify: &dyn Fn(&Checkpoint) -> SignatureCheck,
) -> Result<(), CheckpointBreak> {
    match verify(cp) {
        SignatureCheck::Valid => {}
        SignatureCheck::Invalid => return Err(CheckpointBreak::Forged { seq: cp.seq }),
        SignatureCheck::UnknownKey => {
            return Err(CheckpointBreak::UnknownKey {
                seq: cp.seq,
                key_id: cp.key_id.clone(),
            });
        }
    }
    match record {
        None => Err(CheckpointBreak::Truncated {
            checkpoint_seq: cp.seq,
            found_last: last_seq.min(cp.seq - 1),
        }),
        Some(r) if r.seq != cp.seq || r.hash != cp.hash => {
            Err(CheckpointBreak::Rewritten { seq: cp.seq })
        }
        Some(_) => Ok(()),
    }
}

/// The outcome of checking a checkpoint's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Valid,
    Invalid,
    UnknownKey,
}

/// What a walk of the stored checkpoints found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    pub checked: u64,
    /// The last sequence a valid checkpoint covers (0 if none).
    pub covered_to: i64,
}

/// Checks every stored checkpoint against the chain, whose last record is `last_seq` (from a
/// chain walk that passed). Names the first bad checkpoint.
pub async fn verify_checkpoints(
    store: &dyn crate::store::Store,
    last_seq: i64,
    verify: &dyn Fn(&Checkpoint) -> SignatureCheck,
) -> crate::error::DomainResult<Result<CheckpointReport, CheckpointBreak>> {
    let mut report = CheckpointReport {
        checked: 0,
        covered_to: 0,
    };
    for cp in store.audit_checkpoints().await? {
        if let Err(broken) = check_against(store, &cp, last_seq, verify).await? {
            return Ok(Err(broken));
        }
        report.checked += 1;
        report.covered_to = report.covered_to.max(cp.seq);
    }
    Ok(Ok(report))
}

/// Checks one checkpoint (stored, or kept elsewhere by an auditor) against the chain.
pub async fn check_against(
    store: &dyn crate::store::Store,
    cp: &Checkpoint,
    last_seq: i64,
    verify: &dyn Fn(&Checkpoint) -> SignatureCheck,
) -> crate::error::DomainResult<Result<(), CheckpointBreak>> {
    let record = store
        .audit_page(cp.seq - 1, 1)
        .await?
        .into_iter()
        .find(|r| r.seq == cp.seq);
    Ok(check_checkpoint(cp, record.as_ref(), last_seq, verify))
}

/// Signs the chain's head when a checkpoint is due and stores it; returns it if one was made.
/// `sign` answers the key id and the signature of a message.
pub async fn take_checkpoint(
    store: &dyn crate::store::Store,
    now: Timestamp,
    every_records: i64,
    every_seconds: u64,
    sign: &(dyn Fn(&[u8]) -> (String, String) + Send + Sync),
) -> crate::error::DomainResult<Option<Checkpoint>> {
    let last = store.latest_checkpoint().await?;
    let (seq, hash) = store.audit_head().await?;
    if !checkpoint_due(last.as_ref(), seq, now, every_records, every_seconds) {
        return Ok(None);
    }
    let (key_id, signature) = sign(&Checkpoint::message(seq, &hash, now));
    let cp = Checkpoint {
        seq,
        hash,
        at: now,
        key_id,
        signature,
    };
    store.record_checkpoint(&cp).await?;
    Ok(Some(cp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::{AuditAction, AuditActor, AuditEntry, GENESIS_HASH, seal};

    fn record(seq: i64) -> AuditRecord {
        let entry = AuditEntry::new(
            Timestamp::from_second(1_700_000_000 + seq).unwrap_or(Timestamp::UNIX_EPOCH),
            AuditActor::Operator,
            AuditAction::PatientRead,
            "Patient",
        );
        seal(seq - 1, GENESIS_HASH, entry)
    }

    fn cp(seq: i64, hash: &str) -> Checkpoint {
        Checkpoint {
            seq,
            hash: hash.into(),
            at: Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH),
            key_id: "k1".into(),
            signature: "sig".into(),
        }
    }

    fn valid(_: &Checkpoint) -> SignatureCheck {
        SignatureCheck::Valid
    }

    #[test]
    fn a_checkpoint_matching_the_chain_holds() {
        let r = record(5);
        assert_eq!(
            check_checkpoint(&cp(5, &r.hash), Some(&r), 9, &valid),
            Ok(())
        );
    }

    #[test]
    fn a_bad_signature_is_forgery_whatever_the_chain_says() {
        let r = record(5);
        let bad = |_: &Checkpoint| SignatureCheck::Invalid;
        assert_eq!(
            check_checkpoint(&cp(5, &r.hash), Some(&r), 9, &bad),
            Err(CheckpointBreak::Forged { seq: 5 })
        );
        let other = |_: &Checkpoint| SignatureCheck::UnknownKey;
        assert!(matches!(
            check_checkpoint(&cp(5, &r.hash), Some(&r), 9, &other),
            Err(CheckpointBreak::UnknownKey { seq: 5, .. })
        ));
    }

    #[test]
    fn a_missing_record_is_truncation_and_another_hash_a_rewrite() {
        assert_eq!(
            check_checkpoint(&cp(8, "h"), None, 5, &valid),
            Err(CheckpointBreak::Truncated {
                checkpoint_seq: 8,
                found_last: 5
            })
        );
        let r = record(5);
        assert_eq!(
            check_checkpoint(&cp(5, "another"), Some(&r), 9, &valid),
            Err(CheckpointBreak::Rewritten { seq: 5 })
        );
    }

    #[test]
    fn the_signed_message_changes_with_every_field() {
        let at = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let base = Checkpoint::message(5, "abc", at);
        assert_ne!(base, Checkpoint::message(6, "abc", at));
        assert_ne!(base, Checkpoint::message(5, "abd", at));
        assert_ne!(
            base,
            Checkpoint::message(5, "abc", at + jiff::SignedDuration::from_micros(1))
        );
    }

    #[test]
    fn a_checkpoint_is_due_by_count_or_by_time_once_the_chain_moved() {
        let now = Timestamp::from_second(1_800_000_030).unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(!checkpoint_due(None, 0, now, 1000, 60), "empty chain");
        assert!(checkpoint_due(None, 1, now, 1000, 60), "first record");
        let last = cp(10, "h");
        assert!(!checkpoint_due(Some(&last), 10, now, 1000, 60), "no move");
        assert!(!checkpoint_due(Some(&last), 11, now, 1000, 60), "too soon");
        assert!(checkpoint_due(Some(&last), 1010, now, 1000, 60), "by count");
        let later = now + jiff::SignedDuration::from_secs(30);
        assert!(checkpoint_due(Some(&last), 11, later, 1000, 60), "by time");
    }
}
