# A flow that logs through get_run_logger(): each record becomes one of the run's log records,
# with its level. Its code is kept in a local storage block.
#
# The seed's own example uses S3StorageBlock(bucket=..., aws_access_key_id=...,
# aws_secret_access_key=...) from prefect.blocks.storage, or flow_storage="<a block's id or
# name>"; Rigel registers such a block too, but cannot upload to S3 yet.
import os
import tempfile

from prefect import flow, get_run_logger
from prefect.blocks.storage import LocalStorageBlock
from prefect.deployments import DeploymentSpec


@flow
def hello_storage():
    logger = get_run_logger()
    logger.info("Uses a storage block on the flow runner!")
    logger.debug("Only shown with RIGEL_FLOW_LOG_LEVEL=DEBUG")
    logger.warning("Storage is a local folder: agents on other machines cannot read it")


DeploymentSpec(
    flow=hello_storage,
    name="storage instance test",
    flow_storage=LocalStorageBlock(
        storage_path=os.path.join(tempfile.gettempdir(), "rigel-examples-storage")
    ),
)
