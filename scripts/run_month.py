"""The main job: consecutive months of a living county through Airflow itself, on the embedded defaults.

1. starts a local SMTP server (aiosmtpd, 127.0.0.1, a free port) that saves every message as
   <out>/mail/NNN-<recipient>.eml, and points Airflow's `smtp_default` connection at it;
2. sets up an AIRFLOW_HOME (SQLite unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set) and runs
   `airflow db migrate`;
3. loads the month before --period as the starting state (its delivery and ingest), then runs
   --months consecutive months from --period on ONE monitoring database, every step at the
   logical date its schedule would use and all of them in true date order:
   - the spot-check draw of month M at the start of M (`fangpin_monthly_draw`, when that DAG
     exists);
   - each Monday–Sunday week: the townships' feedback of the week is generated into
     <incoming>/weekly/<YYYY-Www>/ (fangpin.generate.living.generate_week: the simulated
     townships react to the push lists, problem lists and draws the system had sent by then),
     then `fangpin_weekly` runs on the Monday after;
   - on the 6th of M+1: month M's department delivery is generated into <incoming>/<M>/
     (fangpin.generate.living.generate_month: the same county, its registry evolved from what
     happened), then the monthly ingest (validate, load, screen, push lists) and the monthly
     bulletin (problems, call sheets, 月通报, township problem lists; asset-triggered in
     production, a manual run with the `period` Param here);
   - on the 10th after a quarter's last month: the quarterly dispatch materials;
4. prints where everything landed.

Run it again and it reproduces the outputs, replaces the periods' rows and sends nothing twice
(every report reads only what had arrived by its date); a report whose content changed (corrected
data) is sent again as a 更正版.

With --province FILE (a province file, docs/province.md) it generates one county per entry into
<incoming>/<county_code>/<period>/ (one-shot deliveries, fangpin.generate.generate_county) and
runs `fangpin_province_monthly` for each month instead: every county's month on its own
database, outputs in <out>/<county_code>/<period>/, the province's summary in
<out>/<period>/province_summary.csv.

    python scripts/run_month.py [--period 2026-07] [--months 3] [--households 2000] [--seed 7]
                                [--out output] [--incoming incoming] [--airflow-home airflow_home]
                                [--province province.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PERIOD = "2026-07"  # with the default 3 months, a whole quarter: every report runs
DEFAULT_MONTHS = 3
DEFAULT_HOUSEHOLDS = 2000
DRAW_DAG = "fangpin_monthly_draw"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailSaver:
    """aiosmtpd handler: every message to <folder>/NNN-<first recipient>.eml."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    def _next_number(self) -> int:
        numbers = [int(m.group(1)) for p in self.folder.glob("*.eml") if (m := re.match(r"(\d+)-", p.name))]
        return max(numbers, default=0) + 1

    async def handle_DATA(self, server, session, envelope):
        rcpt = re.sub(r"[^A-Za-z0-9@._-]", "_", (envelope.rcpt_tos or ["unknown"])[0])
        path = self.folder / f"{self._next_number():03d}-{rcpt}.eml"
        content = envelope.original_content or envelope.content
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        self.saved.append(path)
        return "250 Message accepted for delivery"


def _subject(path: Path) -> str:
    msg = message_from_bytes(path.read_bytes())
    return str(make_header(decode_header(msg.get("Subject", ""))))


def _setup_env(args, port: int) -> dict:
    home = args.airflow_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
        "FANGPIN_DATA_DIR": str(args.incoming.resolve()),
        "FANGPIN_OUTPUT_DIR": str(args.out.resolve()),
        # The connection the DAGs' email goes through (SMTP provider): the local server.
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 30, "retry_limit": 2,
                      "from_email": os.environ.get("FANGPIN_MAIL_FROM", "fangpin@fangpin.local")}}),
    }
    env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                   os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{home / 'airflow.db'}")
    os.environ.update(env)
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--period", default=DEFAULT_PERIOD,
                    help=f"the first month to run (YYYY-MM, default {DEFAULT_PERIOD})")
    ap.add_argument("--months", type=int, default=DEFAULT_MONTHS,
                    help=f"how many consecutive months to run on one database (default {DEFAULT_MONTHS})")
    ap.add_argument("--households", type=int, default=DEFAULT_HOUSEHOLDS,
                    help=f"size of the generated county (default {DEFAULT_HOUSEHOLDS})")
    ap.add_argument("--seed", type=int, default=7, help="generator seed (same seed, same county)")
    ap.add_argument("--out", type=Path, default=Path("output"), help="output folder (default ./output)")
    ap.add_argument("--incoming", type=Path, default=Path("incoming"), help="drop-folder root (default ./incoming)")
    ap.add_argument("--airflow-home", type=Path, default=Path("airflow_home"), help="AIRFLOW_HOME (default ./airflow_home)")
    ap.add_argument("--quarterly", choices=["auto", "yes", "no"], default="auto",
                    help="run the quarterly DAG (auto: after each quarter's last month; yes: also after the "
                         "last month run)")
    ap.add_argument("--province", type=Path, help="a province file: run every county of it (fangpin_province_monthly)")
    args = ap.parse_args(argv)
    if args.months < 1:
        ap.error("--months must be at least 1")

    sys.path.insert(0, str(REPO / "include"))
    from fangpin.periods import Month

    first = Month.parse(args.period)
    months = [str(first.shift(i)) for i in range(args.months)]

    from aiosmtpd.controller import Controller

    mail_dir = args.out.resolve() / "mail"
    saver = MailSaver(mail_dir)
    port = _free_port()
    smtp = Controller(saver, hostname="127.0.0.1", port=port)
    smtp.start()
    started = time.perf_counter()
    try:
        env = _setup_env(args, port)
        print(f"run_month: SMTP server on 127.0.0.1:{port} saving to {mail_dir}")
        print(f"run_month: AIRFLOW_HOME={env['AIRFLOW_HOME']} (metadata: "
              f"{env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'].split('@')[-1]})")
        subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                       stdout=subprocess.DEVNULL)

        from fangpin import config

        if args.province:
            os.environ["FANGPIN_PROVINCE_FILE"] = str(args.province.resolve())
        config.reset()
        if args.province:
            results = run_province(months, args)
        else:
            results = run_calendar(months, args)
    finally:
        smtp.stop()

    print(f"\nrun_month: done in {time.perf_counter() - started:.0f} s")
    for dag_id, run_period, state in results:
        print(f"  {dag_id:28s} {run_period:9s} {state}")
    out = args.out.resolve()
    pdfs = sorted(out.rglob("*.pdf"))
    print(f"\noutputs in {out}:")
    for p in sorted({r[1] for r in results}):
        if (out / p).is_dir():
            print(f"  {out / p}/")
    print(f"  {len(pdfs)} PDF(s), e.g. " + ", ".join(str(p.relative_to(out)) for p in pdfs[:4]))
    print(f"  {len(saver.saved)} email(s) sent this run, saved in {mail_dir}/")
    for path in saver.saved[:12]:
        print(f"    {path.name}: {_subject(path)}")
    if len(saver.saved) > 12:
        print(f"    … and {len(saver.saved) - 12} more")
    failed = [r for r in results if r[2] != "success"]
    if failed:
        print(f"run_month: FAILED: {', '.join(r[0] + ' ' + r[1] for r in failed)}", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- the calendar

def _draw_date(month: str):
    """When the spot-check draw of `month` runs: the schedule's own date if the orchestration
    module knows it, else day sample.draw_day (default 1) of the month, 07:00 local."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from fangpin import orchestration as orch
    from fangpin.periods import Month

    try:
        return orch.run_date("draw", month)
    except (ValueError, KeyError):
        pass
    m = Month.parse(month)
    try:
        from fangpin.params import param

        day = int(param("sample.draw_day", m.start))
    except Exception:  # the parameter is not defined (yet)
        day = 1
    return dt.datetime(m.year, m.month, day, 7, 0, tzinfo=ZoneInfo(orch.TZ))


def calendar(months: list[str], has_draw: bool, quarterly: str) -> list[tuple]:
    """Every step of the run in true date order: (when, kind, period). Kinds: draw, week, month
    (generate the delivery, ingest, bulletin), quarter. Weeks are those whose Sunday falls in the
    months run; a week's step comes on the Monday after it, so its feedback reacts only to what
    was sent before the week ended."""
    import datetime as dt

    from fangpin import orchestration as orch
    from fangpin.periods import Month, Week

    order = {"draw": 0, "month": 1, "week": 2, "quarter": 3}
    steps = []
    for i, m in enumerate(months):
        month = Month.parse(m)
        if has_draw:
            steps.append((_draw_date(m), "draw", m))
        steps.append((orch.run_date("month", m), "month", m))
        last_run = i == len(months) - 1
        if (quarterly == "yes" and last_run) or (quarterly != "no" and month == month.quarter.months[-1]):
            q = str(month.quarter)
            steps.append((orch.run_date("quarter", q), "quarter", q))
    first, last = Month.parse(months[0]), Month.parse(months[-1])
    week = Week.containing(first.start)
    while week.end <= last.end:
        if week.end >= first.start:
            steps.append((orch.run_date("week", str(week)), "week", str(week)))
        week = Week(week.monday + dt.timedelta(days=7))
    return sorted(set(steps), key=lambda s: (s[0], order[s[1]], s[2]))


def _dag_test(bag, dag_id: str, logical_date, conf: dict | None) -> str:
    dr = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    return str(getattr(dr.state, "value", dr.state))


def run_calendar(months: list[str], args) -> list[tuple[str, str, str]]:
    """The living county through every DAG, step by step in date order."""
    from airflow.dag_processing.dagbag import DagBag

    from fangpin import orchestration as orch
    from fangpin.generate.living import generate_month, generate_week
    from fangpin.periods import Month
    from fangpin.store import db

    bag = DagBag(str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    has_draw = DRAW_DAG in bag.dags
    steps = calendar(months, has_draw, args.quarterly)
    incoming = args.incoming.resolve()
    eng = db.engine()
    results: list[tuple[str, str, str]] = []
    print(f"run_month: {len(months)} month(s) {months[0]}..{months[-1]}, {len(steps)} steps, "
          f"{args.households} households (seed {args.seed})"
          + ("" if has_draw else f"; no {DRAW_DAG} DAG: the bulletin makes the month's draw"), flush=True)
    # The system's starting state: the registry of the month before the first is loaded as the
    # ingest of the 6th would load it (its push lists go out; no bulletin), so that the first
    # month's draw has households to draw from and its weeks have pushes to verify.
    before = str(Month.parse(months[0]).shift(-1))
    print(f"\nrun_month: [0/{len(steps)}] starting state: the delivery of {before}", flush=True)
    delivery = generate_month(incoming, before, eng, households=args.households, seed=args.seed)
    print(f"run_month:   delivery of {before} -> {delivery}", flush=True)
    state = _dag_test(bag, "fangpin_monthly_ingest", orch.run_date("month", before), None)
    results.append(("fangpin_monthly_ingest", before, state))
    print(f"run_month:   fangpin_monthly_ingest {before}: {state}", flush=True)
    if state != "success":
        return results
    for k, (when, kind, period) in enumerate(steps, start=1):
        t0 = time.perf_counter()
        print(f"\nrun_month: [{k}/{len(steps)}] {when:%Y-%m-%d %H:%M} {kind} {period}", flush=True)
        if kind == "draw":
            runs = [(DRAW_DAG, when, {"period": period})]
        elif kind == "week":
            folder = generate_week(incoming, period, eng, seed=args.seed, households=args.households)
            print(f"run_month:   township feedback of {period} -> {folder} "
                  f"({', '.join(sorted(p.stem for p in folder.glob('*.*'))) or 'nothing'})", flush=True)
            runs = [("fangpin_weekly", when, None)]
        elif kind == "month":
            delivery = generate_month(incoming, period, eng, households=args.households, seed=args.seed)
            print(f"run_month:   delivery of {period} -> {delivery}", flush=True)
            # the ingest is scheduled on the 6th; the bulletin is asset-triggered in production,
            # a manual run with the month as the `period` Param here
            runs = [("fangpin_monthly_ingest", when, None), ("fangpin_monthly_bulletin", when, {"period": period})]
        else:
            runs = [("fangpin_quarterly", when, None)]
        for dag_id, logical_date, conf in runs:
            state = _dag_test(bag, dag_id, logical_date, conf)
            results.append((dag_id, period, state))
            print(f"run_month:   {dag_id} {period}: {state}", flush=True)
            if state != "success":
                return results  # later steps read what this one writes
        print(f"run_month:   step done in {time.perf_counter() - t0:.0f} s", flush=True)
    return results


def run_province(months: list[str], args) -> list[tuple[str, str, str]]:
    """Every county of the province file, month after month (one-shot deliveries)."""
    from airflow.dag_processing.dagbag import DagBag

    from fangpin import orchestration as orch
    from fangpin.generate import generate_county
    from fangpin.province import county_codes

    bag = DagBag(str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    results = []
    for period in months:
        for i, code in enumerate(county_codes()):
            delivery = args.incoming.resolve() / code / period
            print(f"run_month: county {code}: generating {args.households} households into {delivery}", flush=True)
            generate_county(delivery, period, households=args.households, seed=args.seed + i)
        logical_date = orch.run_date("month", period)
        print(f"\nrun_month: fangpin_province_monthly for {period} (logical date {logical_date.isoformat()})",
              flush=True)
        state = _dag_test(bag, "fangpin_province_monthly", logical_date, None)
        results.append(("fangpin_province_monthly", period, state))
        if state != "success":
            break
    return results


if __name__ == "__main__":
    sys.exit(main())
