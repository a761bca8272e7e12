-- The retailer catalogue the operator manages (`tessera retailer add|list|remove`), served as
-- GET /retailers and GET /merchants. Seeded with a default list.
CREATE TABLE retailers (
    retailer_id  TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
INSERT INTO retailers (retailer_id, name, created_at) VALUES
    ('amazon', 'Amazon', 0),
    ('costco', 'Costco', 0),
    ('instacart', 'Instacart', 0),
    ('kroger', 'Kroger', 0),
    ('target', 'Target', 0),
    ('walmart', 'Walmart', 0);

-- A connection's purchases, written by the connector (idempotent by purchase_id within the
-- connection). Money is kept as the decimal text it was sent as, never a float. date_key is
-- the purchase time in microseconds since the epoch (UTC), for newest-first listing.
CREATE TABLE purchases (
    connection_id  TEXT NOT NULL,
    purchase_id    TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    date           TEXT NOT NULL,
    date_key       BIGINT NOT NULL,
    total          TEXT NOT NULL,
    tax            TEXT,
    subtotal       TEXT,
    item_count     BIGINT NOT NULL,
    items          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (connection_id, purchase_id)
);
-- A listing page is one range scan of this index, whatever the table's size.
CREATE INDEX purchases_newest_first ON purchases(connection_id, date_key DESC, purchase_id DESC);
