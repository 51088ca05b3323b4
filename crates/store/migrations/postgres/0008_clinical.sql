-- Clinical work around the call: the visit's nurse, visit notes with their diagnoses and signed
-- addenda, secure messaging (threads, messages, attachments), e-consults and second opinions,
-- and the data keys that seal free text at rest.
-- Same conventions as 0001: TEXT ids, BIGINT microseconds, BOOLEAN booleans.
-- Columns marked "sealed" hold AES-256-GCM ciphertext (`tm1:<data key id>:<base64>`), never text.

-- Data keys (AES-256), each wrapped by a key-encryption key that lives in a file outside the
-- database; `kek_id` names which. Exactly one key is current: new values are sealed with it.
CREATE TABLE data_keys (
    id          TEXT PRIMARY KEY,
    kek_id      TEXT NOT NULL,
    wrapped     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    is_current  BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX data_keys_one_current ON data_keys (is_current) WHERE is_current = TRUE;

-- Staff who take part in a visit besides its clinician (the visit's nurse): they are in the
-- patient's care team around the visit, like the clinician.
CREATE TABLE visit_staff (
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    user_id         TEXT NOT NULL REFERENCES users(id),
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    role            TEXT NOT NULL,
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (appointment_id, user_id)
);
CREATE INDEX visit_staff_by_user ON visit_staff (user_id);

-- One note per appointment. `facts` are the telehealth facts copied from the visit record when
-- the note is started (JSON, sealed: they name guests); `body` the sections the clinician
-- writes (JSON, sealed). A signed note is never updated again except for its summary's
-- delivery columns; `version` lets a save refuse to overwrite a newer draft.
CREATE TABLE notes (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations(id),
    appointment_id       TEXT NOT NULL UNIQUE REFERENCES appointments(id),
    patient_id           TEXT NOT NULL REFERENCES patients(id),
    clinician_id         TEXT NOT NULL REFERENCES users(id),
    site_id              TEXT NOT NULL REFERENCES sites(id),
    template             TEXT NOT NULL,
    status               TEXT NOT NULL,
    facts                TEXT NOT NULL,
    body                 TEXT NOT NULL,
    version              BIGINT NOT NULL,
    created_by           TEXT NOT NULL REFERENCES users(id),
    created_at           BIGINT NOT NULL,
    updated_by           TEXT NOT NULL REFERENCES users(id),
    updated_at           BIGINT NOT NULL,
    signed_by            TEXT REFERENCES users(id),
    signed_at            BIGINT,
    content_sha256       TEXT,
    summary_notified_at  BIGINT,
    summary_read_at      BIGINT
);
CREATE INDEX notes_by_clinician_status ON notes (org_id, clinician_id, status, created_at);
CREATE INDEX notes_by_patient ON notes (org_id, patient_id, created_at);

-- Diagnoses of a note, in the clinician's order: ICD-10-CM codes from the bundled release.
CREATE TABLE note_diagnoses (
    note_id   TEXT NOT NULL REFERENCES notes(id),
    position  BIGINT NOT NULL,
    code      TEXT NOT NULL,
    PRIMARY KEY (note_id, position)
);

-- Addenda: each signed when written, never changed.
CREATE TABLE note_addenda (
    id              TEXT PRIMARY KEY,
    note_id         TEXT NOT NULL REFERENCES notes(id),
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    body            TEXT NOT NULL,
    signed_by       TEXT NOT NULL REFERENCES users(id),
    signed_at       BIGINT NOT NULL,
    content_sha256  TEXT NOT NULL
);
CREATE INDEX note_addenda_by_note ON note_addenda (note_id, signed_at);

-- Secure messaging. A thread is between a patient and the care team of a site (or one
-- clinician who saw them). The counters and times the inbox shows are kept on the thread, so
-- the first page of an inbox reads one index range.
CREATE TABLE message_threads (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    site_id            TEXT NOT NULL REFERENCES sites(id),
    patient_id         TEXT NOT NULL REFERENCES patients(id),
    clinician_id       TEXT REFERENCES users(id),
    subject            TEXT NOT NULL,
    status             TEXT NOT NULL,
    assigned_to        TEXT REFERENCES users(id),
    created_by         TEXT NOT NULL REFERENCES users(id),
    created_at         BIGINT NOT NULL,
    last_message_at    BIGINT NOT NULL,
    reply_due_at       BIGINT,
    staff_unread       BIGINT NOT NULL,
    patient_unread     BIGINT NOT NULL,
    message_count      BIGINT NOT NULL,
    -- When the patient was last emailed that something new waits (never what).
    patient_notified_at BIGINT
);
CREATE INDEX message_threads_inbox ON message_threads (org_id, site_id, last_message_at);
CREATE INDEX message_threads_inbox_status ON message_threads (org_id, site_id, status, last_message_at);
CREATE INDEX message_threads_by_patient ON message_threads (org_id, patient_id, last_message_at);
-- The inbox's counts read only the threads they count.
CREATE INDEX message_threads_unread ON message_threads (org_id, site_id) WHERE staff_unread > 0;
CREATE INDEX message_threads_due ON message_threads (org_id, site_id, reply_due_at) WHERE reply_due_at IS NOT NULL;

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    thread_id   TEXT NOT NULL REFERENCES message_threads(id),
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    author_id   TEXT NOT NULL REFERENCES users(id),
    from_patient BOOLEAN NOT NULL,
    staff_only  BOOLEAN NOT NULL,
    body        TEXT NOT NULL,
    sent_at     BIGINT NOT NULL,
    read_at     BIGINT,
    read_by     TEXT REFERENCES users(id)
);
CREATE INDEX messages_by_thread ON messages (thread_id, sent_at);

-- Files attached to a message or an e-consult: type checked by content, size limited, sealed.
CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    patient_id    TEXT NOT NULL REFERENCES patients(id),
    owner_kind    TEXT NOT NULL,
    owner_id      TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    content       TEXT NOT NULL,
    uploaded_by   TEXT NOT NULL REFERENCES users(id),
    uploaded_at   BIGINT NOT NULL
);
CREATE INDEX attachments_by_owner ON attachments (owner_kind, owner_id);

-- E-consults (a referring clinician asks a specialty) and second opinions (a patient asks).
CREATE TABLE econsults (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL,
    patient_id      TEXT NOT NULL REFERENCES patients(id),
    requested_by    TEXT NOT NULL REFERENCES users(id),
    specialty       TEXT NOT NULL,
    urgency         TEXT NOT NULL,
    question        TEXT NOT NULL,
    history         TEXT NOT NULL,
    status          TEXT NOT NULL,
    specialist_id   TEXT REFERENCES users(id),
    submitted_at    BIGINT NOT NULL,
    due_at          BIGINT NOT NULL,
    accepted_at     BIGINT,
    answered_at     BIGINT,
    closed_at       BIGINT,
    opinion         TEXT,
    opinion_sha256  TEXT,
    minutes_spent   BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- When the requesting side was last told of a change (a question back, the opinion).
    requester_notified_at BIGINT
);
CREATE INDEX econsults_by_specialty ON econsults (org_id, specialty, status, due_at);
CREATE INDEX econsults_by_requester ON econsults (org_id, requested_by, submitted_at);

-- Questions and answers between the two sides of an e-consult.
CREATE TABLE econsult_messages (
    id           TEXT PRIMARY KEY,
    econsult_id  TEXT NOT NULL REFERENCES econsults(id),
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    author_id    TEXT NOT NULL REFERENCES users(id),
    body         TEXT NOT NULL,
    sent_at      BIGINT NOT NULL
);
CREATE INDEX econsult_messages_by_case ON econsult_messages (econsult_id, sent_at);

-- Time a specialist spent on a case (interprofessional consult codes depend on it).
CREATE TABLE econsult_time (
    id           TEXT PRIMARY KEY,
    econsult_id  TEXT NOT NULL REFERENCES econsults(id),
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    minutes      BIGINT NOT NULL,
    activity     TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX econsult_time_by_case ON econsult_time (econsult_id);
