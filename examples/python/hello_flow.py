# The seed's flow file: prints a greeting. Rigel reads it (never runs it) to find the flow
# "hello-world" and its parameter; runs call hello_world() with the run's parameters.
from prefect import flow


@flow
def hello_world(name="world"):
    print(f"Hello {name}!")


# Note: a deployed flow does not need a command to
# explicitly run the flow. The API handles this for you.
if __name__ == "__main__":
    hello_world()
