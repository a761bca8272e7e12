-- Each token records the customer id its claims carry (NULL for older tokens).
-- A token's issuance is read from its issued_tokens row instead of a copy in
-- connection_events: one row written per token on the hot path instead of two. The copies
-- are removed; the activity log shows the same events, with the jti as their event id.
-- The table becomes clustered on jti (ids increase, so new rows append), and the index
-- by connection carries jti for paging the activity log.
CREATE TABLE issued_tokens_clustered (
    jti            TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    api_key_id     TEXT NOT NULL,
    kid            TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    customer_id    TEXT
) WITHOUT ROWID;
INSERT INTO issued_tokens_clustered (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, revoked_at)
    SELECT jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at, revoked_at FROM issued_tokens;
DROP TABLE issued_tokens;
ALTER TABLE issued_tokens_clustered RENAME TO issued_tokens;
CREATE INDEX issued_tokens_connection ON issued_tokens(connection_id, jti);
DELETE FROM connection_events WHERE kind = 'token_issued';
