"""prefect.orion.schemas.schedules: interval, cron and rrule schedules."""

from rigel._compat import module_getattr
from rigel.deployments import CronSchedule, IntervalSchedule, RRuleSchedule

__all__ = ["CronSchedule", "IntervalSchedule", "RRuleSchedule"]
__getattr__ = module_getattr("prefect.orion.schemas.schedules")
