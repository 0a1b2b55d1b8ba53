"""Loading a user's file as a module (never as __main__), and describing its errors."""

import os
import sys
import types

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_file(path, module_name):
    """Runs the file at `path` as module `module_name`: its `if __name__ == "__main__":`
    block does not run. Its folder is importable (after Rigel's own modules)."""
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(1, folder)
    with open(path, "rb") as f:
        source = f.read()
    module = types.ModuleType(module_name)
    module.__file__ = path
    sys.modules[module_name] = module
    code = compile(source, path, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    return module


def user_traceback(exc):
    """The traceback text without the frames of Rigel's own modules."""
    import traceback

    te = traceback.TracebackException.from_exception(exc)
    seen = set()
    todo = [te]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        kept = [f for f in t.stack if not f.filename.startswith(HERE + os.sep)]
        t.stack = traceback.StackSummary.from_list(kept)
        todo.extend(x for x in (t.__cause__, t.__context__) if x is not None)
    return "".join(te.format()).rstrip()


def describe(exc, path=None):
    """`ValueError: boom`; for Rigel's not-supported errors just their message. A syntax error
    outside `path` says where it is."""
    from rigel._compat import NotSupportedError

    if isinstance(exc, NotSupportedError):
        return str(exc)
    if isinstance(exc, SyntaxError):
        where = ""
        if exc.filename and exc.lineno and exc.filename != path:
            where = " (%s:%s)" % (exc.filename, exc.lineno)
        return "Python syntax error: %s%s" % (exc.msg, where)
    return exception_text(exc)


def exception_text(exc):
    """`ValueError: boom`, or just `ValueError` when it has no message."""
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def line_in(exc, path):
    """The innermost line of `path` where `exc` passed (its own line for a syntax error in
    `path`), and the innermost place elsewhere when that is where it was raised."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return exc.lineno, None
    line = None
    last = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == path:
            line = tb.tb_lineno
        last = (filename, tb.tb_lineno)
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename:
        return line, None
    elsewhere = None
    if last is not None and last[0] != path and not _ours_or_python(last[0]):
        elsewhere = "%s:%s" % last
    return line, elsewhere


def _ours_or_python(filename):
    """Whether a file is Rigel's module, or Python's own (standard library, installed packages)."""
    roots = {HERE, sys.prefix, sys.base_prefix, sys.exec_prefix}
    return filename.startswith("<") or any(filename.startswith(r + os.sep) for r in roots if r)
