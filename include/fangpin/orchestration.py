"""What the DAG files share: schedules, default arguments, the failure notifier, Params,
Assets, and the rules that turn a DAG run into the period it works on.

Only DAG files import this module (it imports Airflow's Task SDK); the rest of `fangpin`
stays Airflow-free. It imports nothing heavy, so a DAG file still parses fast.

A run's period comes, in this order, from
1. the `period` Param (a manual run, typed on the trigger form);
2. the triggering asset events' `extra["period"]` (the bulletin, triggered by the month's
   screening);
3. the run's data interval (scheduled runs: `CronTriggerTimetable(..., interval=...)` gives
   each run the interval of the previous month / week / quarter);
4. a run without a data interval width (manual run of an asset-scheduled DAG): the period
   before the one containing the run's date.
Never from the wall clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from html import escape
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pendulum
from dateutil.relativedelta import relativedelta

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Asset, CronTriggerTimetable, Param

from fangpin.periods import Month, Quarter, Week, month_of_interval, quarter_of_interval, week_of_interval

log = logging.getLogger(__name__)

TZ = "Asia/Shanghai"
OWNER = "fangpin"
START = pendulum.datetime(2026, 1, 1, tz=TZ)  # gives every DAG the Asia/Shanghai timezone
KINDS = ("month", "week", "quarter")

# Assets linking the stages. Each event carries extra={"period": ...}.
DELIVERY = Asset(uri="x-fangpin://monitoring/delivery", name="fangpin_delivery", group="fangpin")
SCREENING = Asset(uri="x-fangpin://monitoring/screening", name="fangpin_screening", group="fangpin")
BULLETIN = Asset(uri="x-fangpin://monitoring/bulletin", name="fangpin_bulletin", group="fangpin")

# Schedules (local time, Asia/Shanghai). Departments deliver month M by the 5th of M+1.
MONTHLY_INGEST = dict(cron="0 6 6 * *", interval=relativedelta(months=1))    # 06:00 on the 6th
WEEKLY = dict(cron="0 8 * * 1", interval=relativedelta(days=7))              # Monday 08:00
QUARTERLY = dict(cron="0 9 10 1,4,7,10 *", interval=relativedelta(months=3))  # 10th after a quarter
# The spot-check draw of month M at the start of M (the day must agree with parameter sample.draw_day).
MONTHLY_DRAW = dict(cron="0 7 1 * *", interval=relativedelta(months=1))       # 07:00 on the 1st


def timetable(spec: dict) -> CronTriggerTimetable:
    """A cron trigger whose data interval is the period before the run (never zero-width)."""
    return CronTriggerTimetable(spec["cron"], timezone=TZ, interval=spec["interval"])


# ---------------------------------------------------------------- failure notifiers

# The templates use only `fangpin.*`, facts computed in Python from whatever the context holds
# (a scheduled, asset-triggered or manual run; a task or a DAG callback), so rendering never
# meets an undefined variable (issue 14: asset-triggered and manual runs have no data interval).
FAILURE_SUBJECT = "【fangpin 故障】{{ fangpin.dag_id }} {{ fangpin.period }} {{ fangpin.what }} 运行失败"
FAILURE_BODY = (
    "<p>DAG <b>{{ fangpin.dag_id }}</b>（期间 <b>{{ fangpin.period }}</b>）"
    "的{{ fangpin.what_long }}失败{% if fangpin.try_number %}（第 {{ fangpin.try_number }} 次尝试，已无重试）{% endif %}。</p>"
    "<p>运行：{{ fangpin.run_id }}（{{ fangpin.run_type }}）</p>"
    "<p>错误：{{ fangpin.error | e }}</p>"
    "<p>日志：{% if fangpin.log_url %}<a href=\"{{ fangpin.log_url }}\">{{ fangpin.log_url }}</a>"
    "{% else %}（无）{% endif %}</p>"
)

# Which kind of period each DAG works on (for the alert's period line).
DAG_KINDS = {
    "fangpin_monthly_ingest": "month", "fangpin_monthly_bulletin": "month",
    "fangpin_province_monthly": "month", "fangpin_weekly": "week", "fangpin_quarterly": "quarter",
    "fangpin_monthly_draw": "draw",
}


def _first_line(exc) -> str:
    if exc is None:
        return "（未知错误）"
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1 if not isinstance(exc, BaseException) else 0] if lines else text


def alert_facts(context: Mapping[str, Any]) -> dict:
    """What a failure alert says, from any callback context; never raises."""
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = (getattr(ti, "dag_id", None) or getattr(run, "dag_id", None) or getattr(dag, "dag_id", None)
              or "（未知 DAG）")
    kind = DAG_KINDS.get(dag_id)
    period = "（期间未知）"
    try:
        if kind == "draw":
            period = current_month(context)
        elif kind:
            period = period_of(kind, context)
    except Exception as exc:  # an alert must never fail for want of a period
        log.warning("alert: cannot tell the period (%s)", exc)
    facts = {"dag_id": dag_id, "period": period, "run_id": context.get("run_id") or getattr(run, "run_id", None)
             or getattr(ti, "run_id", None) or "（未知）",
             "run_type": str(getattr(getattr(run, "run_type", None), "value", getattr(run, "run_type", "")) or ""),
             "try_number": None, "log_url": None, "township": None}
    label = None
    if ti is not None:
        task_id = getattr(ti, "task_id", "?")
        map_index = getattr(ti, "map_index", None)
        rendered = getattr(ti, "rendered_map_index", None)
        label = f"{task_id}[{rendered or map_index}]" if map_index is not None and map_index >= 0 else task_id
        if map_index is not None and map_index >= 0:
            facts["township"] = rendered or str(map_index)
        try:
            facts["log_url"] = getattr(ti, "log_url", None)
        except Exception:  # log_url needs the API server's base url; the alert goes without it
            pass
    if "reason" in context:  # a DAG-level callback (dag-processor): the run failed
        facts.update(what="整次运行", what_long="整次运行",
                     error=_first_line(context.get("reason") or "DAG 运行失败"))
        if label:
            facts["error"] += f"（最后的任务：{label}）"
    else:
        facts.update(what=label or "（未知任务）", what_long=f"任务 <b>{escape(label or '（未知任务）')}</b>",
                     try_number=getattr(ti, "try_number", None), error=_first_line(context.get("exception")))
    return facts


class PlatformFailureNotifier(SmtpNotifier):
    """SmtpNotifier to settings().platform_team, through settings().smtp_conn_id.

    Used as the task-level on_failure_callback (one alert per task after its last try) and as
    the DAG-level on_failure_callback (one alert per failed DAG run). Recipients, sender and
    connection are read when a failure is notified, not when the DAG file is parsed.
    """

    def __init__(self, **kwargs):
        super().__init__(to=[], subject=FAILURE_SUBJECT, html_content=FAILURE_BODY, **kwargs)

    def __call__(self, *args) -> None:
        # render from the templates every time (rendering mutates the fields in place, and one
        # notifier instance serves every task of a DAG file)
        self.subject, self.html_content = FAILURE_SUBJECT, FAILURE_BODY
        context = args[0] if len(args) == 1 else {"dag": args[0], "task_list": args[1]}
        context["fangpin"] = alert_facts(context)
        super().__call__(context)

    def notify(self, context):
        from fangpin.config import settings

        s = settings()
        self.to, self.from_email, self.smtp_conn_id = list(s.platform_team), s.mail_from, s.smtp_conn_id
        if not self.from_email:
            from fangpin.notify import connection_sender

            self.from_email = connection_sender(self.smtp_conn_id)
        self.__dict__.pop("hook", None)  # the cached hook was built for the previous connection id
        super().notify(context)


def failure_notifier() -> PlatformFailureNotifier:
    return PlatformFailureNotifier()


# ---------------------------------------------------------------- deployment facts read at parse time
# (environment variables only: no file read, no database access)

def sqlite_metadata() -> bool:
    """True when Airflow's metadata database is SQLite (`airflow standalone`'s default): the
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN variable is unset or a sqlite URL."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").strip()
    return not url or url.startswith("sqlite")


def sqlite_limits() -> dict:
    """On SQLite, one instance of each task at a time (a 22-way mapped fan-out locks the
    database: scheduler, dag-processor and triggerer die with `database is locked`).
    FANGPIN_MAX_ACTIVE_TIS overrides the cap (0: none)."""
    raw = os.environ.get("FANGPIN_MAX_ACTIVE_TIS")
    cap = int(raw) if raw not in (None, "") else (1 if sqlite_metadata() else 0)
    return {"max_active_tis_per_dag": cap} if cap > 0 else {}


def province_configured() -> bool:
    """The province DAG exists only when FANGPIN_PROVINCE_FILE is set (checked, not read)."""
    return bool(os.environ.get("FANGPIN_PROVINCE_FILE", "").strip())


def retry_delay() -> dt.timedelta:
    """The first retry's delay: 5 minutes (doubling, at most 30), or FANGPIN_RETRY_DELAY seconds.
    A worker lost mid-task (its machine died, it was killed) fails the task once its heartbeat
    times out; the retry then runs on another worker after this delay. The distributed test
    shortens it; production keeps the default."""
    raw = os.environ.get("FANGPIN_RETRY_DELAY", "").strip()
    return dt.timedelta(seconds=int(raw)) if raw else dt.timedelta(minutes=5)


def default_args(**overrides) -> dict:
    """Every task: owner, 2 retries with backoff, the failure email after the last try.

    The task-level callback runs in the worker right after the last failed try, with the task's
    context and connections. Every DAG also has the same notifier as its DAG-level
    on_failure_callback (one alert per failed run); that one runs in the dag-processor, which
    therefore needs the SMTP connection too (apache/airflow#63374 on its limits).
    """
    args = {
        **sqlite_limits(),
        "owner": OWNER,
        "retries": 2,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=30),
        "on_failure_callback": failure_notifier(),
    }
    args.update(overrides)
    return args


# ---------------------------------------------------------------- mapped tasks: township labels

# map_index_template of a per-township task: "451302104 石陵镇" once the task called
# name_township() (Airflow renders the template again after the task, also when it failed),
# the bare code before that. For tasks expanded over a dict, the second form.
TOWNSHIP_LABEL = "{{ township | default(township_code) }}"
TOWNSHIP_LABEL_ITEM = "{{ township | default(item['township_code']) }}"


def name_township(code: str, period: str | None = None) -> str:
    """In a mapped task: label the map index "code 名称" (the name from the period's regions feed;
    the code alone when it cannot be read). Never fails the task."""
    from airflow.sdk import get_current_context

    label = str(code)
    try:
        if period:
            from fangpin.pipeline import _engine, _township_name

            name = _township_name(_engine(None), str(period), str(code))
            if name and name != str(code):
                label = f"{code} {name}"
    except Exception as exc:  # the label is a convenience; the task's work decides its fate
        log.info("township %s: no name for the map index (%s)", code, exc)
    get_current_context()["township"] = label
    return label


# ---------------------------------------------------------------- Params (trigger form)

_PATTERNS = {
    "month": r"^\d{4}-?\d{2}$",
    "week": r"^(\d{4}-?W\d{1,2}|\d{4}-\d{2}-\d{2})$",
    "quarter": r"^\d{4}-?Q[1-4]$",
}
_EXAMPLES = {"month": "2026-10", "week": "2026-W45 或 2026-11-09", "quarter": "2026-Q4"}


def params(kind: str, **extra: Param) -> dict[str, Param]:
    """The trigger-form Params every DAG has: period, folder overrides, force re-send."""
    return {
        "period": Param(None, type=["null", "string"], pattern=_PATTERNS[kind], title="期间 period",
                        description=f"手动运行时填写要处理的期间（如 {_EXAMPLES[kind]}）；"
                                    "留空则按本次运行的数据区间推算。"),
        "data_root": Param(None, type=["null", "string"], title="data root",
                           description="Drop-folder root (delivery of month M is <root>/M); "
                                       "empty = settings().data_dir."),
        "output_root": Param(None, type=["null", "string"], title="output root",
                             description="Output root (outputs go to <root>/<period>); "
                                         "empty = settings().output_dir."),
        "force_send": Param(False, type="boolean", title="强制重发 force re-send",
                            description="Send the emails again even if already sent for this period."),
        **extra,
    }


# ---------------------------------------------------------------- period from a run

_PARSE = {"month": Month.parse, "week": Week.parse, "quarter": Quarter.parse}
_OF_INTERVAL = {"month": month_of_interval, "week": week_of_interval, "quarter": quarter_of_interval}


def _previous(kind: str, instant) -> Month | Week | Quarter:
    """The period before the one containing `instant` (a run without interval width)."""
    if kind == "week":
        return Week(week_of_interval(instant, instant).start - dt.timedelta(days=7))
    month = month_of_interval(instant, instant)
    if kind == "month":
        return month.shift(-1)
    q = month.quarter
    return Quarter(q.year - 1, 4) if q.q == 1 else Quarter(q.year, q.q - 1)


def _event_period(context: Mapping[str, Any]) -> str | None:
    """extra['period'] of the latest triggering asset event, if the run was asset-triggered."""
    events = context.get("triggering_asset_events") or {}
    found = []
    for asset in list(events):
        for ev in events[asset]:
            extra = getattr(ev, "extra", None) or {}
            if extra.get("period"):
                found.append((getattr(ev, "timestamp", None) or dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                              str(extra["period"])))
    if not found:
        return None
    periods = sorted({p for _, p in found})
    if len(periods) > 1:
        log.warning("triggering asset events name several periods %s; the latest event's wins", periods)
    return max(found)[1]


def period_of(kind: str, context: Mapping[str, Any]) -> str:
    """The period (str: 2026-10 | 2026-W45 | 2026-Q4) a run works on; see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    chosen = (context.get("params") or {}).get("period")
    if chosen:
        return str(_PARSE[kind](chosen))
    from_event = _event_period(context)
    if from_event:
        return str(_PARSE[kind](from_event))
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return str(_OF_INTERVAL[kind](start, end))
    instant = end or context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    if instant is None:
        raise ValueError("cannot tell the period of this run: give the `period` Param")
    return str(_previous(kind, instant))


def run_day(context: Mapping[str, Any]) -> str:
    """The local (Asia/Shanghai) date of the run, ISO: the day its work is actually done and sent
    (e.g. the push lists' 推送日期). From the run's data interval's end: a scheduled cron run fires
    then, a manual trigger's interval ends when it was triggered, and `dag.test(logical_date=X)`
    infers an interval ending at X; else its run_after, else its logical date — the run's schedule,
    never the wall clock of a re-run (clearing a past run keeps its dates)."""
    from fangpin.periods import _local_date

    run = context.get("dag_run")
    for value in (context.get("data_interval_end"), getattr(run, "run_after", None), context.get("logical_date")):
        if value is not None:
            return _local_date(value).isoformat()
    raise ValueError("cannot tell the date of this run")


def current_month(context: Mapping[str, Any]) -> str:
    """The month a start-of-month run works on (the draw): the `period` Param, else the month the
    run is scheduled in (its data interval's end, or its date)."""
    chosen = (context.get("params") or {}).get("period")
    if chosen:
        return str(Month.parse(chosen))
    return str(Month.parse(run_day(context)[:7]))


def _dag_id(context: Mapping[str, Any]) -> str | None:
    for obj in (context.get("ti"), context.get("dag_run"), context.get("dag")):
        if getattr(obj, "dag_id", None):
            return obj.dag_id
    return None


def _root(value: str | None, default: Path, allowed: list[Path], name: str) -> Path:
    """A folder Param, allowed only inside the configured roots (data_dir, output_dir, allowed_roots)."""
    if not value:
        return default
    path = Path(value).resolve()
    roots = [Path(r).resolve() for r in allowed]
    if not any(path == r or r in path.parents for r in roots):
        raise ValueError(f"Param {name}={value!r} is outside the configured roots "
                         f"({', '.join(str(r) for r in roots)}); add it to FANGPIN_ALLOWED_ROOTS to allow it")
    return path


def _event_output_root(context: Mapping[str, Any], period: str) -> str | None:
    """The output root of the run whose asset event triggered this one (the ingest's
    `extra["out_dir"]` = <root>/<period>), so an ingest given `output_root` has its bulletin
    written beside it."""
    events = context.get("triggering_asset_events") or {}
    for asset in list(events):
        for ev in events[asset]:
            extra = getattr(ev, "extra", None) or {}
            out = extra.get("out_dir")
            if out and str(extra.get("period")) == str(period) and Path(out).name == str(period):
                return str(Path(out).parent)
    return None


def folders(period: str, context: Mapping[str, Any], delivery: str | None = None, kind: str | None = None) -> dict:
    """The run's period with its delivery folder (data root / `delivery` month), output folder,
    `force` (force_send) and `hold` (why this run must email nothing, '' when it may; see mail_hold).

    The data_root/output_root Params must lie inside settings().data_dir, output_dir or
    allowed_roots: an operator cannot point a run at any server path."""
    from fangpin.config import settings

    p = context.get("params") or {}
    s = settings()
    allowed = [s.data_dir, s.output_dir, *s.allowed_roots]
    data_root = _root(p.get("data_root"), Path(s.data_dir), allowed, "data_root")
    out_root = _root(p.get("output_root") or _event_output_root(context, period), Path(s.output_dir), allowed,
                     "output_root")
    kind = kind or DAG_KINDS.get(_dag_id(context) or "", "month")
    return {
        "period": period,
        "data_dir": str((data_root / (delivery or period)).resolve()),
        "out_dir": str((out_root / period).resolve()),
        "force": bool(p.get("force_send", False)),
        "hold": mail_hold(kind, period, context),
    }


# ---------------------------------------------------------------- safe go-live

def _period(kind: str, period: str):
    return {"week": Week.parse, "quarter": Quarter.parse}.get(kind, Month.parse)(period)


def _next(kind: str, period: str) -> str:
    p = _period(kind, period)
    if kind == "week":
        return str(Week(p.monday + dt.timedelta(days=7)))
    if kind == "quarter":
        return str(Quarter(p.year + 1, 1) if p.q == 4 else Quarter(p.year, p.q + 1))
    return str(p.shift(1))


def _run_instant(context: Mapping[str, Any]):
    run = context.get("dag_run")
    for value in (context.get("data_interval_end"), getattr(run, "run_after", None), context.get("logical_date")):
        if value is not None:
            return value
    return None


def mail_hold(kind: str, period: str, context: Mapping[str, Any]) -> str:
    """Why this run must send no email ('' when it may). Outputs are built either way.

    - the period ended before settings().go_live (first unpause runs the latest missed slot:
      its stale reports must not reach anyone);
    - a late run of an old period: the schedule has already moved on to the next period when
      the run happens (e.g. a manual run of last quarter, a cleared run re-run months later).
    The `force_send` Param overrides both."""
    if (context.get("params") or {}).get("force_send"):
        return ""
    from fangpin.config import settings

    go_live = settings().go_live
    if go_live and _period(kind, period).end < go_live:
        return (f"period {period} ended before the go-live date {go_live} (FANGPIN_GO_LIVE): outputs built, "
                "no email sent; trigger with force_send to send")
    instant = _run_instant(context)
    if isinstance(instant, str):
        instant = pendulum.parse(instant, tz=TZ)
    if instant is not None:
        nxt = _next(kind, period)
        due = run_date(kind, nxt)
        if instant >= due:
            return (f"late run of {period}: the schedule moved on to {nxt} on {due:%Y-%m-%d %H:%M} "
                    "(Asia/Shanghai); outputs built, no email sent; trigger with force_send to send")
    return ""


def held(hold: str | None) -> bool:
    """In a send task: True (and the reason logged) when the run must email nothing."""
    if hold:
        log.warning("no email sent: %s", hold)
        return True
    return False


# ---------------------------------------------------------------- the scheduled run for a period

def run_date(kind: str, period: str) -> dt.datetime:
    """When the schedule runs for `period` (the logical date to give dag.test()); the inverse
    of period_of() on a scheduled run."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(TZ)
    if kind == "month":
        nxt = Month.parse(period).shift(1)
        return dt.datetime(nxt.year, nxt.month, 6, 6, 0, tzinfo=tz)
    if kind == "week":
        monday = Week.parse(period).monday + dt.timedelta(days=7)
        return dt.datetime(monday.year, monday.month, monday.day, 8, 0, tzinfo=tz)
    if kind == "draw":
        m = Month.parse(period)
        return dt.datetime(m.year, m.month, 1, 7, 0, tzinfo=tz)
    q = Quarter.parse(period)
    nxt = q.months[-1].shift(1)
    return dt.datetime(nxt.year, nxt.month, 10, 9, 0, tzinfo=tz)


def last_week_of(month: str) -> str:
    """The last Monday-Sunday week whose statistics read `month` (its Sunday is in the month)."""
    m = Month.parse(month)
    week = Week.containing(m.end)
    if week.end > m.end:
        week = Week(week.monday - dt.timedelta(days=7))
    return str(week)
