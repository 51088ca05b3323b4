-- Identical list reads by the same person within a short window (a page that polls): the first
-- is a record of the chain, the later ones are counted here against it, durably, one row per
-- record. The count is outside the chain: the chain proves the first read happened.
CREATE TABLE audit_repeats (
    seq      BIGINT PRIMARY KEY REFERENCES audit_log (seq),
    times    BIGINT NOT NULL,
    last_at  BIGINT NOT NULL
);
