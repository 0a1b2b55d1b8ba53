-- Secrets the server makes for itself on first start, e.g. the key that signs per-run tokens.
CREATE TABLE server_secret (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
