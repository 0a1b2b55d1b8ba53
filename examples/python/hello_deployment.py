# A separate deployment file: the flow is in hello_flow.py (a relative flow_location is taken
# from this file's folder). Runs daily.
from datetime import timedelta

from prefect.deployments import DeploymentSpec
from prefect.orion.schemas.schedules import IntervalSchedule

DeploymentSpec(
    flow_location="./hello_flow.py",
    name="hello-world-daily",
    schedule=IntervalSchedule(interval=timedelta(days=1)),
    tags=["earth"],
)
