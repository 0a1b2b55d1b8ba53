-- API keys. Only the SHA-256 digest of a key is stored (hex); the key itself is shown once.
-- Revoked keys stay (names in audit trails keep meaning), so a name is unique only among keys
-- not revoked.
CREATE TABLE api_key (
    id BLOB PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    queues TEXT NOT NULL DEFAULT '[]',
    digest TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    expires INTEGER,
    last_used INTEGER,
    revoked INTEGER
);
CREATE UNIQUE INDEX api_key_active_name ON api_key (name) WHERE revoked IS NULL;
