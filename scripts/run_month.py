"""The main job: a full month through Airflow itself, on the embedded defaults.

1. starts a local SMTP server (aiosmtpd, 127.0.0.1, a free port) that saves every message as
   <out>/mail/NNN-<recipient>.eml, and points Airflow's `smtp_default` connection at it;
2. sets up an AIRFLOW_HOME (SQLite unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set) and runs
   `airflow db migrate`;
3. generates a synthetic county into <incoming>/<period>/ (fangpin.generate.generate_county);
4. runs the DAGs with dag.test() for the period, each at the logical date its schedule would
   use: the monthly ingest (validate, load, screen, push lists), the monthly bulletin (problems,
   spot-check draw, call sheets, 月通报, township problem lists), the weekly statistics for the
   month's last week, and — when the period ends a quarter — the quarterly dispatch materials;
5. prints where everything landed.

Run it again and it gives the same outputs, replaces the period's rows and sends no email twice.

With --province FILE (a province file, docs/province.md) it generates one county per entry into
<incoming>/<county_code>/<period>/ and runs `fangpin_province_monthly` instead: every county's
month on its own database, outputs in <out>/<county_code>/<period>/, the province's summary in
<out>/<period>/province_summary.csv.

    python scripts/run_month.py [--period 2026-09] [--households 3000] [--seed 7]
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
DEFAULT_PERIOD = "2026-09"  # a quarter's last month: one run shows every report


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
    ap.add_argument("--period", default=DEFAULT_PERIOD, help=f"the month to run (YYYY-MM, default {DEFAULT_PERIOD})")
    ap.add_argument("--households", type=int, default=3000, help="size of the generated county (default 3000)")
    ap.add_argument("--seed", type=int, default=7, help="generator seed (same seed, same county)")
    ap.add_argument("--out", type=Path, default=Path("output"), help="output folder (default ./output)")
    ap.add_argument("--incoming", type=Path, default=Path("incoming"), help="drop-folder root (default ./incoming)")
    ap.add_argument("--airflow-home", type=Path, default=Path("airflow_home"), help="AIRFLOW_HOME (default ./airflow_home)")
    ap.add_argument("--quarterly", choices=["auto", "yes", "no"], default="auto",
                    help="run the quarterly DAG (auto: when the period is a quarter's last month)")
    ap.add_argument("--province", type=Path, help="a province file: run every county of it (fangpin_province_monthly)")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(REPO / "include"))
    from fangpin.periods import Month

    period = str(Month.parse(args.period))

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
        from fangpin.generate import generate_county

        if args.province:
            os.environ["FANGPIN_PROVINCE_FILE"] = str(args.province.resolve())
        config.reset()
        if args.province:
            from fangpin.province import county_codes

            for i, code in enumerate(county_codes()):
                delivery = args.incoming.resolve() / code / period
                print(f"run_month: county {code}: generating {args.households} households into {delivery}")
                generate_county(delivery, period, households=args.households, seed=args.seed + i)
            results = run_dags(period, args.quarterly, province=True)
        else:
            delivery = args.incoming.resolve() / period
            print(f"run_month: generating {args.households} households into {delivery}")
            generate_county(delivery, period, households=args.households, seed=args.seed)
            results = run_dags(period, args.quarterly)
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
    failed = [r for r in results if r[2] != "success"]
    if failed:
        print(f"run_month: FAILED: {', '.join(r[0] for r in failed)}", file=sys.stderr)
        return 1
    return 0


def run_dags(period: str, quarterly: str, province: bool = False) -> list[tuple[str, str, str]]:
    """dag.test() of each DAG at the logical date its schedule gives `period` (or of the province
    DAG alone)."""
    from airflow.dag_processing.dagbag import DagBag

    from fangpin import orchestration as orch
    from fangpin.periods import Month

    bag = DagBag(str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    month = Month.parse(period)
    week = orch.last_week_of(period)
    quarter = str(month.quarter)
    plan = [
        # scheduled run on the 6th of the next month: the data interval is the month
        ("fangpin_monthly_ingest", period, orch.run_date("month", period), None),
        # asset-triggered in production (the screening's event names the month); here a manual
        # run with the month as the `period` Param
        ("fangpin_monthly_bulletin", period, orch.run_date("month", period), {"period": period}),
        ("fangpin_weekly", week, orch.run_date("week", week), None),
    ]
    if province:
        plan = [("fangpin_province_monthly", period, orch.run_date("month", period), None)]
    elif quarterly == "yes" or (quarterly == "auto" and month == month.quarter.months[-1]):
        plan.append(("fangpin_quarterly", quarter, orch.run_date("quarter", quarter), None))
    results = []
    for dag_id, run_period, logical_date, conf in plan:
        print(f"\nrun_month: {dag_id} for {run_period} (logical date {logical_date.isoformat()})", flush=True)
        dr = bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
        state = str(getattr(dr.state, "value", dr.state))
        results.append((dag_id, run_period, state))
        if state != "success":
            break  # later stages read what this one writes
    return results


if __name__ == "__main__":
    sys.exit(main())
