"""What lies outside the supported subset fails with a clear error instead of an AttributeError."""

import sys

PREFIX = "not supported by Rigel's Prefect-compatible module: "


class NotSupportedError(ImportError):
    """A name (or an argument) of Prefect's API that Rigel's module does not provide."""


def not_supported(what):
    return NotSupportedError(PREFIX + what)


def module_getattr(module_name):
    """A module-level __getattr__: a submodule not imported yet is imported; other names are
    "not supported". Dunder probes stay AttributeErrors so that hasattr() and the import
    system behave."""

    def __getattr__(name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError("module %r has no attribute %r" % (module_name, name))
        import importlib

        full = module_name + "." + name
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name != full:
                raise
        raise not_supported(full)

    return __getattr__


def reject_arguments(call, unknown):
    """Raises for keyword arguments outside the supported subset."""
    if unknown:
        raise not_supported("%s(%s=...)" % (call, sorted(unknown)[0]))


class _UnsupportedSubmodules:
    """Consulted after the normal finders: any other prefect.* module is not supported."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.startswith("prefect."):
            raise not_supported(fullname)
        return None

    @staticmethod
    def invalidate_caches():
        pass


def install_finder():
    if not any(isinstance(f, _UnsupportedSubmodules) for f in sys.meta_path):
        sys.meta_path.append(_UnsupportedSubmodules())
