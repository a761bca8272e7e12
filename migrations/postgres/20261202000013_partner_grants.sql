-- Partner apps (OAuth clients of the operator's authorization server) allowed to act for a
-- client. Each grant acts through an API key record of its own whose secret nobody holds, so
-- issuance, rate limits and the activity log treat a partner as that client's key; revoking
-- the grant revokes that record too.
CREATE TABLE partner_grants (
    id                 TEXT PRIMARY KEY,
    issuer             TEXT NOT NULL,
    partner_client_id  TEXT NOT NULL,
    client_id          TEXT NOT NULL REFERENCES clients(id),
    api_key_id         TEXT NOT NULL REFERENCES api_keys(id),
    created_at         BIGINT NOT NULL,
    revoked_at         BIGINT
);
-- At most one live grant per partner and client.
CREATE UNIQUE INDEX partner_grants_live ON partner_grants(issuer, partner_client_id, client_id)
    WHERE revoked_at IS NULL;
