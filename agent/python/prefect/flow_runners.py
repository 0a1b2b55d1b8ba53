"""prefect.flow_runners: the flow runners Rigel's agents run."""

from rigel._compat import module_getattr
from rigel.deployments import FlowRunnerSettings, SubprocessFlowRunner, UniversalFlowRunner

__all__ = ["FlowRunnerSettings", "SubprocessFlowRunner", "UniversalFlowRunner"]
__getattr__ = module_getattr("prefect.flow_runners")
