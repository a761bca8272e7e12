-- Retention finds Link sessions and link tokens past their window through these indexes.
CREATE INDEX link_sessions_by_expiry ON link_sessions (expires_at);
CREATE INDEX link_tokens_by_expiry ON link_tokens (expires_at);
