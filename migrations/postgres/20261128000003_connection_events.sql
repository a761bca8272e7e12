-- The activity log: append-only events per connection. Never holds a secret or a token.
CREATE TABLE connection_events (
    id             TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    at             BIGINT NOT NULL,
    api_key_id     TEXT,
    data           TEXT NOT NULL
);
CREATE INDEX connection_events_by_connection ON connection_events(connection_id, id);
