-- The operator console: operators (people who run tessera, not clients), their sessions, and
-- the record of what each did in the console.
-- A password is kept only as an argon2id hash; a one-time sign-in link only as the SHA-256 of
-- its secret, with its expiry. An operator has either or both.
CREATE TABLE operators (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT,
    link_digest      BYTEA UNIQUE,
    link_expires_at  BIGINT,
    created_at       BIGINT NOT NULL
);

-- A console session, by the SHA-256 of its id (the id itself is only in the browser's cookie).
CREATE TABLE operator_sessions (
    digest        BYTEA PRIMARY KEY,
    operator_id   TEXT NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);
CREATE INDEX operator_sessions_by_operator ON operator_sessions(operator_id);

-- Every console action: who (the operator's name as it was), what, on what, when.
CREATE TABLE console_audit (
    id        TEXT PRIMARY KEY,
    operator  TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    at        BIGINT NOT NULL
);

-- When each API key was last used, to the minute (written at most once a minute).
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

-- The console searches every client's connections by customer id or by status, newest
-- first, a page at a time (keyset paging on id).
CREATE INDEX connections_customer ON connections(customer_id, id);
CREATE INDEX connections_status ON connections(status, id);
