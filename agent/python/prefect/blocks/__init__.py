"""prefect.blocks: only storage is provided."""

from rigel._compat import module_getattr

__getattr__ = module_getattr("prefect.blocks")
