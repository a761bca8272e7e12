-- Stored answers are sealed under the key-encryption key from now on: answers kept in plain
-- text by earlier versions (they hold live tokens) are dropped, and expired keys are purged
-- by age.
DELETE FROM idempotency_keys;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
