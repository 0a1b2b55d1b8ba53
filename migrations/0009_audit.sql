-- Who changed what. A state written at the request of a named API key records the key's name
-- (NULL: the run's own engine, a service, or a server without keys); other writes made with a
-- key go to the audit table.
ALTER TABLE flow_run_state ADD COLUMN actor TEXT;
ALTER TABLE task_run_state ADD COLUMN actor TEXT;
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT,
    action    TEXT NOT NULL,
    object_id BLOB,
    detail    TEXT
);
CREATE INDEX audit_actor ON audit (actor, id);
