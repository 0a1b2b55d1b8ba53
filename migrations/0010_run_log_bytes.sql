-- Bytes of log messages each run has stored, so a run's logs can be capped without summing them.
ALTER TABLE flow_run ADD COLUMN log_bytes INTEGER NOT NULL DEFAULT 0;
