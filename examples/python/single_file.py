# A single-file deployment: the flow and its DeploymentSpec in one file.
#
#     rigel deployment create examples/python/single_file.py
from prefect import flow


@flow
def hello_world(name="world"):
    print(f"Hello {name}!")


from prefect.deployments import DeploymentSpec

DeploymentSpec(
    flow=hello_world,
    name="hello-world",
    tags=["earth"],
)
