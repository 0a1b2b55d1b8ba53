//! Scheduled runs carry their effective parameters: the flow's declared defaults under the
//! deployment's parameters.

use chrono::TimeDelta;
use rigel_server::services::scheduler::schedule_once;

use super::*;

#[tokio::test]
async fn scheduled_runs_take_declared_defaults_under_the_deployment_parameters() {
    let (app, clock) = app_at("2026-01-01T00:00:00Z").await;
    let mut b = body("d", json!({"cron": "0 * * * *"}));
    b["parameters"] = json!({"n": 2});
    b["parameter_schema"] = json!({"type": "object", "required": [], "properties": {
        "name": {"type": "string", "default": "world", "position": 0},
        "n": {"type": "integer", "default": 1, "position": 1},
        "loud": {"type": "boolean", "position": 2},
    }});
    let d = id(&app.create_deployment(b).await);
    let want = json!({"name": "world", "n": 2});
    // runs made when the deployment is created ...
    let first = runs(&app, d).await;
    assert_eq!(first.len(), 3);
    let (_, run) = app.get(&format!("/api/flow_runs/{}", first[0].id)).await;
    assert_eq!(run["parameters"], want);
    // ... and by a later scheduler pass, which reads deployments in bulk
    clock.advance(TimeDelta::hours(5));
    assert!(schedule_once(&app.state).await.unwrap().runs_created > 0);
    let later = runs(&app, d).await;
    let newest = later.last().unwrap();
    assert!(!first.iter().any(|r| r.id == newest.id));
    let (_, run) = app.get(&format!("/api/flow_runs/{}", newest.id)).await;
    assert_eq!(run["parameters"], want);
}
