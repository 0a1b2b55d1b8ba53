"""Collects the DeploymentSpec(...) calls of a Python deployment file for `rigel deployment
create`:

    python3 _rigel_collect.py DEPLOYMENT_FILE OUTPUT_JSON

The file is run once as a module (not as __main__). OUTPUT_JSON receives
{"error": null | {"line", "message"}, "specs": [{"line", "lines", "fields"} | {"line", "error"}]}:
each spec's Rigel fields (or why they can't be made), the line of its call and the lines of the
call's keywords ("lines": {"name": 3, "parameters": 4, "parameters.name": 4, ...}).
"""

import json
import os
import sys


def call_lines(path):
    """For each DeploymentSpec(...) call of the file: (first line, last line, keyword lines)."""
    import ast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (SyntaxError, ValueError, OSError):
        return []
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "DeploymentSpec":
            continue
        lines = {}
        for kw in node.keywords:
            if kw.arg is None:
                continue
            lines[kw.arg] = kw.value.lineno
            if isinstance(kw.value, ast.Dict):
                for k in kw.value.keys:
                    if isinstance(k, ast.Constant) and isinstance(k.value, str):
                        lines["%s.%s" % (kw.arg, k.value)] = k.lineno
        end = getattr(node, "end_lineno", None) or node.lineno
        calls.append((node.lineno, end, lines))
    return calls


def where(frames, path, calls):
    """(line, keyword lines) of a spec made at `frames` (innermost first)."""
    line = next((ln for f, ln in frames if f == path), None)
    if line is None:
        return None, {}
    around = [c for c in calls if c[0] <= line <= c[1]]
    if not around:
        return line, {}
    first, _, lines = min(around, key=lambda c: c[1] - c[0])
    return first, lines


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    path = os.path.abspath(argv[1])
    out_path = argv[2]
    from rigel import _loader, deployments

    result = {"error": None, "specs": []}
    try:
        _loader.load_file(path, "__rigel_deployments__")
    except SystemExit as e:
        if e.code not in (None, 0):
            result["error"] = {"line": _loader.line_in(e, path)[0], "message": "the file exited with sys.exit(%r)" % (e.code,)}
    except BaseException as e:
        line, elsewhere = _loader.line_in(e, path)
        message = _loader.describe(e, path)
        if elsewhere:
            message += " (raised at %s)" % elsewhere
        result["error"] = {"line": line, "message": message}
    if result["error"] is None:
        calls = call_lines(path)
        for spec, frames in deployments.SPECS:
            line, lines = where(frames, path, calls)
            entry = {"line": line, "lines": lines}
            try:
                entry["fields"] = spec.rigel_fields()
            except deployments.SpecError as e:
                entry["error"] = str(e)
            result["specs"].append(entry)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
