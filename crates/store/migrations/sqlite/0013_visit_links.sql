-- Patients' join links: a one-time link into one video visit for a patient without a portal
-- account. Only the SHA-256 of the link's token and of the session it opened are kept. A new
-- link for the same appointment replaces (revokes) the earlier ones.
CREATE TABLE visit_links (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    patient_id      TEXT NOT NULL REFERENCES patients(id),
    token_hash      TEXT NOT NULL UNIQUE,
    email           TEXT,
    delivery        TEXT NOT NULL,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    session_hash    TEXT UNIQUE,
    revoked_at      BIGINT
);
CREATE INDEX visit_links_by_appointment ON visit_links (appointment_id);
