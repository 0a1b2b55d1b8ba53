"""Local runs: a @flow called outside Rigel's engine (`python3 my_flow.py`) is tracked as a flow
run with no deployment on the server at RIGEL_API_URL (default http://127.0.0.1:4200/api).

The run is created Scheduled, claimed (Scheduled -> Pending, which answers a claim token),
moved to Running, heartbeated every 5 s, and ends Completed, or Failed with the exception
(which is re-raised). What the flow prints (stdout INFO, stderr WARNING) and the run logger's
records are shipped as the run's logs in batches, the last one before the final state. A
server that cannot be reached never fails the flow: one warning on stderr, and it runs
untracked. Flows called inside a tracked flow are plain calls (no run of their own).

Under the engine (RIGEL_STRUCTURED_OUTPUT=1, or RIGEL_FLOW_RUN_ID naming the run a process
belongs to) nothing here happens: the engine already tracks the run.
"""

import contextvars
import json
import os
import sys
import threading
import time

DEFAULT_API_URL = "http://127.0.0.1:4200/api"
FLUSH_SECONDS = 1.0
MAX_BATCH = 1000
MAX_MESSAGE_BYTES = 64 * 1024

_current = contextvars.ContextVar("rigel_local_run", default=None)
_warned = False
_warn_lock = threading.Lock()


def engine_drives():
    """Whether Rigel's engine runs this process (it tracks the run itself)."""
    from rigel._flows import structured_output

    return structured_output() or bool(os.environ.get("RIGEL_FLOW_RUN_ID"))


def heartbeat_seconds():
    """How often a run says it is alive: RIGEL_ENGINE_HEARTBEAT_SECONDS (as for engines), else 5.
    The server crashes a Running run without heartbeats (60 s by default)."""
    try:
        every = float(os.environ.get("RIGEL_ENGINE_HEARTBEAT_SECONDS") or 5.0)
    except ValueError:
        return 5.0
    return every if 0.05 <= every <= 3600 else 5.0


def current():
    """The local run of the flow being called: the one of this context, else (in a thread the
    flow started) the one whose output is being captured. None when there is none."""
    run = _current.get()
    if run is None and isinstance(sys.stdout, _Tee):
        run = sys.stdout.run
    return run if run is not None and not run.lost else None


def console(stream):
    """The stream a captured `stream` writes through to (itself when not captured)."""
    while isinstance(stream, _Tee):
        stream = stream.stream
    return stream


def warn(message):
    """Writes `message` to the console's stderr once per process."""
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    err = console(sys.stderr)
    err.write("rigel: %s\n" % message)
    err.flush()


def call(flow, args, kwargs):
    """Calls `flow` with (args, kwargs): tracked when it is the outermost flow outside the engine."""
    from rigel._flows import is_coroutine_function

    if engine_drives() or _current.get() is not None or isinstance(sys.stdout, _Tee):
        # the engine's run, or a flow called while a tracked one runs: a plain call
        return flow.fn(*args, **kwargs)
    parameters = bind(flow.fn, args, kwargs)
    if parameters is None:
        # arguments that don't fit the signature: Python's own TypeError, no run
        return flow.fn(*args, **kwargs)
    if is_coroutine_function(flow.fn):
        return _call_async(flow, args, kwargs, parameters)
    run = LocalRun.start(flow, parameters)
    if run is None:
        return flow.fn(*args, **kwargs)
    token = _current.set(run)
    try:
        with _Capture(run):
            try:
                result = flow.fn(*args, **kwargs)
            except BaseException as e:
                run.failed(e)
                raise
    finally:
        _current.reset(token)
    run.completed()
    return result


async def _call_async(flow, args, kwargs, parameters):
    run = LocalRun.start(flow, parameters)
    if run is None:
        return await flow.fn(*args, **kwargs)
    token = _current.set(run)
    try:
        with _Capture(run):
            try:
                result = await flow.fn(*args, **kwargs)
            except BaseException as e:
                run.failed(e)
                raise
    finally:
        _current.reset(token)
    run.completed()
    return result


def bind(fn, args, kwargs):
    """The call's parameters by name, defaults applied, as JSON values; None when the
    arguments don't fit the signature."""
    import inspect

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    bound.apply_defaults()
    return {name: jsonable(value) for name, value in bound.arguments.items()}


def jsonable(value):
    """`value` as JSON data; what JSON can't hold becomes its repr()."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=repr))
    except (TypeError, ValueError):
        return repr(value)


def _message(text):
    """`text` cut to the server's limit for one log message."""
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_MESSAGE_BYTES:
        return text
    return data[: MAX_MESSAGE_BYTES - 3].decode("utf-8", "ignore") + "..."


class LocalRun:
    """A flow run on the server for one local call of a flow."""

    def __init__(self, flow, api, flow_run_id, claim_token):
        self.flow = flow
        self.api = api
        self.id = flow_run_id
        self.claim_token = claim_token
        self.records = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.done = threading.Event()
        self.lost = False  # the server stopped answering: no more calls
        self.thread = threading.Thread(target=self._background, name="rigel-run-reporter", daemon=True)

    @classmethod
    def start(cls, flow, parameters):
        """Creates, claims and starts the run; None (after one warning) when that fails."""
        from rigel._api import Api

        url = os.environ.get("RIGEL_API_URL") or DEFAULT_API_URL
        api = Api(url, os.environ.get("RIGEL_API_KEY"), None, timeout=10, attempts=2)
        try:
            flow_id = api.post("/flows/", {"name": flow.name})["id"]
            created = api.post("/flow_runs/", {"flow_id": flow_id, "parameters": parameters})
            api.flow_run_id = created["id"]
            claim = cls._propose(api, created["id"], None, {"type": "PENDING"})
            token = (claim.get("details") or {}).get("claim_token")
            run = cls(flow, api, created["id"], token)
            run._propose_running()
        except Exception as e:
            warn("flow '%s' runs untracked: %s" % (flow.name, e))
            return None
        api.attempts = 4
        run.thread.start()
        return run

    @staticmethod
    def _propose(api, run_id, claim_token, state):
        from rigel._api import ApiError, _uuid4

        body = {"state": state, "transition_id": _uuid4()}
        if claim_token:
            body["claim_token"] = claim_token
        answer = api.post("/flow_runs/%s/set_state" % run_id, body)
        if answer.get("status") not in ("ACCEPT", "WAIT"):
            reason = (answer.get("details") or {}).get("reason") or answer.get("status")
            raise ApiError("the server refused %s: %s" % (state["type"], reason))
        return answer

    def _propose_running(self):
        deadline = time.time() + 60
        while True:
            answer = self._propose(self.api, self.id, self.claim_token, {"type": "RUNNING"})
            if answer["status"] == "ACCEPT":
                return
            delay = (answer.get("details") or {}).get("delay_seconds") or 0.5
            if time.time() + delay > deadline:
                raise RuntimeError("the server kept the run waiting")
            time.sleep(min(max(delay, 0.05), 5.0))

    # -- logs and heartbeats ---------------------------------------------------------------

    def log(self, level, message, task_run_id=None):
        """Queues one log record of the run."""
        from rigel._api import _iso

        record = {
            "flow_run_id": self.id,
            "task_run_id": task_run_id,
            "level": int(level),
            "timestamp": _iso(time.time()),
            "message": _message(message),
        }
        with self.lock:
            self.records.append(record)
            full = len(self.records) >= MAX_BATCH
        if full:
            self.wake.set()

    def _flush(self):
        while not self.lost:
            with self.lock:
                batch, self.records = self.records[:MAX_BATCH], self.records[MAX_BATCH:]
            if not batch:
                return
            try:
                self.api.post("/logs/", batch)
            except Exception as e:
                self._lose("ship the flow's logs", e)

    def _heartbeat(self):
        if self.lost:
            return
        try:
            self.api.post("/flow_runs/%s/heartbeat" % self.id, {"claim_token": self.claim_token})
        except Exception as e:
            self._lose("heartbeat the flow run", e)

    def _lose(self, what, error, after="; the flow goes on untracked"):
        self.lost = True
        warn("cannot %s (%s)%s" % (what, error, after))

    def _background(self):
        every = heartbeat_seconds()
        next_beat = time.monotonic() + every
        while not self.done.is_set():
            self.wake.wait(max(0.0, min(FLUSH_SECONDS, next_beat - time.monotonic())))
            self.wake.clear()
            self._flush()
            if time.monotonic() >= next_beat:
                self._heartbeat()
                next_beat = time.monotonic() + every

    # -- the end ---------------------------------------------------------------------------

    def _finish(self, state):
        self.done.set()
        self.wake.set()
        self.thread.join(timeout=30)
        self._flush()
        if self.lost:
            return
        try:
            self._propose(self.api, self.id, self.claim_token, state)
        except Exception as e:
            self._lose("report the flow run's final state", e, after="")

    def completed(self):
        self._finish({"type": "COMPLETED"})

    def failed(self, exc):
        from rigel._loader import exception_text, user_traceback

        if isinstance(exc, SystemExit) and exc.code in (0, None):
            self.completed()
            return
        if isinstance(exc, KeyboardInterrupt):
            self.log(40, "Flow '%s' was interrupted" % self.flow.name)
            self._finish({"type": "CANCELLED", "message": "interrupted"})
            return
        self.log(40, "Flow '%s' failed:\n%s" % (self.flow.name, user_traceback(exc)))
        self._finish({"type": "FAILED", "message": _message("the flow raised %s" % exception_text(exc))})


class _Capture:
    """While a tracked flow runs, what is written to sys.stdout (INFO) and sys.stderr
    (WARNING) also becomes the run's log lines, one per line."""

    def __init__(self, run):
        self.run = run

    def __enter__(self):
        self.saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self.run, 20)
        sys.stderr = _Tee(sys.stderr, self.run, 30)
        return self

    def __exit__(self, *exc):
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.saved
        for tee in (out, err):
            if isinstance(tee, _Tee):
                tee.close_lines()
        return False


class _Tee:
    """A text stream that writes through to `stream` and hands complete lines to the run."""

    def __init__(self, stream, run, level):
        self.stream = stream
        self.run = run
        self.level = level
        self.partial = ""
        self.lock = threading.Lock()

    def write(self, text):
        written = self.stream.write(text) if self.stream is not None else len(text)
        if isinstance(text, str):
            with self.lock:
                lines = (self.partial + text).split("\n")
                self.partial = lines.pop()
            for line in lines:
                self.run.log(self.level, line.rstrip("\r"))
        return written

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if self.stream is not None:
            self.stream.flush()

    def close_lines(self):
        """Ships a last line that had no line end."""
        with self.lock:
            rest, self.partial = self.partial, ""
        if rest:
            self.run.log(self.level, rest.rstrip("\r"))

    def console(self):
        """The stream this tee writes through to."""
        return self.stream

    def __getattr__(self, name):
        return getattr(self.stream, name)
