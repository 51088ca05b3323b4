-- Scheduling: visit types, availability, slots, appointments and their history, telehealth
-- consent, the on-demand queue, reminders and calendar feeds.
-- Same conventions as 0001: TEXT ids, BIGINT microseconds, TEXT dates and times, INTEGER booleans.

CREATE TABLE clinician_languages (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    language  TEXT NOT NULL,
    PRIMARY KEY (user_id, language)
);
CREATE INDEX clinician_languages_by_language ON clinician_languages (language);
-- Clinicians created before languages were recorded hold visits in English.
INSERT INTO clinician_languages (user_id, language) SELECT user_id, 'en' FROM clinician_profiles;

CREATE TABLE visit_types (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id),
    name              TEXT NOT NULL,
    service_line      TEXT NOT NULL,
    modality          TEXT NOT NULL,
    patient_kind      TEXT NOT NULL,
    duration_minutes  BIGINT NOT NULL,
    patient_bookable  INTEGER NOT NULL,
    active            INTEGER NOT NULL,
    created_at        BIGINT NOT NULL,
    CONSTRAINT visit_types_org_name_key UNIQUE (org_id, name)
);

CREATE TABLE availability_templates (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    clinician_id    TEXT NOT NULL REFERENCES users(id),
    site_id         TEXT NOT NULL REFERENCES sites(id),
    -- ISO weekday: 1 = Monday ... 7 = Sunday.
    weekday         BIGINT NOT NULL,
    -- Wall-clock 'HH:MM' at the site: resolved per date with the site's time zone.
    start_time      TEXT NOT NULL,
    end_time        TEXT NOT NULL,
    slot_minutes    BIGINT NOT NULL,
    buffer_minutes  BIGINT NOT NULL,
    -- Bit mask of service lines (see domain::scheduling::ServiceLines).
    service_lines   BIGINT NOT NULL,
    valid_from      TEXT NOT NULL,
    valid_until     TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX availability_templates_by_clinician ON availability_templates (org_id, clinician_id);

CREATE TABLE availability_exceptions (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    clinician_id    TEXT NOT NULL REFERENCES users(id),
    kind            TEXT NOT NULL,
    site_id         TEXT REFERENCES sites(id),
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    slot_minutes    BIGINT NOT NULL,
    buffer_minutes  BIGINT NOT NULL,
    service_lines   BIGINT NOT NULL,
    reason          TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX availability_exceptions_by_clinician ON availability_exceptions (clinician_id, start_at);

CREATE TABLE slots (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id),
    clinician_id   TEXT NOT NULL REFERENCES users(id),
    site_id        TEXT NOT NULL REFERENCES sites(id),
    start_at       BIGINT NOT NULL,
    end_at         BIGINT NOT NULL,
    service_lines  BIGINT NOT NULL,
    template_id    TEXT REFERENCES availability_templates(id),
    exception_id   TEXT REFERENCES availability_exceptions(id),
    withdrawn      INTEGER NOT NULL,
    created_at     BIGINT NOT NULL,
    -- Publishing twice never doubles a slot.
    CONSTRAINT slots_clinician_start_key UNIQUE (clinician_id, start_at)
);
CREATE INDEX slots_by_org_start ON slots (org_id, start_at);

CREATE TABLE appointments (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    patient_id         TEXT NOT NULL REFERENCES patients(id),
    clinician_id       TEXT NOT NULL REFERENCES users(id),
    site_id            TEXT NOT NULL REFERENCES sites(id),
    slot_id            TEXT REFERENCES slots(id),
    visit_type_id      TEXT NOT NULL REFERENCES visit_types(id),
    service_line       TEXT NOT NULL,
    modality           TEXT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    patient_state      TEXT NOT NULL,
    status             TEXT NOT NULL,
    reason             TEXT,
    late_cancellation  INTEGER NOT NULL,
    cancel_reason      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
-- The rule that makes double booking impossible: one live appointment per slot, decided by the
-- database however many bookings race for it. A cancellation frees the slot.
CREATE UNIQUE INDEX appointments_one_per_slot ON appointments (slot_id) WHERE status <> 'cancelled';
CREATE INDEX appointments_by_clinician_start ON appointments (clinician_id, start_at);
CREATE INDEX appointments_by_patient_start ON appointments (patient_id, start_at);
CREATE INDEX appointments_by_site_start ON appointments (site_id, start_at);
CREATE INDEX appointments_by_status_start ON appointments (status, start_at);

CREATE TABLE appointment_events (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    at              BIGINT NOT NULL,
    action          TEXT NOT NULL,
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT,
    actor_role      TEXT,
    detail          TEXT
);
CREATE INDEX appointment_events_by_appointment ON appointment_events (appointment_id, at);

CREATE TABLE consent_documents (
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    version       BIGINT NOT NULL,
    text          TEXT NOT NULL,
    published_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, version)
);

CREATE TABLE patient_consents (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    patient_id   TEXT NOT NULL REFERENCES patients(id),
    version      BIGINT NOT NULL,
    method       TEXT NOT NULL,
    recorded_by  TEXT REFERENCES users(id),
    given_at     BIGINT NOT NULL,
    CONSTRAINT patient_consents_version_key UNIQUE (patient_id, version)
);

CREATE TABLE queue_entries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    patient_id      TEXT NOT NULL REFERENCES patients(id),
    patient_state   TEXT NOT NULL,
    service_line    TEXT NOT NULL,
    visit_type_id   TEXT NOT NULL REFERENCES visit_types(id),
    reason          TEXT,
    status          TEXT NOT NULL,
    joined_at       BIGINT NOT NULL,
    taken_by        TEXT REFERENCES users(id),
    taken_at        BIGINT,
    appointment_id  TEXT REFERENCES appointments(id)
);
-- A patient waits in the queue once at a time.
CREATE UNIQUE INDEX queue_entries_one_waiting ON queue_entries (patient_id) WHERE status = 'waiting';
CREATE INDEX queue_entries_by_org_status ON queue_entries (org_id, status, joined_at);

CREATE TABLE reminders_sent (
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    offset_minutes  BIGINT NOT NULL,
    claimed_at      BIGINT NOT NULL,
    sent            INTEGER NOT NULL,
    PRIMARY KEY (appointment_id, offset_minutes)
);

CREATE TABLE calendar_feeds (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    token_hash  TEXT NOT NULL CONSTRAINT calendar_feeds_token_key UNIQUE,
    created_at  BIGINT NOT NULL
);
