-- Signed checkpoints of the audit chain: its head (sequence, hash) at a moment, signed with a key
-- kept outside the database, so a rewritten or truncated chain no longer matches a checkpoint.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
