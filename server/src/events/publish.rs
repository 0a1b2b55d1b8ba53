//! What handlers publish: one method per kind of change, each building its event's payload.

use super::*;

impl EventBus {
    /// A run was created, or moved to `state`.
    pub fn flow_run_state(&self, run: &FlowRun, state: &State, new_run: bool) {
        self.publish(
            EventKind::FlowRunState,
            Some(run.id),
            run.deployment_id,
            &FlowRunStateEvent::new(run, state, new_run),
        );
    }

    /// A run was created (its first state is announced as a `flow_run.state` event).
    pub fn flow_run_created(&self, run: &FlowRun) {
        self.flow_run_state(run, &run.state, true);
    }

    /// Runs created at once (a backfill, a scheduler pass).
    pub fn runs_created(&self, runs: &[FlowRun]) {
        for run in runs {
            self.flow_run_created(run);
        }
    }

    /// Runs moved to their current state together (the server's late-runs and reaper passes).
    pub fn runs_moved(&self, runs: &[FlowRun]) {
        for run in runs {
            self.flow_run_state(run, &run.state, false);
        }
    }

    /// Runs an agent claimed (moved to PENDING).
    pub fn claimed(&self, runs: &[ClaimedRun]) {
        for c in runs {
            self.flow_run_state(&c.flow_run, &c.flow_run.state, false);
        }
    }

    /// `deployment.created` or `deployment.updated`.
    pub fn deployment_saved(&self, deployment: &Deployment, created: bool) {
        let kind = if created {
            EventKind::DeploymentCreated
        } else {
            EventKind::DeploymentUpdated
        };
        // one stream serves every role, monitors included: runner `env` values are left out
        let mut shown = deployment.clone();
        shown.flow_runner.redact();
        let payload = DeploymentEvent {
            deployment_id: deployment.id,
            deployment: Some(shown),
        };
        self.publish(kind, None, Some(deployment.id), &payload);
    }

    pub fn deployment_deleted(&self, id: Uuid) {
        let payload = DeploymentEvent {
            deployment_id: id,
            deployment: None,
        };
        self.publish(EventKind::DeploymentDeleted, None, Some(id), &payload);
    }

    /// `work_queue.created|updated` with the queue, or `work_queue.deleted` without it.
    pub fn work_queue(&self, kind: EventKind, id: Uuid, queue: Option<&WorkQueue>) {
        let payload = WorkQueueEvent {
            work_queue_id: id,
            work_queue: queue.cloned(),
        };
        self.publish(kind, None, None, &payload);
    }

    /// `agent.heartbeat` for a heartbeat, `agent.status` for a registration or removal.
    pub fn agent(&self, id: Uuid, change: AgentChange, agent: Option<&Agent>) {
        let kind = match change {
            AgentChange::Heartbeat => EventKind::AgentHeartbeat,
            AgentChange::Registered | AgentChange::Deregistered => EventKind::AgentStatus,
        };
        let payload = AgentEvent {
            agent_id: id,
            change,
            agent: agent.cloned(),
        };
        self.publish(kind, None, None, &payload);
    }

    /// A stored batch of log records: one `log` event per run, records in batch order.
    pub fn logs_posted(&self, records: &[LogCreate]) {
        let mut runs: Vec<Uuid> = Vec::new();
        let mut by_run: HashMap<Uuid, Vec<LogRecord>> = HashMap::new();
        for r in records {
            let batch = by_run.entry(r.flow_run_id).or_insert_with(|| {
                runs.push(r.flow_run_id);
                Vec::new()
            });
            batch.push(LogRecord {
                task_run_id: r.task_run_id,
                level: r.level,
                timestamp: r.timestamp,
                message: r.message.clone(),
            });
        }
        for run in runs {
            let records = by_run.remove(&run).unwrap_or_default();
            let payload = LogEvent {
                flow_run_id: run,
                records,
            };
            self.publish(EventKind::Log, Some(run), None, &payload);
        }
    }
}
