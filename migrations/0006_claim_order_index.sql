-- Claims take Scheduled runs in (next_scheduled_start_time, id) order. With an index on
-- (state_type, next_scheduled_start_time) only, runs due at the same instant (a burst) were
-- sorted by id on every claim: each claim of 16 runs out of 5,000 due read and sorted all of
-- them. With id in the index, a claim reads just the runs it takes. The new index covers every
-- query the old one served, so the old one goes.
CREATE INDEX flow_run_state_next_id ON flow_run (state_type, next_scheduled_start_time, id);
DROP INDEX flow_run_state_next;
