-- Engines heartbeat the runs they execute; the zombie reaper crashes RUNNING runs whose
-- heartbeat went quiet. Kept in a narrow table so frequent heartbeats touch little.
CREATE TABLE flow_run_heartbeat (
    flow_run_id BLOB PRIMARY KEY NOT NULL REFERENCES flow_run (id) ON DELETE CASCADE,
    last_seen   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX flow_run_heartbeat_seen ON flow_run_heartbeat (last_seen);
