-- API tokens: each authenticates one member of one alliance on the HTTP API.
-- Only a SHA-256 hash of the token is kept; the token itself is shown once, when it is issued.
CREATE TABLE accord.api_tokens (
    token_id    uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    alliance_id text NOT NULL,
    member_id   text NOT NULL,
    label       text NOT NULL DEFAULT '',
    issued_by   text NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_tokens_member ON accord.api_tokens (alliance_id, member_id);

COMMENT ON TABLE accord.api_tokens IS
    'HTTP API credentials: one row per issued token, stored as sha256(token); revoked_at set on revocation.';

-- The application issues and revokes tokens, so its role may insert and update them (not delete).
GRANT SELECT, INSERT, UPDATE ON accord.api_tokens TO accord_app;
