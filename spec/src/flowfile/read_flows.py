"""Reads the @flow functions of a Python file with the ast module, without running it.

Rigel runs this with `python3 -I -S -c <this text>` and the file's source on stdin. It prints
one JSON document: {"flows": [...]} or {"error": {"line": N, "message": "..."}}. Each flow is
{"name", "name_line", "description", "line", "parameters"}; "parameters" is null when the
function takes **kwargs (any parameter is accepted), else a list of
{"name", "line", "def": {"type", "default"?, "enum"?, "required"}} in signature order, and
"problems" lists what could not be read (each {"line", "message"}).
Standard library only; Python 3.8 or newer.
"""

import ast
import json
import math
import sys

MODULES = {"prefect", "rigel"}

SIMPLE = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "List": "array",
    "tuple": "array",
    "Tuple": "array",
    "set": "array",
    "Set": "array",
    "frozenset": "array",
    "FrozenSet": "array",
    "Sequence": "array",
    "dict": "object",
    "Dict": "object",
    "Mapping": "object",
    "Any": "any",
}

NO_VALUE = object()


def emit(doc):
    sys.stdout.write(json.dumps(doc))
    sys.stdout.flush()


def flow_names(tree):
    """The local names meaning the flow decorator, and those meaning its module."""
    decorators = {"flow"}
    modules = set(MODULES)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in MODULES and node.level == 0:
            for alias in node.names:
                if alias.name == "flow":
                    decorators.add(alias.asname or "flow")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    modules.add(alias.asname or alias.name)
    return decorators, modules


def flow_decorator(node, decorators, modules):
    """(is a flow decorator, its keyword arguments)."""
    call = None
    if isinstance(node, ast.Call):
        call, node = node, node.func
    if isinstance(node, ast.Name) and node.id in decorators:
        pass
    elif (
        isinstance(node, ast.Attribute)
        and node.attr == "flow"
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
    ):
        pass
    else:
        return False, []
    return True, (call.keywords if call is not None else [])


def literal(node):
    """The JSON value of a literal expression, else NO_VALUE."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NO_VALUE
    return as_json(value)


def as_json(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else NO_VALUE
    if isinstance(value, float):
        return value if math.isfinite(value) else NO_VALUE
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [as_json(v) for v in value]
        return NO_VALUE if any(v is NO_VALUE for v in items) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = as_json(v)
            if not isinstance(k, str) or v is NO_VALUE:
                return NO_VALUE
            out[k] = v
        return out
    return NO_VALUE


def last_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def kind_of_value(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "any"


def annotation(node):
    """(type, nullable, enum values or None) of an annotation."""
    if node is None:
        return "any", False, None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return "any", False, None
    if isinstance(node, ast.Constant) and node.value is None:
        return "any", True, None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return union([node.left, node.right])
    if isinstance(node, ast.Subscript):
        outer = last_name(node.value)
        inner = node.slice
        if isinstance(inner, ast.Index):  # Python 3.8
            inner = inner.value
        members = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
        if outer == "Optional":
            kind, _, enum = annotation(members[0])
            return kind, True, enum
        if outer == "Union":
            return union(members)
        if outer == "Annotated":
            return annotation(members[0])
        if outer == "Literal":
            values = [literal(m) for m in members]
            if any(v is NO_VALUE for v in values):
                return "any", False, None
            nullable = None in values
            values = [v for v in values if v is not None]
            kinds = {kind_of_value(v) for v in values}
            kind = kinds.pop() if len(kinds) == 1 else "any"
            return kind, nullable, values or None
        return SIMPLE.get(outer, "any"), False, None
    name = last_name(node)
    if name == "None" or name == "NoneType":
        return "any", True, None
    return SIMPLE.get(name, "any"), False, None


def union(members):
    kinds = set()
    nullable = False
    for m in members:
        kind, null, enum = annotation(m)
        nullable = nullable or null
        if enum is not None:
            return "any", nullable, None
        if not (null and kind == "any"):
            kinds.add(kind)
    if len(kinds) == 1:
        return kinds.pop(), nullable, None
    if kinds == {"integer", "number"}:
        return "number", nullable, None
    return "any", nullable, None


def parameters(fn):
    args = fn.args
    if args.kwarg is not None:
        return None
    positional = list(getattr(args, "posonlyargs", [])) + list(args.args)
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    out = []
    for arg, default in pairs:
        kind, nullable, enum = annotation(arg.annotation)
        decl = {}
        if default is None:
            decl["required"] = True
        else:
            value = literal(default)
            decl["required"] = False
            if value is not NO_VALUE:
                decl["default"] = value
        if nullable and decl.get("default", NO_VALUE) is not None:
            # null is accepted, but the parameter's type cannot say so: take any value
            kind, enum = "any", None
        if enum is not None:
            decl["enum"] = enum
        decl["type"] = kind
        out.append({"name": arg.arg, "line": arg.lineno, "def": decl})
    return out


def read_flow(fn, keywords):
    flow = {
        "name": fn.name.replace("_", "-"),
        "name_line": fn.lineno,
        "description": ast.get_docstring(fn),
        "line": fn.lineno,
        "parameters": parameters(fn),
        "problems": [],
    }
    for kw in keywords:
        if kw.arg not in ("name", "description"):
            continue
        value = literal(kw.value)
        if isinstance(value, str):
            flow[kw.arg] = value
            if kw.arg == "name":
                flow["name_line"] = kw.value.lineno
        elif kw.arg == "name":
            flow["problems"].append(
                {
                    "line": kw.value.lineno,
                    "message": "the flow's name= must be a literal string "
                    "(flow files are read, not run)",
                }
            )
        elif value is not None:
            flow["problems"].append(
                {
                    "line": kw.value.lineno,
                    "message": "the flow's description= must be a literal string "
                    "(flow files are read, not run)",
                }
            )
    return flow


def main():
    if sys.version_info < (3, 8):
        emit({"error": {"line": None, "message": "reading Python flow files needs Python 3.8 or newer"}})
        return
    source = sys.stdin.buffer.read()
    try:
        tree = ast.parse(source, filename="<flow file>")
    except SyntaxError as e:
        message = e.msg or "invalid syntax"
        emit({"error": {"line": e.lineno, "message": "Python syntax error: " + message}})
        return
    except (ValueError, UnicodeDecodeError) as e:
        emit({"error": {"line": None, "message": "cannot read the Python source: %s" % e}})
        return
    decorators, modules = flow_names(tree)
    flows = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for dec in node.decorator_list:
            is_flow, keywords = flow_decorator(dec, decorators, modules)
            if is_flow:
                flows.append(read_flow(node, keywords))
                break
    emit({"flows": flows})


main()
