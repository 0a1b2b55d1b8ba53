"""Rigel's Python module: run Prefect-style @flow files without Prefect (standard library only).

    from rigel import flow, task, get_run_logger

The same names are importable from `prefect`, together with the deployment-file names the
Prefect 2 documentation uses (prefect.deployments.DeploymentSpec, schedules, flow runners and
storage blocks). Anything else fails with "not supported by Rigel's Prefect-compatible module".
"""

from rigel._compat import NotSupportedError, module_getattr
from rigel._flows import Flow, Task, flow, get_run_logger, task

__all__ = ["Flow", "Task", "flow", "task", "get_run_logger", "DeploymentSpec", "NotSupportedError"]

_missing = module_getattr("rigel")


def __getattr__(name):
    if name == "DeploymentSpec":
        from rigel.deployments import DeploymentSpec

        return DeploymentSpec
    return _missing(name)
