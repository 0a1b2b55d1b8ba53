"""Runs one flow of a Python flow file for Rigel's engine:

    python3 _rigel_bootstrap.py FLOW_FILE FLOW_NAME [PARAMETERS_JSON]

The parameters default to the RIGEL_PARAMETERS environment variable. The file is loaded as a
module (its `if __name__ == "__main__":` block does not run), the flow is found by name, the
parameters are checked against the function's signature, and the flow is called. Exit codes:
0 completed, 1 the flow (or loading its file) raised, 2 bad usage, 3 no such flow or invalid
parameters. Failures are logged with their traceback and summarised for the engine.
"""

import json
import os
import sys


def _fail(summary, detail, code):
    from rigel._flows import structured_output, write_record

    if structured_output():
        write_record({"rigel": "log", "level": 40, "message": detail, "task_run_id": None})
        write_record({"rigel": "error", "message": summary})
    else:
        sys.stderr.write(detail + "\n")
    sys.exit(code)


# -- parameters ----------------------------------------------------------------------------

_SIMPLE = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict,
           "tuple": tuple, "set": set, "frozenset": frozenset, "List": list, "Dict": dict,
           "Tuple": tuple, "Set": set}


class ParameterError(Exception):
    pass


def _expected(annotation):
    """(types or None for "don't check", nullable, allowed values or None)."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        nullable = False
        if text.startswith("Optional[") and text.endswith("]"):
            text, nullable = text[9:-1], True
        parts = text.split("|")
        if "None" in parts:
            nullable = True
            parts = [p for p in parts if p != "None"]
        kinds = [_SIMPLE.get(p.split("[")[0]) for p in parts]
        if not kinds or None in kinds:
            return None, nullable, None
        return tuple(kinds), nullable, None
    if annotation in (str, int, float, bool, list, dict, tuple, set, frozenset):
        return (annotation,), False, None
    if annotation is type(None):
        return (), True, None
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", None) or ()
    if origin in (list, dict, tuple, set, frozenset):
        return (origin,), False, None
    is_union = type(annotation).__name__ == "UnionType" or repr(origin) == "typing.Union"
    if is_union:
        nullable = type(None) in args
        kinds = []
        for a in args:
            if a is type(None):
                continue
            k, _, values = _expected(a)
            if k is None or values is not None:
                return None, nullable, None
            kinds.extend(k)
        return tuple(kinds), nullable, None
    if repr(origin) == "typing.Literal":
        return None, None in args, [a for a in args if a is not None]
    return None, False, None


def _kind_name(t):
    return t.__name__


def _coerce(name, annotation, value, default_is_none):
    kinds, nullable, values = _expected(annotation)
    if value is None:
        if nullable or default_is_none or (kinds is None and values is None):
            return None
        raise ParameterError("parameter '%s' must not be None (null)" % name)
    if values is not None:
        if value in values:
            return value
        raise ParameterError("parameter '%s' must be one of %s, not %r" % (name, ", ".join(map(repr, values)), value))
    if kinds is None:
        return value
    for kind in kinds:
        if kind is bool:
            if isinstance(value, bool):
                return value
        elif isinstance(value, bool):
            continue
        elif kind is int:
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind is float:
            if isinstance(value, (int, float)):
                return float(value)
        elif kind in (tuple, set, frozenset):
            if isinstance(value, list):
                return kind(value)
        elif isinstance(value, kind):
            return value
    wanted = " or ".join(_kind_name(k) for k in kinds) or "None"
    raise ParameterError(
        "parameter '%s' must be %s, not %s (%s)" % (name, wanted, type(value).__name__, json.dumps(value)[:200])
    )


def bind(fn, params):
    """(args, kwargs) calling `fn` with `params` (a dict), checked against its signature."""
    code = fn.__code__
    npos = code.co_argcount
    nposonly = getattr(code, "co_posonlyargcount", 0)
    names = code.co_varnames[: npos + code.co_kwonlyargcount]
    positional = names[:npos]
    takes_any = bool(code.co_flags & 0x08)  # **kwargs
    defaults = fn.__defaults__ or ()
    kwdefaults = fn.__kwdefaults__ or {}
    first_default = npos - len(defaults)

    def default_of(n):
        if n in kwdefaults:
            return True, kwdefaults[n]
        if n in positional and positional.index(n) >= first_default:
            return True, defaults[positional.index(n) - first_default]
        return False, None

    unknown = [k for k in params if k not in names]
    if unknown and not takes_any:
        declared = ", ".join(n for n in names) or "none"
        raise ParameterError("unknown parameter '%s'; the flow's parameters are: %s" % (unknown[0], declared))
    missing = [n for n in names if n not in params and not default_of(n)[0]]
    if missing:
        raise ParameterError("missing parameter '%s' (the flow declares it without a default)" % missing[0])
    annotations = getattr(fn, "__annotations__", None) or {}
    checked = {}
    for k, v in params.items():
        if k in annotations:
            has, d = default_of(k)
            v = _coerce(k, annotations[k], v, has and d is None)
        checked[k] = v
    args = []
    for n in positional[:nposonly]:
        args.append(checked.pop(n) if n in checked else default_of(n)[1])
    return args, checked


# -- main ----------------------------------------------------------------------------------


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path = os.path.abspath(argv[1])
    flow_name = argv[2]
    raw = argv[3] if len(argv) > 3 else (os.environ.get("RIGEL_PARAMETERS") or "{}")
    try:
        params = json.loads(raw)
    except ValueError as e:
        _fail("the parameters are not JSON: %s" % e, "The parameters are not JSON: %s" % e, 2)
    if not isinstance(params, dict):
        _fail("the parameters must be a JSON object", "The parameters must be a JSON object", 2)

    writes_bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    from rigel import _flows, _loader

    try:
        _loader.load_file(path, "__rigel_flow__")
    except SystemExit:
        raise
    except BaseException as e:
        _fail(
            "loading the flow file failed: %s" % _loader.describe(e),
            "Loading the flow file failed:\n%s" % _loader.user_traceback(e),
            1,
        )
    finally:
        sys.dont_write_bytecode = writes_bytecode

    found = [f for f in _flows.FLOWS if f.name == flow_name]
    if not found:
        names = ", ".join("'%s'" % f.name for f in _flows.FLOWS) or "none"
        message = "no flow named '%s' in the flow file; its flows: %s" % (flow_name, names)
        _fail(message, message[0].upper() + message[1:], 3)
    flow = found[0]
    try:
        args, kwargs = bind(flow.fn, params)
    except ParameterError as e:
        _fail("invalid parameters: %s" % e, "Invalid parameters: %s" % e, 3)

    try:
        result = flow(*args, **kwargs)
        if _flows.is_coroutine_function(flow.fn):
            import asyncio

            result = asyncio.run(result)
    except SystemExit:
        raise
    except BaseException as e:
        _fail(
            "the flow raised %s" % _loader.describe(e),
            "Flow '%s' failed:\n%s" % (flow.name, _loader.user_traceback(e)),
            1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
