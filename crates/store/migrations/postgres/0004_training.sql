-- Staff training and the telehealth competency certification: courses (their modules and
-- question bank as JSON: always read whole with the course), the roles each course is for,
-- enrolments, submitted tests, certifications and the program manager's gate exceptions.
-- Same conventions as 0001: TEXT ids, BIGINT microseconds, BOOLEAN booleans.

CREATE TABLE training_courses (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id),
    title            TEXT NOT NULL,
    summary          TEXT NOT NULL,
    modules          TEXT NOT NULL,
    questions        TEXT NOT NULL,
    pass_mark_pct    BIGINT NOT NULL,
    certifies        BOOLEAN NOT NULL,
    validity_months  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    CONSTRAINT training_courses_title_key UNIQUE (org_id, title)
);

CREATE TABLE training_course_roles (
    course_id  TEXT NOT NULL REFERENCES training_courses(id),
    role       TEXT NOT NULL,
    PRIMARY KEY (course_id, role)
);
CREATE INDEX training_course_roles_by_role ON training_course_roles (role);

CREATE TABLE training_enrolments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    user_id         TEXT NOT NULL REFERENCES users(id),
    course_id       TEXT NOT NULL REFERENCES training_courses(id),
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- JSON array of the module indexes marked done.
    modules_done    TEXT NOT NULL,
    pre_score_pct   BIGINT,
    post_score_pct  BIGINT,
    enrolled_at     BIGINT NOT NULL,
    completed_at    BIGINT
);
-- A role enrols a person in a course once; remedial and refresher enrolments come on top.
CREATE UNIQUE INDEX training_enrolments_once_by_role ON training_enrolments (user_id, course_id) WHERE reason = 'role';
CREATE INDEX training_enrolments_by_org_user ON training_enrolments (org_id, user_id);

-- A test is submitted once per enrolment and kind: a completed assessment is never changed.
CREATE TABLE training_assessments (
    id             TEXT PRIMARY KEY,
    enrolment_id   TEXT NOT NULL REFERENCES training_enrolments(id),
    kind           TEXT NOT NULL,
    answers        TEXT NOT NULL,
    score_pct      BIGINT NOT NULL,
    passed         BOOLEAN NOT NULL,
    submitted_at   BIGINT NOT NULL,
    CONSTRAINT training_assessments_once UNIQUE (enrolment_id, kind)
);

CREATE TABLE certifications (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    course_id     TEXT NOT NULL REFERENCES training_courses(id),
    enrolment_id  TEXT NOT NULL CONSTRAINT certifications_enrolment_key UNIQUE REFERENCES training_enrolments(id),
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    reminded_at   BIGINT
);
CREATE INDEX certifications_by_user ON certifications (org_id, user_id, expires_at);
CREATE INDEX certifications_by_expiry ON certifications (expires_at);

CREATE TABLE certification_exceptions (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    clinician_id  TEXT NOT NULL REFERENCES users(id),
    reason        TEXT NOT NULL,
    granted_by    TEXT NOT NULL REFERENCES users(id),
    granted_at    BIGINT NOT NULL,
    ends_at       BIGINT NOT NULL
);
CREATE INDEX certification_exceptions_by_clinician ON certification_exceptions (org_id, clinician_id);
