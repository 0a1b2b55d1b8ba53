"""flow, task and get_run_logger.

Under Rigel's engine (RIGEL_STRUCTURED_OUTPUT=1) log records are written to the process's
stdout as single lines "\\x1e" + JSON ({"rigel": "log", "level", "message", "task_run_id"}); the
engine turns them into the run's log records with their levels, in order with print() output.
Each @task call is reported as a task run through Rigel's HTTP API (RIGEL_API_URL,
RIGEL_FLOW_RUN_ID). Outside the engine, the run logger writes to stderr, and calling a flow
tracks it as a flow run without a deployment (see rigel._local); its tasks are task runs of it.
"""

import contextvars
import functools
import json
import os
import sys
import time

from rigel._compat import not_supported, reject_arguments

RECORD_MARK = "\x1e"

_current_task_run = contextvars.ContextVar("rigel_task_run", default=None)

# Every flow defined so far, in definition order (the bootstrap looks flows up by name here).
FLOWS = []

_logger = None


def structured_output():
    return os.environ.get("RIGEL_STRUCTURED_OUTPUT") == "1"


def write_record(record):
    """Sends one structured record to the engine (through the process's real stdout)."""
    out = sys.__stdout__ or sys.stdout
    out.write(RECORD_MARK + json.dumps(record, ensure_ascii=False, default=str) + "\n")
    out.flush()


def _code_flags(fn):
    return getattr(getattr(fn, "__code__", None), "co_flags", 0)


def is_coroutine_function(fn):
    return bool(_code_flags(fn) & 0x80)  # CO_COROUTINE


def _no_such_attribute(owner, name):
    if name.startswith("__") and name.endswith("__"):
        return AttributeError("%r object has no attribute %r" % (owner, name))
    return not_supported("%s.%s" % (owner, name))


# -- logging -------------------------------------------------------------------------------


def get_run_logger():
    """The run's logger: a standard logging.Logger. Its records become the flow run's log
    records, with their levels (inside a task, tagged with the task run). The level is INFO
    unless RIGEL_FLOW_LOG_LEVEL says otherwise (DEBUG, WARNING, …)."""
    global _logger
    if _logger is None:
        _logger = _make_logger()
    return _logger


def _make_logger():
    import logging

    class RunLogHandler(logging.Handler):
        def emit(self, record):
            try:
                write_record(
                    {
                        "rigel": "log",
                        "level": record.levelno,
                        "message": self.format(record),
                        "task_run_id": _current_task_run.get(),
                    }
                )
            except Exception:
                self.handleError(record)

    class ConsoleHandler(logging.StreamHandler):
        """Writes to the console's stderr (found when the record is written, so that it is not
        the capture of a tracked local run) and gives the record to that run, if any."""

        def __init__(self):
            super().__init__(sys.stderr)
            self.plain = logging.Formatter("%(message)s")

        def emit(self, record):
            from rigel import _local

            self.setStream(_local.console(sys.stderr))
            run = _local.current()
            if run is not None:
                try:
                    run.log(record.levelno, self.plain.format(record), _current_task_run.get())
                except Exception:
                    self.handleError(record)
            super().emit(record)

    logger = logging.getLogger("rigel.run")
    logger.propagate = False
    level = os.environ.get("RIGEL_FLOW_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    try:
        logger.setLevel(int(level) if level.isdigit() else level)
    except (TypeError, ValueError):
        logger.setLevel(logging.INFO)
    if structured_output():
        handler = RunLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = ConsoleHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(message)s", "%H:%M:%S")
        )
    logger.handlers[:] = [handler]
    return logger


# -- flows ---------------------------------------------------------------------------------


class Flow:
    """A function decorated with @flow. Calling it calls the function."""

    def __init__(self, fn, name=None, description=None, version=None):
        if not callable(fn):
            raise TypeError("@flow decorates a function, not %r" % (fn,))
        self.fn = fn
        self.name = name if name is not None else fn.__name__.replace("_", "-")
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("a flow's name must be a non-empty string")
        doc = getattr(fn, "__doc__", None)
        self.description = description if description is not None else (doc.strip() if doc else None)
        self.version = version
        functools.update_wrapper(self, fn)
        FLOWS.append(self)

    def __call__(self, *args, **kwargs):
        from rigel import _local

        return _local.call(self, args, kwargs)

    def __getattr__(self, name):
        raise _no_such_attribute("Flow", name)

    def __repr__(self):
        return "Flow(name=%r)" % self.name


def flow(__fn=None, *, name=None, description=None, version=None, **unsupported):
    """@flow or @flow(name=…, description=…, version=…)."""
    reject_arguments("flow", unsupported)
    if __fn is None:
        return lambda fn: Flow(fn, name=name, description=description, version=version)
    return Flow(__fn, name=name, description=description, version=version)


# -- tasks ---------------------------------------------------------------------------------


class Task:
    """A function decorated with @task. Each call is a task run (with retries)."""

    def __init__(self, fn, name=None, description=None, version=None, retries=0, retry_delay_seconds=0):
        if not callable(fn):
            raise TypeError("@task decorates a function, not %r" % (fn,))
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError("retries must be a whole number, 0 or more, not %r" % (retries,))
        if (
            isinstance(retry_delay_seconds, bool)
            or not isinstance(retry_delay_seconds, (int, float))
            or not retry_delay_seconds >= 0
        ):
            raise ValueError("retry_delay_seconds must be a number, 0 or more, not %r" % (retry_delay_seconds,))
        self.fn = fn
        self.name = name if name is not None else fn.__name__
        self.description = description
        self.version = version
        self.retries = retries
        self.retry_delay_seconds = float(retry_delay_seconds)
        self._calls = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if is_coroutine_function(self.fn):
            return self._call_async(args, kwargs)
        report = _TaskRunReport(self)
        attempt = 1
        while True:
            report.started(attempt)
            token = _current_task_run.set(report.id)
            try:
                result = self.fn(*args, **kwargs)
            except Exception as exc:
                delay = report.failed(exc, attempt)
                if delay is None:
                    raise
                time.sleep(delay)
                attempt += 1
                continue
            finally:
                _current_task_run.reset(token)
            report.completed()
            return result

    async def _call_async(self, args, kwargs):
        import asyncio

        report = _TaskRunReport(self)
        attempt = 1
        while True:
            report.started(attempt)
            token = _current_task_run.set(report.id)
            try:
                result = await self.fn(*args, **kwargs)
            except Exception as exc:
                delay = report.failed(exc, attempt)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
                attempt += 1
                continue
            finally:
                _current_task_run.reset(token)
            report.completed()
            return result

    def __getattr__(self, name):
        raise _no_such_attribute("Task", name)

    def __repr__(self):
        return "Task(name=%r)" % self.name


def task(__fn=None, *, name=None, description=None, version=None, retries=0, retry_delay_seconds=0, **unsupported):
    """@task or @task(name=…, retries=…, retry_delay_seconds=…)."""
    reject_arguments("task", unsupported)

    def make(fn):
        return Task(
            fn,
            name=name,
            description=description,
            version=version,
            retries=retries,
            retry_delay_seconds=retry_delay_seconds,
        )

    return make if __fn is None else make(__fn)


class _TaskRunReport:
    """The task run of one call: its states through the API (when running under the engine)
    and its log lines."""

    def __init__(self, task):
        from rigel import _api

        task._calls += 1
        self.task = task
        self.attempts = task.retries + 1
        self.name = task.name if task._calls == 1 else "%s-%d" % (task.name, task._calls)
        self.api = _api.client()
        self.id = self.api.create_task_run(self.name) if self.api else None

    def _state(self, kind, name=None, message=None, scheduled_time=None):
        if self.api and self.id:
            self.api.set_task_run_state(self.id, kind, name, message, scheduled_time)

    def _log(self, level, message):
        token = _current_task_run.set(self.id)
        try:
            get_run_logger().log(level, message)
        finally:
            _current_task_run.reset(token)

    def started(self, attempt):
        self._state("RUNNING", "Running" if attempt == 1 else "Retrying")
        self._log(20, "Task run '%s' started (attempt %d of %d)" % (self.name, attempt, self.attempts))

    def completed(self):
        self._state("COMPLETED")

    def failed(self, exc, attempt):
        """Reports a failed attempt; the delay before the next one, or None when it was the last."""
        from rigel._loader import exception_text, user_traceback

        why = exception_text(exc)
        if attempt < self.attempts:
            delay = self.task.retry_delay_seconds
            self._state("SCHEDULED", "AwaitingRetry", why, time.time() + delay)
            self._log(30, "Task run '%s' failed (%s); retrying in %ss" % (self.name, why, _seconds(delay)))
            return delay
        after = " (after %d attempts)" % self.attempts if self.attempts > 1 else ""
        message = "task '%s' failed: %s%s" % (self.name, why, after)
        self._state("FAILED", None, message)
        self._log(40, "Task run '%s' failed%s:\n%s" % (self.name, after, user_traceback(exc)))
        return None


def _seconds(value):
    return ("%g" % value) if value != int(value) else str(int(value))
