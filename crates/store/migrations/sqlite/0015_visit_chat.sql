-- A visit's chat, kept with its record; the text is sealed (see sealing.rs).
CREATE TABLE visit_chat (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    at              BIGINT NOT NULL,
    role            TEXT NOT NULL,
    name            TEXT NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX visit_chat_by_visit ON visit_chat (appointment_id, at);
