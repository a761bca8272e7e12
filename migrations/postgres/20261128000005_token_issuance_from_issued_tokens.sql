-- Each token records the customer id its claims carry (NULL for older tokens).
ALTER TABLE issued_tokens ADD COLUMN customer_id TEXT;
-- A token's issuance is read from its issued_tokens row instead of a copy in
-- connection_events: one row written per token on the hot path instead of two. The copies
-- are removed; the activity log shows the same events, with the jti as their event id.
-- The index by connection carries jti for paging the activity log.
DROP INDEX issued_tokens_connection;
CREATE INDEX issued_tokens_connection ON issued_tokens(connection_id, jti);
DELETE FROM connection_events WHERE kind = 'token_issued';
