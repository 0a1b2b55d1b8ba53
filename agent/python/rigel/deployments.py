"""DeploymentSpec and the schedules, flow runners and storage blocks it takes, mapped onto
Rigel's deployment spec fields. A deployment file is run once (by `rigel deployment create`)
and every DeploymentSpec(...) it makes is collected; at flow-run time the calls are harmless.
"""

import datetime
import math
import os
import sys

from rigel._compat import reject_arguments

# Every spec made so far: (spec, [(file, line) of each calling frame, innermost first]).
SPECS = []

SPEC_FIELDS = (
    "name",
    "flow",
    "flow_location",
    "flow_name",
    "flow_runner",
    "flow_storage",
    "parameters",
    "schedule",
    "tags",
    "description",
    "is_schedule_active",
    "work_queue_name",
    "flow_data",
)


class SpecError(ValueError):
    """A field of a DeploymentSpec that cannot be turned into Rigel's spec."""


def to_json(value, field):
    """A JSON-compatible copy of value; `field` names it in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError("%s: %r is not a finite number" % (field, value))
        return value
    if hasattr(value, "_rigel_json"):
        return value._rigel_json(field)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SpecError("%s: keys must be strings, not %r" % (field, k))
            out[k] = to_json(v, "%s.%s" % (field, k))
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v, "%s[%d]" % (field, i)) for i, v in enumerate(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    raise SpecError(
        "%s: a value of type %s cannot be stored in a deployment (use str, int, float, bool, "
        "None, list or dict)" % (field, type(value).__name__)
    )


def _options(obj, field):
    return {k: to_json(v, "%s.%s" % (field, k)) for k, v in obj._options.items() if v is not None}


class DeploymentSpec:
    """The settings a deployment is created from. Give the flow as `flow` (a @flow function)
    or as `flow_location` (its file; relative paths are taken from this file's folder)."""

    def __init__(self, **fields):
        reject_arguments("DeploymentSpec", set(fields) - set(SPEC_FIELDS))
        for k in SPEC_FIELDS:
            setattr(self, k, fields.get(k))
        self._given = set(fields)
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            frames.append((frame.f_code.co_filename, frame.f_lineno))
            frame = frame.f_back
        SPECS.append((self, frames))

    def __repr__(self):
        return "DeploymentSpec(name=%r)" % (self.name,)

    def rigel_fields(self):
        """Rigel's spec fields (JSON values); raises SpecError naming the field."""
        if self.flow is None and self.flow_location is None:
            raise SpecError("flow: give the flow as flow=<a @flow function> or flow_location=<its file>")
        out = {}
        for k in SPEC_FIELDS:
            if k == "flow" or k not in self._given or getattr(self, k) is None:
                continue
            out[k] = to_json(getattr(self, k), k)
        if self.flow is not None:
            from rigel._flows import Flow

            if not isinstance(self.flow, Flow):
                raise SpecError("flow: must be a @flow function, not a %s" % type(self.flow).__name__)
            code = getattr(self.flow.fn, "__code__", None)
            location = getattr(code, "co_filename", "")
            if not location or location.startswith("<"):
                raise SpecError("flow: cannot tell which file defines flow '%s'; give flow_location" % self.flow.name)
            out.setdefault("flow_location", os.path.abspath(location))
            out.setdefault("flow_name", self.flow.name)
        return out


# -- schedules (prefect.orion.schemas.schedules) ---------------------------------------------


def _aware(moment, timezone):
    """An ISO 8601 text with an offset: a naive datetime is taken in `timezone` (else UTC)."""
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment)
    if not isinstance(moment, datetime.datetime):
        raise SpecError("anchor_date: must be a datetime, not a %s" % type(moment).__name__)
    if moment.tzinfo is None:
        zone = datetime.timezone.utc
        if timezone:
            try:
                from zoneinfo import ZoneInfo

                zone = ZoneInfo(timezone)
            except Exception:
                raise SpecError("timezone: unknown time zone %r" % (timezone,))
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


class IntervalSchedule:
    """Every `interval` (a timedelta, or seconds) from `anchor_date`, in `timezone`."""

    def __init__(self, interval=None, anchor_date=None, timezone=None, **unsupported):
        reject_arguments("IntervalSchedule", unsupported)
        if interval is None:
            raise TypeError("IntervalSchedule needs an interval (a timedelta)")
        self.interval = interval
        self.anchor_date = anchor_date
        self.timezone = timezone

    def _rigel_json(self, field):
        interval = self.interval
        if isinstance(interval, datetime.timedelta):
            interval = interval.total_seconds()
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise SpecError("%s.interval: must be a timedelta or a number of seconds" % field)
        out = {"interval": interval}
        if self.anchor_date is not None:
            try:
                out["anchor_date"] = _aware(self.anchor_date, self.timezone)
            except SpecError as e:
                raise SpecError("%s.%s" % (field, e))
            except ValueError as e:
                raise SpecError("%s.anchor_date: %s" % (field, e))
        if self.timezone is not None:
            out["timezone"] = self.timezone
        return out

    def __repr__(self):
        return "IntervalSchedule(interval=%r)" % (self.interval,)


class CronSchedule:
    """When a cron expression matches, in `timezone`."""

    def __init__(self, cron=None, timezone=None, day_or=True, **unsupported):
        reject_arguments("CronSchedule", unsupported)
        if cron is None:
            raise TypeError("CronSchedule needs a cron expression")
        self.cron, self.timezone, self.day_or = cron, timezone, day_or

    def _rigel_json(self, field):
        out = {"cron": to_json(self.cron, field + ".cron")}
        if self.timezone is not None:
            out["timezone"] = self.timezone
        if self.day_or is not True:
            out["day_or"] = to_json(self.day_or, field + ".day_or")
        return out

    def __repr__(self):
        return "CronSchedule(cron=%r)" % (self.cron,)


class RRuleSchedule:
    """The occurrences of an RFC 5545 recurrence rule, in `timezone`."""

    def __init__(self, rrule=None, timezone=None, **unsupported):
        reject_arguments("RRuleSchedule", unsupported)
        if rrule is None:
            raise TypeError("RRuleSchedule needs an rrule string")
        self.rrule, self.timezone = rrule, timezone

    def _rigel_json(self, field):
        if not isinstance(self.rrule, str):
            raise SpecError("%s.rrule: must be a string (RRULE text)" % field)
        out = {"rrule": self.rrule}
        if self.timezone is not None:
            out["timezone"] = self.timezone
        return out

    def __repr__(self):
        return "RRuleSchedule(rrule=%r)" % (self.rrule,)


# -- flow runners (prefect.flow_runners) ---------------------------------------------------


class FlowRunnerSettings:
    """A flow runner as its type and config (e.g. type="subprocess", config={"env": {...}})."""

    def __init__(self, type=None, config=None, **unsupported):
        reject_arguments("FlowRunnerSettings", unsupported)
        self.type = type
        self.config = config if config is not None else {}

    def _rigel_json(self, field):
        return {"type": to_json(self.type, field + ".type"), "config": to_json(self.config, field + ".config")}

    def __repr__(self):
        return "FlowRunnerSettings(type=%r, config=%r)" % (self.type, self.config)


class _FlowRunner:
    TYPE = ""
    KEYS = ()

    def __init__(self, **options):
        reject_arguments(type(self).__name__, set(options) - set(self.KEYS))
        self._options = options
        for k in self.KEYS:
            setattr(self, k, options.get(k))

    def to_settings(self):
        return FlowRunnerSettings(type=self.TYPE, config=_options(self, "config"))

    def _rigel_json(self, field):
        config = _options(self, field + ".config")
        config.setdefault("env", {})
        return {"type": self.TYPE, "config": config}

    def __repr__(self):
        args = ", ".join("%s=%r" % kv for kv in self._options.items())
        return "%s(%s)" % (type(self).__name__, args)


class UniversalFlowRunner(_FlowRunner):
    """Runs flows in whatever way the agent chooses; takes `env`."""

    TYPE = "universal"
    KEYS = ("env",)


class SubprocessFlowRunner(_FlowRunner):
    """Runs each flow run in a local process: `env`, `stream_output`, `working_dir`, and the
    interpreter as `virtualenv` (a path), `condaenv` (a name or path) or `python`."""

    TYPE = "subprocess"
    KEYS = ("env", "stream_output", "working_dir", "virtualenv", "condaenv", "python")


# -- storage blocks (prefect.blocks.storage) -------------------------------------------------


class _StorageBlock:
    TYPE = ""
    RENAMED = {}
    KEYS = ()

    def __init__(self, **options):
        known = set(self.KEYS) | set(self.RENAMED)
        reject_arguments(type(self).__name__, set(options) - known)
        self._options = {self.RENAMED.get(k, k): v for k, v in options.items()}
        for k, v in options.items():
            setattr(self, k, v)

    def _rigel_json(self, field):
        return {"type": self.TYPE, "config": _options(self, field + ".config")}

    def __repr__(self):
        return "%s(...)" % type(self).__name__


class S3StorageBlock(_StorageBlock):
    """Flow code in an S3 bucket: Rigel's `s3` block (`region_name` is its `region`)."""

    TYPE = "s3"
    RENAMED = {"region_name": "region"}
    KEYS = ("bucket", "aws_access_key_id", "aws_secret_access_key", "region", "prefix", "endpoint_url")

    def __init__(self, bucket=None, **options):
        if bucket is None:
            raise TypeError("S3StorageBlock needs a bucket")
        super().__init__(bucket=bucket, **options)


class LocalStorageBlock(_StorageBlock):
    """Flow code in a local folder: Rigel's `local` block (`storage_path` is its `path`)."""

    TYPE = "local"
    RENAMED = {"storage_path": "path"}
    KEYS = ("path",)

    def __init__(self, storage_path=None, **options):
        if storage_path is None and "path" not in options:
            raise TypeError("LocalStorageBlock needs a storage_path")
        if storage_path is not None:
            options["storage_path"] = storage_path
        super().__init__(**options)
