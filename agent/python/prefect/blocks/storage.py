"""prefect.blocks.storage: the storage blocks Rigel has (S3 and local folders)."""

from rigel._compat import module_getattr
from rigel.deployments import LocalStorageBlock, S3StorageBlock

__all__ = ["LocalStorageBlock", "S3StorageBlock"]
__getattr__ = module_getattr("prefect.blocks.storage")
