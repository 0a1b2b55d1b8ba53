# Tasks: each call of a @task function is a task run with its own states; a failing call is
# retried (retries, retry_delay_seconds) before it fails the flow.
import random

from prefect import flow, get_run_logger, task


@task
def extract(rows: int) -> list:
    return list(range(rows))


@task(retries=2, retry_delay_seconds=0.5)
def transform(data: list, failure_rate: float) -> list:
    if random.random() < failure_rate:
        raise ConnectionError("the transformation service did not answer")
    return [x * 2 for x in data]


@task
def load(data: list) -> None:
    get_run_logger().info("loaded %d rows (sum %d)", len(data), sum(data))


@flow(name="etl", description="Extract, transform (with retries) and load some rows")
def etl(rows: int = 10, failure_rate: float = 0.3):
    load(transform(extract(rows), failure_rate))


from prefect.deployments import DeploymentSpec

DeploymentSpec(flow=etl, name="etl-nightly", parameters={"rows": 100}, tags=["etl"])
