"""prefect.orion.schemas: only schedules is provided."""

from rigel._compat import module_getattr

__getattr__ = module_getattr("prefect.orion.schemas")
