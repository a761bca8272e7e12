-- Link: the customer's side of a connection.

-- A client's link tokens: bearer secrets for one customer, kept as digests only.
CREATE TABLE link_tokens (
    id           TEXT NOT NULL,
    digest       BLOB PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients(id),
    customer_id  TEXT NOT NULL,
    email        TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX link_tokens_by_customer ON link_tokens(client_id, customer_id, created_at, id);

-- The exact URLs a client lets Link send a customer back to.
CREATE TABLE redirect_urls (
    client_id   TEXT NOT NULL REFERENCES clients(id),
    url         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, url)
);

-- The connector's sign-in pages: per retailer, or '*' for any retailer.
CREATE TABLE connector_link_urls (
    connector_id  TEXT NOT NULL REFERENCES connector_credentials(id),
    retailer_id   TEXT NOT NULL,
    url           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (connector_id, retailer_id)
);

-- One customer's pass through the hosted Link flow. Its cookie and the connector's
-- reference are kept as digests only.
CREATE TABLE link_sessions (
    id                 TEXT PRIMARY KEY,
    cookie_digest      BLOB NOT NULL UNIQUE,
    client_id          TEXT NOT NULL REFERENCES clients(id),
    customer_id        TEXT NOT NULL,
    email              TEXT,
    entry              TEXT NOT NULL,
    link_token_digest  BLOB,
    token_jti          TEXT,
    connection_id      TEXT,
    retailer_id        TEXT,
    redirect_url       TEXT,
    state              TEXT NOT NULL,
    reference_digest   BLOB UNIQUE,
    connector_id       TEXT,
    reason             TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL
);
CREATE INDEX link_sessions_by_customer ON link_sessions(client_id, customer_id, created_at);
CREATE INDEX link_sessions_by_time ON link_sessions(created_at);
