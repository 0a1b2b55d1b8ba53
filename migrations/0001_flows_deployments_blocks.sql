-- Flows, deployments and storage blocks.
-- Conventions: ids are UUIDv7 stored as 16-byte BLOBs (time-ordered, so inserts append to the
-- b-tree); timestamps are INTEGER microseconds since the Unix epoch (UTC); JSON documents are TEXT.

CREATE TABLE flow (
    id      BLOB PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL UNIQUE,
    tags    TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);

CREATE TABLE block (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    -- canonical JSON (keys sorted) so that equal configs compare equal
    config     TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created    INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    UNIQUE (type, config)
);
-- at most one default block
CREATE UNIQUE INDEX block_single_default ON block (is_default) WHERE is_default = 1;

-- bytes kept by `server` blocks
CREATE TABLE block_data (
    block_id BLOB NOT NULL REFERENCES block (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    data     BLOB NOT NULL,
    created  INTEGER NOT NULL,
    PRIMARY KEY (block_id, key)
) WITHOUT ROWID;

CREATE TABLE deployment (
    id                 BLOB PRIMARY KEY NOT NULL,
    flow_id            BLOB NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    description        TEXT,
    flow_data          TEXT NOT NULL,
    -- the block a `blockstorage` flow_data points at; a block in use can't be deleted
    storage_block_id   BLOB REFERENCES block (id) ON DELETE RESTRICT,
    schedule           TEXT,
    is_schedule_active INTEGER NOT NULL DEFAULT 1,
    parameters         TEXT NOT NULL DEFAULT '{}',
    parameter_schema   TEXT,
    tags               TEXT NOT NULL DEFAULT '[]',
    flow_runner        TEXT NOT NULL,
    work_queue_name    TEXT,
    created            INTEGER NOT NULL,
    updated            INTEGER NOT NULL,
    UNIQUE (flow_id, name)
);
CREATE INDEX deployment_name ON deployment (name, flow_id);
CREATE INDEX deployment_created ON deployment (created);
CREATE INDEX deployment_updated ON deployment (updated);
CREATE INDEX deployment_storage_block ON deployment (storage_block_id) WHERE storage_block_id IS NOT NULL;
