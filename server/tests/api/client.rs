//! The typed client against a real socket: every endpoint it covers, and its error mapping.

use rigel_common::block::{Block, BlockCreate, BlockFilter, BlockType};
use rigel_common::client::{ClientError, RigelClient, Upserted};
use rigel_common::deployment::{
    Deployment, DeploymentCount, DeploymentCreate, DeploymentFilter, DeploymentUpdate,
};
use rigel_common::error::ErrorCode;
use rigel_common::flow::{Flow, FlowCreate, FlowFilter};
use rigel_common::flow_data::FlowData;
use rigel_common::schedule::{IntervalSchedule, Schedule};
use rigel_server::ServerConfig;
use tokio::sync::oneshot;
use uuid::Uuid;

struct Running {
    client: RigelClient,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(format!("sqlite://{}", dir.path().join("c.db").display()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        rigel_server::serve(config, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running {
        client: RigelClient::new(format!("http://{addr}/api")),
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn typed_client_round_trip() {
    let srv = start().await;
    let c = &srv.client;
    assert_eq!(c.health().await.unwrap().status, "ok");
    let flow = flows_round_trip(c).await;
    let block = blocks_round_trip(c).await;
    let (spec, d) = deployments_round_trip(c, &flow, &block).await;
    errors_come_back_typed(c, &spec, d.id, block.id).await;
    c.clear_default_block().await.unwrap();
    c.delete_block(block.id).await.unwrap();
    c.delete_flow(flow.id).await.unwrap();
    assert!(c.read_flow(flow.id).await.unwrap_err().is_not_found());
    srv.stop().await;
}

/// Flows: created, read by id and by name, listed.
async fn flows_round_trip(c: &RigelClient) -> Flow {
    let (flow, how) = c
        .create_flow(&FlowCreate {
            name: "hello-world".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(how, Upserted::Created);
    assert_eq!(c.read_flow(flow.id).await.unwrap().name, "hello-world");
    assert_eq!(
        c.read_flow_by_name("hello-world").await.unwrap().id,
        flow.id
    );
    assert_eq!(
        c.filter_flows(&FlowFilter::default()).await.unwrap().len(),
        1
    );
    flow
}

/// Storage blocks: created, made the default, data stored and read back, listed.
async fn blocks_round_trip(c: &RigelClient) -> Block {
    let (block, how) = c
        .create_block(&BlockCreate {
            name: Some("code".into()),
            kind: BlockType::Server,
            config: serde_json::json!({}),
        })
        .await
        .unwrap();
    assert_eq!(how, Upserted::Created);
    assert!(c.default_block().await.unwrap().is_none());
    c.set_default_block(block.id).await.unwrap();
    assert_eq!(c.default_block().await.unwrap().unwrap().id, block.id);
    let stored = c
        .put_block_data(block.id, "hello.sh", b"echo hi\n".to_vec())
        .await
        .unwrap();
    assert_eq!(stored.size, 8);
    assert_eq!(
        c.get_block_data(block.id, "hello.sh").await.unwrap(),
        b"echo hi\n"
    );
    assert_eq!(c.read_block(block.id).await.unwrap().name, "code");
    assert_eq!(
        c.filter_blocks(&BlockFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    block
}

/// Deployments: created (and found again), read, listed, counted, updated, paused and
/// resumed. Answers the spec it was created from, and the deployment.
async fn deployments_round_trip(
    c: &RigelClient,
    flow: &Flow,
    block: &Block,
) -> (DeploymentCreate, Deployment) {
    let spec = DeploymentCreate {
        name: "storage instance test".into(),
        flow_id: Some(flow.id),
        flow_name: None,
        flow_data: FlowData::block_storage(block.id, "hello.sh"),
        description: None,
        schedule: Some(Schedule::Interval(IntervalSchedule {
            interval: 3600.0,
            anchor_date: None,
            timezone: None,
        })),
        is_schedule_active: None,
        parameters: Default::default(),
        parameter_schema: None,
        tags: vec!["earth".into()],
        flow_runner: None,
        work_queue_name: None,
    };
    let (d, how) = c.create_deployment(&spec).await.unwrap();
    assert_eq!(how, Upserted::Created);
    let (d2, how) = c.create_deployment(&spec).await.unwrap();
    assert_eq!((how, d2.id), (Upserted::Existing, d.id));
    assert_eq!(d.full_name(), "hello-world/storage instance test");
    let by_name = c
        .read_deployment_by_name("hello-world", "storage instance test")
        .await
        .unwrap();
    assert_eq!(by_name.id, d.id);
    assert_eq!(c.read_deployment(d.id).await.unwrap().tags, ["earth"]);
    assert_eq!(
        c.filter_deployments(&DeploymentFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.count_deployments(&DeploymentCount::default())
            .await
            .unwrap(),
        1
    );
    let patched = c
        .update_deployment(
            d.id,
            &DeploymentUpdate {
                tags: Some(vec!["mars".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.tags, ["mars"]);
    assert!(
        !c.set_schedule_active(d.id, false)
            .await
            .unwrap()
            .is_schedule_active
    );
    assert!(
        c.set_schedule_active(d.id, true)
            .await
            .unwrap()
            .is_schedule_active
    );
    (spec, d)
}

/// Errors come back typed: a conflict, a missing object, a field refused.
async fn errors_come_back_typed(c: &RigelClient, spec: &DeploymentCreate, d: Uuid, block: Uuid) {
    let err = c.delete_block(block).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Conflict), "{err}");
    c.delete_deployment(d).await.unwrap();
    let err = c.read_deployment(d).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let mut bad = spec.clone();
    bad.name = "a/b".into();
    match c.create_deployment(&bad).await.unwrap_err() {
        ClientError::Api { status, body } => {
            assert_eq!(status, 422);
            assert_eq!(body.error.details["field"], "name");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_reported_as_such() {
    // bind then drop, so the port is (almost certainly) closed
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = RigelClient::new(format!("http://127.0.0.1:{port}/api"));
    let err = c.health().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("rigel server start"), "{err}");
}

/// `set_flow_run_states`: an answer per proposal; a proposal the server refused with an error
/// comes back as the `ClientError` `set_flow_run_state` would have returned.
#[tokio::test]
async fn several_proposals_come_back_one_answer_each() {
    use rigel_common::flow_run::FlowRunCreate;
    use rigel_common::state::{FlowRunProposal, SetState, SetStateStatus, StateCreate, StateType};

    let srv = start().await;
    let c = &srv.client;
    let (flow, _) = c
        .create_flow(&FlowCreate {
            name: "f".into(),
            tags: vec![],
        })
        .await
        .unwrap();
    let (run, _) = c
        .create_flow_run(&FlowRunCreate {
            flow_id: Some(flow.id),
            ..Default::default()
        })
        .await
        .unwrap();
    let pending = SetState {
        state: StateCreate::new(StateType::Pending),
        force: false,
        claim_token: None,
        transition_id: None,
    };
    let missing = uuid::Uuid::now_v7();
    let answers = c
        .set_flow_run_states(&[
            FlowRunProposal::new(run.id, pending.clone()),
            FlowRunProposal::new(missing, pending.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].as_ref().unwrap().status, SetStateStatus::Accept);
    let err = answers[1].as_ref().unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        matches!(err, ClientError::Api { status: 404, .. }),
        "{err:?}"
    );
    assert!(c.set_flow_run_states(&[]).await.unwrap().is_empty());
    srv.stop().await;
}
