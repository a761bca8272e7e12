-- Clients, API keys, connections, signing keys and the issuance record.
CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients(id),
    digest      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_client ON api_keys(client_id);

CREATE TABLE connections (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id),
    customer_id  TEXT NOT NULL,
    retailer_id  TEXT NOT NULL,
    email        TEXT,
    mobile       TEXT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'initialized', 'unauthenticated', 'disconnected')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX connections_client_customer ON connections(client_id, customer_id);

CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY,
    alg                 TEXT NOT NULL CHECK (alg IN ('EdDSA', 'HS256')),
    state               TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    public_key          BYTEA,
    private_key_sealed  BYTEA NOT NULL,
    created_at          BIGINT NOT NULL,
    activated_at        BIGINT,
    retired_at          BIGINT
);
-- At most one active key per algorithm, whoever races to create it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys(alg) WHERE state = 'active';

CREATE TABLE issued_tokens (
    jti            TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    api_key_id     TEXT NOT NULL,
    kid            TEXT NOT NULL,
    issued_at      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX issued_tokens_connection ON issued_tokens(connection_id);
