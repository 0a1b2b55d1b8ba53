-- Flow runs and their state history, task runs, work queues, agents and logs.
-- Same conventions as 0001: UUIDv7 BLOB ids, INTEGER microsecond timestamps, JSON as TEXT.

CREATE TABLE work_queue (
    id                BLOB PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT,
    is_paused         INTEGER NOT NULL DEFAULT 0,
    -- NULL: unlimited; 0: take nothing
    concurrency_limit INTEGER,
    -- {"tags": [...], "deployment_ids": [...]|null, "flow_runner_types": [...]|null}
    filter            TEXT NOT NULL DEFAULT '{}',
    last_polled       INTEGER,
    created           INTEGER NOT NULL,
    updated           INTEGER NOT NULL
);

CREATE TABLE flow_run (
    id                        BLOB PRIMARY KEY NOT NULL,
    name                      TEXT NOT NULL,
    flow_id                   BLOB NOT NULL REFERENCES flow (id) ON DELETE CASCADE,
    deployment_id             BLOB REFERENCES deployment (id) ON DELETE SET NULL,
    -- the queue that claimed the run
    work_queue_id             BLOB REFERENCES work_queue (id) ON DELETE SET NULL,
    parameters                TEXT NOT NULL DEFAULT '{}',
    tags                      TEXT NOT NULL DEFAULT '[]',
    idempotency_key           TEXT,
    auto_scheduled            INTEGER NOT NULL DEFAULT 0,
    flow_runner               TEXT,
    flow_runner_type          TEXT,
    -- the current state, inline, so reads never join the history
    state_type                TEXT NOT NULL,
    state_name                TEXT NOT NULL,
    state_timestamp           INTEGER NOT NULL,
    state_message             TEXT,
    state_scheduled_time      INTEGER,
    run_count                 INTEGER NOT NULL DEFAULT 0,
    expected_start_time       INTEGER,
    next_scheduled_start_time INTEGER,
    start_time                INTEGER,
    end_time                  INTEGER,
    -- microseconds spent RUNNING
    total_run_time            INTEGER NOT NULL DEFAULT 0,
    agent_id                  BLOB,
    claim_token               BLOB,
    created                   INTEGER NOT NULL,
    updated                   INTEGER NOT NULL,
    UNIQUE (flow_id, idempotency_key)
);
-- claims and "runs in state X due before T"
CREATE INDEX flow_run_state_next ON flow_run (state_type, next_scheduled_start_time);
-- "runs in state X", newest/oldest expected start first
CREATE INDEX flow_run_state_expected ON flow_run (state_type, expected_start_time);
-- runs of one deployment
CREATE INDEX flow_run_deployment ON flow_run (deployment_id, expected_start_time);
CREATE INDEX flow_run_expected ON flow_run (expected_start_time);
CREATE INDEX flow_run_end ON flow_run (end_time) WHERE end_time IS NOT NULL;
-- concurrency: runs a queue holds in PENDING/RUNNING
CREATE INDEX flow_run_queue_active ON flow_run (work_queue_id, state_type) WHERE work_queue_id IS NOT NULL;

CREATE TABLE flow_run_state (
    id             BLOB PRIMARY KEY NOT NULL,
    flow_run_id    BLOB NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    type           TEXT NOT NULL,
    name           TEXT NOT NULL,
    timestamp      INTEGER NOT NULL,
    message        TEXT,
    scheduled_time INTEGER,
    -- client-chosen id of the proposal that produced this state; a retried proposal finds it here
    transition_id  BLOB
);
CREATE INDEX flow_run_state_run ON flow_run_state (flow_run_id, timestamp);
CREATE UNIQUE INDEX flow_run_state_transition ON flow_run_state (flow_run_id, transition_id)
    WHERE transition_id IS NOT NULL;

CREATE TABLE task_run (
    id                   BLOB PRIMARY KEY NOT NULL,
    flow_run_id          BLOB NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    state_type           TEXT NOT NULL,
    state_name           TEXT NOT NULL,
    state_timestamp      INTEGER NOT NULL,
    state_message        TEXT,
    state_scheduled_time INTEGER,
    run_count            INTEGER NOT NULL DEFAULT 0,
    start_time           INTEGER,
    end_time             INTEGER,
    total_run_time       INTEGER NOT NULL DEFAULT 0,
    created              INTEGER NOT NULL,
    updated              INTEGER NOT NULL
);
CREATE INDEX task_run_flow_run ON task_run (flow_run_id, created);

CREATE TABLE task_run_state (
    id             BLOB PRIMARY KEY NOT NULL,
    task_run_id    BLOB NOT NULL REFERENCES task_run (id) ON DELETE CASCADE,
    type           TEXT NOT NULL,
    name           TEXT NOT NULL,
    timestamp      INTEGER NOT NULL,
    message        TEXT,
    scheduled_time INTEGER,
    transition_id  BLOB
);
CREATE INDEX task_run_state_run ON task_run_state (task_run_id, timestamp);

CREATE TABLE agent (
    id              BLOB PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    work_queue_id   BLOB REFERENCES work_queue (id) ON DELETE SET NULL,
    work_queue_name TEXT NOT NULL,
    hostname        TEXT,
    pid             INTEGER,
    version         TEXT,
    started         INTEGER NOT NULL,
    last_heartbeat  INTEGER NOT NULL,
    runs_in_flight  TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX agent_heartbeat ON agent (last_heartbeat);

CREATE TABLE log (
    -- the rowid doubles as a stable cursor for followers
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_run_id BLOB NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    task_run_id BLOB,
    level       INTEGER NOT NULL,
    timestamp   INTEGER NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX log_flow_run ON log (flow_run_id, id);
