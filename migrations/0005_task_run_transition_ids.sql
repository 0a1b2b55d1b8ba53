-- A task-run state proposal retried with its transition id is answered as the first time, as
-- for flow runs: the id is unique per task run.
CREATE UNIQUE INDEX task_run_state_transition ON task_run_state (task_run_id, transition_id)
    WHERE transition_id IS NOT NULL;
