-- The implementation program: one per organization, its phases and tasks (dependencies as a
-- JSON array of task ids, read with the program), the governance roster, the risk register,
-- each site's rollout stage and readiness checklist (JSON), stage history, pilot evaluations
-- and adoption goals. Same conventions as 0001: TEXT ids, BIGINT microseconds, INTEGER booleans;
-- dates are TEXT in ISO form (YYYY-MM-DD), which sorts as dates do.

CREATE TABLE programs (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL CONSTRAINT programs_org_key UNIQUE REFERENCES organizations(id),
    name        TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE program_phases (
    id          TEXT PRIMARY KEY,
    program_id  TEXT NOT NULL REFERENCES programs(id),
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL
);

CREATE TABLE program_tasks (
    id          TEXT PRIMARY KEY,
    program_id  TEXT NOT NULL REFERENCES programs(id),
    phase_id    TEXT NOT NULL REFERENCES program_phases(id),
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    owner_id    TEXT REFERENCES users(id),
    starts_on   TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    status      TEXT NOT NULL,
    depends_on  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX program_tasks_by_program ON program_tasks (program_id, starts_on);

CREATE TABLE program_roster (
    program_id  TEXT NOT NULL REFERENCES programs(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    site_id     TEXT REFERENCES sites(id),
    PRIMARY KEY (program_id, user_id, role)
);

CREATE TABLE risks (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    title           TEXT NOT NULL,
    category        TEXT NOT NULL,
    likelihood      BIGINT NOT NULL CHECK (likelihood BETWEEN 1 AND 5),
    impact          BIGINT NOT NULL CHECK (impact BETWEEN 1 AND 5),
    owner_id        TEXT REFERENCES users(id),
    mitigation      TEXT NOT NULL,
    status          TEXT NOT NULL,
    next_review_on  TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX risks_by_org ON risks (org_id);

CREATE TABLE site_rollouts (
    site_id     TEXT PRIMARY KEY REFERENCES sites(id),
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    stage       TEXT NOT NULL,
    checklist   TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE pilot_evaluations (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations(id),
    site_id               TEXT NOT NULL REFERENCES sites(id),
    target_digital_pct    BIGINT NOT NULL,
    measured_digital_pct  BIGINT NOT NULL,
    target_no_show_pct    BIGINT NOT NULL,
    measured_no_show_pct  BIGINT NOT NULL,
    decision              TEXT NOT NULL,
    notes                 TEXT NOT NULL,
    decided_by            TEXT NOT NULL REFERENCES users(id),
    decided_at            BIGINT NOT NULL
);

CREATE TABLE adoption_goals (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    site_id     TEXT REFERENCES sites(id),
    target_pct  BIGINT NOT NULL,
    by_date     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
