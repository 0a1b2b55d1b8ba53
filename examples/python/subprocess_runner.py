# A subprocess flow runner with extra environment variables. The runner could also pick the
# interpreter: SubprocessFlowRunner(virtualenv="/path/to/venv") or condaenv="name".
import os

from prefect import flow
from prefect.deployments import DeploymentSpec
from prefect.flow_runners import FlowRunnerSettings, SubprocessFlowRunner


@flow
def hello_env(name: str = "world"):
    print(f"{os.environ['GREETING']} {name}!")


DeploymentSpec(
    flow=hello_env,
    name="hello-subprocess",
    flow_runner=SubprocessFlowRunner(env={"GREETING": "Howdy"}),
    tags=["foo"],
)

# The same runner written as settings.
DeploymentSpec(
    flow=hello_env,
    name="hello-subprocess-settings",
    flow_runner=FlowRunnerSettings(type="subprocess", config={"env": {"GREETING": "Hi"}}),
    tags=["foo"],
)
