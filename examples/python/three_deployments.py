# Multiple deployments for one flow: Trillian unscheduled, Arthur daily, Marvin weekly, each
# with its own parameters and tags.
from datetime import timedelta

from prefect.deployments import DeploymentSpec
from prefect.orion.schemas.schedules import IntervalSchedule

DeploymentSpec(
    name="hello-trillian",
    flow_location="./hello_flow.py",
    tags=["trillian", "ad-hoc"],
    parameters={"name": "Trillian"},
)

DeploymentSpec(
    name="hello-arthur",
    flow_location="./hello_flow.py",
    schedule=IntervalSchedule(interval=timedelta(days=1)),
    tags=["arthur", "daily"],
    parameters={"name": "Arthur"},
)

DeploymentSpec(
    name="hello-marvin",
    flow_location="./hello_flow.py",
    schedule=IntervalSchedule(interval=timedelta(weeks=1)),
    tags=["marvin", "weekly"],
    parameters={"name": "Marvin"},
)
