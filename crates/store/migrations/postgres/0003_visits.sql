-- Virtual visits: one per checked-in virtual appointment, its log of happenings, the quality
-- reports browsers send, guest invitations, and escalations for the site's staff.
-- Same conventions as 0001: TEXT ids, BIGINT microseconds, BOOLEAN booleans.

CREATE TABLE visits (
    appointment_id   TEXT PRIMARY KEY REFERENCES appointments(id),
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    site_id          TEXT NOT NULL REFERENCES sites(id),
    clinician_id     TEXT NOT NULL REFERENCES users(id),
    patient_id       TEXT NOT NULL REFERENCES patients(id),
    state            TEXT NOT NULL,
    outcome          TEXT,
    modality         TEXT NOT NULL,
    audio_only       BOOLEAN NOT NULL,
    audio_only_used  BOOLEAN NOT NULL,
    location_state   TEXT NOT NULL,
    location_text    TEXT NOT NULL,
    -- The questionnaire's answers as JSON (their own record, read with the visit).
    questionnaire    TEXT,
    checked_in_at    BIGINT NOT NULL,
    admitted_at      BIGINT,
    started_at       BIGINT,
    ended_at         BIGINT,
    drops            BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX visits_by_site_checked_in ON visits (site_id, checked_in_at);
CREATE INDEX visits_by_clinician_checked_in ON visits (clinician_id, checked_in_at);
CREATE INDEX visits_by_org_state ON visits (org_id, state, checked_in_at);

CREATE TABLE visit_log (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES visits(appointment_id),
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT,
    actor_role      TEXT,
    detail          TEXT
);
CREATE INDEX visit_log_by_visit ON visit_log (appointment_id, at);

CREATE TABLE visit_quality (
    id BIGSERIAL PRIMARY KEY,
    appointment_id   TEXT NOT NULL REFERENCES visits(appointment_id),
    at               BIGINT NOT NULL,
    role             TEXT NOT NULL,
    round_trip_ms    DOUBLE PRECISION,
    packet_loss_pct  DOUBLE PRECISION,
    bitrate_kbps     DOUBLE PRECISION,
    frames_decoded   BIGINT
);
CREATE INDEX visit_quality_by_visit ON visit_quality (appointment_id);

-- Only hashes of the link's token and of the guest's session are kept.
CREATE TABLE visit_invites (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES visits(appointment_id),
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    name            TEXT NOT NULL,
    relation        TEXT NOT NULL,
    email           TEXT,
    token_hash      TEXT NOT NULL UNIQUE,
    created_by      TEXT NOT NULL REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    delivery        TEXT NOT NULL,
    used_at         BIGINT,
    session_hash    TEXT UNIQUE,
    admitted_at     BIGINT
);
CREATE INDEX visit_invites_by_visit ON visit_invites (appointment_id);

CREATE TABLE visit_escalations (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    appointment_id   TEXT NOT NULL REFERENCES appointments(id),
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    site_id          TEXT NOT NULL REFERENCES sites(id),
    raised_by        TEXT REFERENCES users(id),
    raised_at        BIGINT NOT NULL,
    location_state   TEXT NOT NULL,
    location_text    TEXT NOT NULL,
    reason           TEXT NOT NULL,
    acknowledged_by  TEXT REFERENCES users(id),
    acknowledged_at  BIGINT
);
CREATE INDEX visit_escalations_by_site ON visit_escalations (org_id, site_id, raised_at);
CREATE INDEX visit_escalations_by_visit ON visit_escalations (appointment_id);

-- Live messages between servers sharing this database go by NOTIFY; one larger than NOTIFY's
-- 8000-byte payload is parked here and the notification carries its id. Rows older than a
-- minute are deleted as new ones arrive.
CREATE TABLE relay_messages (
    id          BIGSERIAL PRIMARY KEY,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
