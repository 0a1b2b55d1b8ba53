-- Indexes for the scheduler and the late-runs service.

-- A deployment's auto-scheduled runs by time: the scheduler's "latest materialised run" and
-- "runs still ahead" probes, and the delete of not-yet-due runs when a schedule changes.
CREATE INDEX flow_run_auto_scheduled ON flow_run (deployment_id, next_scheduled_start_time)
    WHERE auto_scheduled = 1;

-- Runs still named Scheduled, by time: the late-runs service finds the overdue ones without
-- walking the Late runs that pile up while no agent takes them.
CREATE INDEX flow_run_scheduled_due ON flow_run (next_scheduled_start_time)
    WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled';

-- Deployments with an active schedule: the scheduler walks these without reading their rows.
CREATE INDEX deployment_active_schedule ON deployment (id)
    WHERE schedule IS NOT NULL AND is_schedule_active = 1;
