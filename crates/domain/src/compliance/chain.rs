//! The hash chain over audit entries: each record's hash covers its entry and the hash before
//! it, so altering, deleting or inserting a record is detectable.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::AuditEntry;
use crate::identity::Role;

/// The hash that precedes the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A stored entry with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
    pub prev_hash: String,
    pub hash: String,
    /// The same read again within the repeat window (see [`AuditEntry::repeat_key`]): counted
    /// beside the record, outside the chain. Filled by the auditor's search only.
    pub repeated: Option<Repeated>,
}

/// Identical reads after the record's own, within its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeated {
    /// How many more times (the record itself not counted).
    pub times: i64,
    pub last_at: Timestamp,
}

/// The exact bytes hashed for a record: a fixed-order, flat JSON object (stable across versions).
pub fn canonical_bytes(seq: i64, prev_hash: &str, e: &AuditEntry) -> Vec<u8> {
    let value = serde_json::json!([
        seq,
        prev_hash,
        e.at.as_microsecond(),
        e.org_id.map(|o| o.to_string()),
        e.actor.kind(),
        e.actor.id(),
        e.actor.role().map(Role::as_str),
        e.action.as_str(),
        e.resource_type,
        e.resource_id,
        e.patient_id.map(|p| p.to_string()),
        e.source_ip,
        e.outcome.as_str(),
        e.flagged,
        e.detail,
    ]);
    value.to_string().into_bytes()
}

/// The hash of a record: SHA-256 over the canonical bytes, which include the previous hash.
pub fn chain_hash(seq: i64, prev_hash: &str, entry: &AuditEntry) -> String {
    hex::encode(Sha256::digest(canonical_bytes(seq, prev_hash, entry)))
}

/// Seals an entry as the record after (`prev_seq`, `prev_hash`).
pub fn seal(prev_seq: i64, prev_hash: &str, entry: AuditEntry) -> AuditRecord {
    let seq = prev_seq + 1;
    let hash = chain_hash(seq, prev_hash, &entry);
    AuditRecord {
        seq,
        entry,
        prev_hash: prev_hash.to_string(),
        hash,
        repeated: None,
    }
}

/// Where verification found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The record's content no longer matches its hash.
    Altered { seq: i64 },
    /// Records are missing before this one.
    Deleted {
        missing_from: i64,
        next_present: i64,
    },
    /// This record does not link to the record before it.
    Inserted { seq: i64 },
    /// The chain ends before the head the store remembers.
    Truncated { expected_last: i64, found_last: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { seq } => write!(
                f,
                "record {seq} was altered: its content does not match its hash"
            ),
            ChainBreak::Deleted {
                missing_from,
                next_present,
            } => write!(
                f,
                "record {missing_from} was deleted: the chain jumps from {} to {next_present}",
                missing_from - 1
            ),
            ChainBreak::Inserted { seq } => {
                write!(
                    f,
                    "record {seq} was inserted or replaced: it does not link to the record before it"
                )
            }
            ChainBreak::Truncated {
                expected_last,
                found_last,
            } => write!(
                f,
                "records after {found_last} were deleted: the chain head says the last record is {expected_last}"
            ),
        }
    }
}

/// Walks records in sequence order and checks each link; `state` carries over between pages.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_string(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        if record.seq <= self.last_seq {
            return Err(ChainBreak::Inserted { seq: record.seq });
        }
        // The link is checked before the content: a row that does not follow its predecessor was
        // put there (or its predecessor removed); a row that links but does not hash was edited.
        if record.prev_hash != self.last_hash {
            return if record.seq > self.last_seq + 1 {
                Err(ChainBreak::Deleted {
                    missing_from: self.last_seq + 1,
                    next_present: record.seq,
                })
            } else {
                Err(ChainBreak::Inserted { seq: record.seq })
            };
        }
        if chain_hash(record.seq, &record.prev_hash, &record.entry) != record.hash {
            return Err(ChainBreak::Altered { seq: record.seq });
        }
        if record.seq != self.last_seq + 1 {
            // Re-numbered records that still link: someone rewrote sequence numbers.
            return Err(ChainBreak::Altered { seq: record.seq });
        }
        self.last_seq = record.seq;
        self.last_hash = record.hash.clone();
        self.checked += 1;
        Ok(())
    }

    /// Compares the end of the walk with the head the store keeps.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<(), ChainBreak> {
        if head_seq > self.last_seq {
            return Err(ChainBreak::Truncated {
                expected_last: head_seq,
                found_last: self.last_seq,
            });
        }
        if head_seq < self.last_seq || head_hash != self.last_hash {
            return Err(ChainBreak::Inserted { seq: self.last_seq });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::{AuditAction, AuditActor, Outcome};
    use jiff::Timestamp;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry::new(
            Timestamp::from_second(1_700_000_000 + n).unwrap_or(Timestamp::UNIX_EPOCH),
            AuditActor::Operator,
            AuditAction::PatientRead,
            "Patient",
        )
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 1..=n {
            let (seq, hash) = out
                .last()
                .map(|r| (r.seq, r.hash.clone()))
                .unwrap_or((0, GENESIS_HASH.into()));
            out.push(seal(seq, &hash, entry(i)));
        }
        out
    }

    fn verify(records: &[AuditRecord], head: (i64, &str)) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::default();
        for r in records {
            v.check(r)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, (5, &c[4].hash)), Ok(()));
    }

    #[test]
    fn altering_a_record_is_named() {
        let mut c = chain(5);
        c[2].entry.outcome = Outcome::Denied;
        let head = c[4].hash.clone();
        assert_eq!(verify(&c, (5, &head)), Err(ChainBreak::Altered { seq: 3 }));
    }

    #[test]
    fn deleting_a_record_is_named() {
        let mut c = chain(5);
        c.remove(1);
        let head = c[3].hash.clone();
        assert_eq!(
            verify(&c, (5, &head)),
            Err(ChainBreak::Deleted {
                missing_from: 2,
                next_present: 3
            })
        );
    }

    #[test]
    fn deleting_the_last_record_is_named() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.pop();
        assert_eq!(
            verify(&c, (5, &head)),
            Err(ChainBreak::Truncated {
                expected_last: 5,
                found_last: 4
            })
        );
    }

    #[test]
    fn inserting_a_record_is_named() {
        let c = chain(5);
        let mut forged = seal(2, "f".repeat(64).as_str(), entry(99));
        forged.seq = 3;
        let mut tampered: Vec<AuditRecord> = c.clone();
        tampered.insert(2, forged);
        for r in tampered.iter_mut().skip(3) {
            r.seq += 1;
        }
        let head = c[4].hash.clone();
        assert_eq!(
            verify(&tampered, (5, &head)),
            Err(ChainBreak::Inserted { seq: 3 })
        );
    }
}
