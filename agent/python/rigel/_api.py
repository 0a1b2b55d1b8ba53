"""A small client of Rigel's HTTP API, for reporting task runs. Best effort: when the server
cannot be reached the flow keeps running, and one warning says so."""

import http.client
import json
import os
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit

_client = None


def client():
    """The API client of the current flow run (the engine's, or a tracked local run's), or
    None when the flow run is not tracked."""
    global _client
    from rigel import _local

    local = _local.current()
    if local is not None:
        return local.api
    if _client is None:
        url = os.environ.get("RIGEL_API_URL")
        run = os.environ.get("RIGEL_FLOW_RUN_ID")
        _client = Api(url, os.environ.get("RIGEL_API_KEY"), run) if url and run else False
    return _client or None


class ApiError(Exception):
    pass


def _error_message(payload):
    """The message of Rigel's error body, else the start of the answer."""
    try:
        return json.loads(payload)["error"]["message"]
    except Exception:
        return payload[:300].decode("utf-8", "replace")


def _uuid4():
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def _iso(timestamp):
    import datetime

    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


class Api:
    def __init__(self, url, api_key, flow_run_id, timeout=30, attempts=4):
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = "Bearer " + api_key
        self.flow_run_id = flow_run_id
        self.timeout = timeout
        self.attempts = attempts
        self.conn = None
        self.warned = False
        # one connection, used by the flow's thread and a local run's reporter thread
        self.lock = threading.Lock()

    def _connect(self):
        if self.https:
            # a private certificate authority, as the CLI and agent trust it (RIGEL_CA_CERT)
            context = ssl.create_default_context(cafile=os.environ.get("RIGEL_CA_CERT") or None)
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def post(self, path, body):
        with self.lock:
            return self._post(path, body)

    def _post(self, path, body):
        data = json.dumps(body).encode("utf-8")
        last = None
        for attempt in range(self.attempts):
            try:
                if self.conn is None:
                    self.conn = self._connect()
                self.conn.request("POST", self.prefix + path, body=data, headers=self.headers)
                response = self.conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as e:
                last = e
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    time.sleep(0.2 * attempt)
                continue
            if response.status >= 400:
                raise ApiError(
                    "%s%s answered HTTP %d: %s" % (self.url.rstrip("/"), path, response.status, _error_message(payload))
                )
            return json.loads(payload) if payload else None
        raise ApiError("cannot reach %s: %s" % (self.url, last))

    def _warn(self, what, error):
        if not self.warned:
            self.warned = True
            sys.stderr.write("rigel: cannot %s (%s); the flow goes on without it\n" % (what, error))
            sys.stderr.flush()

    def create_task_run(self, name):
        try:
            run = self.post("/task_runs/", {"flow_run_id": self.flow_run_id, "name": name})
            return run["id"]
        except Exception as e:
            self._warn("record task run '%s'" % name, e)
            return None

    def set_task_run_state(self, task_run_id, kind, name=None, message=None, scheduled_time=None):
        state = {"type": kind}
        if name:
            state["name"] = name
        if message:
            state["message"] = message
        if scheduled_time is not None:
            state["scheduled_time"] = _iso(scheduled_time)
        try:
            self.post(
                "/task_runs/%s/set_state" % task_run_id,
                {"state": state, "transition_id": _uuid4()},
            )
        except Exception as e:
            self._warn("report the state of a task run", e)
