-- Retention: every table that grows with traffic is pruned by age in small batches, each
-- batch found through an index on the column its rule ages by.
-- Issuance records go a window after their token expires.
CREATE INDEX issued_tokens_by_expiry ON issued_tokens (expires_at);
-- Activity events go a window after they happened.
CREATE INDEX connection_events_by_age ON connection_events (at);
-- Webhook deliveries go a window after they were delivered or given up; pending ones
-- (neither) are never in this index.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (COALESCE(delivered_at, failed_at))
    WHERE delivered_at IS NOT NULL OR failed_at IS NOT NULL;
-- An outbox event goes once its window is over and no delivery of it is left.
CREATE INDEX webhook_events_by_age ON webhook_events (created_at);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_seq);
