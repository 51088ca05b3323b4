-- A person's own account: links emailed to reset a forgotten password.
-- Same conventions as 0001: TEXT ids, BIGINT microseconds.

-- One row per emailed link. Only the SHA-256 of the link's token is kept, so the table alone
-- cannot be used to reset anyone's password. A link is used once (`used_at`) and expires.
CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id, created_at);
