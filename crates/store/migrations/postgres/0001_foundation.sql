-- Foundation: tenants, people, credentials, patients, sessions, integration clients,
-- emergency access and the hash-chained audit trail.
--
-- Column types are chosen so one set of SQL statements serves SQLite and PostgreSQL:
-- ids are uuid strings (TEXT), instants are microseconds since the Unix epoch (BIGINT),
-- calendar dates are 'YYYY-MM-DD' (TEXT).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    state       TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX sites_by_org ON sites (org_id, name);

CREATE TABLE patients (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations(id),
    mrn                 TEXT NOT NULL,
    given_name          TEXT NOT NULL,
    family_name         TEXT NOT NULL,
    birth_date          TEXT NOT NULL,
    sex                 TEXT NOT NULL,
    email               TEXT,
    phone               TEXT,
    address_line1       TEXT NOT NULL,
    address_line2       TEXT,
    city                TEXT NOT NULL,
    state               TEXT NOT NULL,
    postal_code         TEXT NOT NULL,
    preferred_language  TEXT NOT NULL,
    primary_site_id     TEXT NOT NULL REFERENCES sites(id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT patients_org_mrn_key UNIQUE (org_id, mrn)
);
CREATE INDEX patients_by_org_family_name ON patients (org_id, family_name, given_name);
CREATE INDEX patients_by_site ON patients (primary_site_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    -- Sign-in starts from the email alone, so it is unique across every organization.
    email         TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    active        BOOLEAN NOT NULL,
    patient_id    TEXT REFERENCES patients(id),
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_by_org_role ON users (org_id, role);

CREATE TABLE user_sites (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site_id  TEXT NOT NULL REFERENCES sites(id),
    PRIMARY KEY (user_id, site_id)
);
CREATE INDEX user_sites_by_site ON user_sites (site_id);

CREATE TABLE clinician_profiles (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    npi          TEXT NOT NULL,
    -- A JSON array of strings: read and written whole, never queried inside.
    specialties  TEXT NOT NULL
);

CREATE TABLE clinician_licenses (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    number      TEXT NOT NULL,
    expires_on  TEXT NOT NULL,
    PRIMARY KEY (user_id, state, number)
);

CREATE TABLE credentials (
    user_id          TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    password_hash    TEXT NOT NULL,
    totp_secret      TEXT,
    totp_confirmed   BOOLEAN NOT NULL,
    failed_attempts  BIGINT NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    last_totp_step   BIGINT
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    mfa_pending   BOOLEAN NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    source_ip     TEXT
);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE oauth_clients (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX oauth_clients_by_org ON oauth_clients (org_id, name);

CREATE TABLE oauth_tokens (
    token_hash  TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    scopes      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX oauth_tokens_by_expiry ON oauth_tokens (expires_at);

CREATE TABLE break_glass_grants (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    patient_id   TEXT NOT NULL REFERENCES patients(id),
    reason       TEXT NOT NULL,
    granted_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    reviewed_by  TEXT REFERENCES users(id),
    reviewed_at  BIGINT
);
CREATE INDEX break_glass_by_user_patient ON break_glass_grants (user_id, patient_id, expires_at);
CREATE INDEX break_glass_by_org ON break_glass_grants (org_id, granted_at);

-- The audit trail has no foreign keys on purpose: it must outlive what it describes,
-- and it records attempts by unknown actors.
CREATE TABLE audit_log (
    seq            BIGINT PRIMARY KEY,
    at             BIGINT NOT NULL,
    org_id         TEXT,
    actor_kind     TEXT NOT NULL,
    actor_id       TEXT,
    actor_role     TEXT,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT,
    patient_id     TEXT,
    source_ip      TEXT,
    outcome        TEXT NOT NULL,
    flagged        BOOLEAN NOT NULL,
    detail         TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_by_org_at ON audit_log (org_id, at);
CREATE INDEX audit_log_by_patient ON audit_log (patient_id, at);
CREATE INDEX audit_log_by_actor ON audit_log (actor_id, at);
CREATE INDEX audit_log_by_action ON audit_log (action, at);

-- The last record of the chain, so a deleted tail is detectable and appends are serialised.
CREATE TABLE audit_head (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    last_seq   BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The trail is append-only: the application never changes or removes a record.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
