"""prefect.deployments: DeploymentSpec."""

from rigel._compat import module_getattr
from rigel.deployments import DeploymentSpec

__all__ = ["DeploymentSpec"]
__getattr__ = module_getattr("prefect.deployments")
