"""Rigel's stand-in for the part of Prefect 2's API that Prefect's deployment documentation
uses: flow, task and get_run_logger here, and DeploymentSpec, schedules, flow runners and
storage blocks in the submodules. Other names fail with a clear "not supported" error."""

from rigel._compat import install_finder, module_getattr
from rigel._flows import flow, get_run_logger, task

install_finder()

__all__ = ["flow", "task", "get_run_logger"]
__getattr__ = module_getattr("prefect")
