//! The log shipper used as a library: runs sharing it, and a run the server no longer has.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_share_one_log_shipper_and_a_refused_run_costs_only_its_own_lines() {
    use rigel_agent::logs::LogShipper;
    let (_home, _server, client) = start_server(&[]);
    let d = deploy(&client, "quiet", "#!/bin/sh\ntrue\n", None).await;
    let (a, b, gone, silent) = (
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
        run(&client, d, serde_json::json!({})).await.id,
    );
    client.delete_flow_run(gone).await.unwrap();
    let shipper = LogShipper::start(client.clone());
    let (la, lb, lgone) = (
        shipper.logger(a, false),
        shipper.logger(b, false),
        shipper.logger(gone, false),
    );
    // interleaved, so the server sees them in shared requests; the deleted run's are refused
    for i in 0..3 {
        la.info(&format!("a{i}")).await;
        lgone.info(&format!("gone{i}")).await;
        lb.info(&format!("b{i}")).await;
    }
    // a flush answers once the lines are stored: they are readable at once, with no waiting
    la.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, a).await, ["a0", "a1", "a2"]);
    lb.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, b).await, ["b0", "b1", "b2"]);
    // a logger that sent nothing is flushed at once, and the shipper still works after a refusal
    let quiet = tokio::time::timeout(
        Duration::from_secs(10),
        shipper.logger(silent, false).flush(Duration::from_secs(60)),
    )
    .await;
    assert!(quiet.is_ok(), "an empty flush waited");
    la.info("a3").await;
    la.flush(Duration::from_secs(30)).await;
    assert_eq!(logs(&client, a).await, ["a0", "a1", "a2", "a3"]);
}
