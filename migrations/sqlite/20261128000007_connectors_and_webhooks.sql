-- The connector's credentials: the operator's service that moves connections through their
-- statuses. Only a digest of each is kept.
CREATE TABLE connector_credentials (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    digest      BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- A client's webhook endpoints. Signing secrets are sealed under the KEK (they must be read
-- to sign); during a rotation the previous one still signs until it expires.
CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    client_id              TEXT NOT NULL REFERENCES clients(id),
    name                   TEXT NOT NULL,
    url                    TEXT NOT NULL,
    event_types            TEXT NOT NULL,
    is_active              INTEGER NOT NULL,
    secret_sealed          BLOB NOT NULL,
    previous_secret_sealed BLOB,
    previous_expires_at    BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    last_success_at        BIGINT,
    disabled_reason        TEXT
);
CREATE INDEX webhooks_by_client ON webhooks(client_id, id);

-- The outbox: every event, written in the same transaction as the change it announces.
-- seq orders one connection's events as their changes committed.
CREATE TABLE webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    client_id      TEXT NOT NULL,
    connection_id  TEXT NOT NULL,
    type           TEXT NOT NULL,
    payload        TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- One delivery per (webhook, event), created with the event for every active webhook of the
-- client subscribed to its type; claimed by one replica at a time through its lease.
CREATE TABLE webhook_deliveries (
    webhook_id       TEXT NOT NULL,
    event_seq        BIGINT NOT NULL,
    client_id        TEXT NOT NULL,
    connection_id    TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    lease_until      BIGINT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     BIGINT,
    failed_at        BIGINT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries(webhook_id, connection_id, event_seq) WHERE delivered_at IS NULL AND failed_at IS NULL;
