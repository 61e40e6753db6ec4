"""End-to-end: the main command (scripts/run_month.py) runs every DAG through Airflow's
dag.test() on the living generated county — two months in calendar order with Airflow's
metadata on SQLite, one month on PostgreSQL; a second run gives the same outputs, no duplicate
rows and no second email.

Each run is a subprocess, so Airflow's configuration and environment stay clean."""

from __future__ import annotations

import email
import hashlib
import os
import re
import subprocess
import sys
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from conftest import _drop_pg_database, _fresh_pg_database, postgres_reachable

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-09"  # a quarter's last month: ingest, bulletin, weekly and quarterly all run
ID_RE = re.compile(r"(?<![0-9])[1-9]\d{5}(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9])")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow_e2e")]


def _run(tmp: Path, env: dict, households: int = 400, seed: int = 11, *extra: str, period: str = PERIOD,
         months: int = 1) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "scripts" / "run_month.py"), "--period", period, "--months", str(months),
           "--households", str(households), "--seed", str(seed), "--out", str(tmp / "output"),
           "--incoming", str(tmp / "incoming"), "--airflow-home", str(tmp / "airflow_home"), *extra]
    return subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=1500)


def _subject(path: Path) -> str:
    return str(make_header(decode_header(email.message_from_bytes(path.read_bytes()).get("Subject", ""))))


def _snapshot(out: Path) -> dict[str, str]:
    """Every output file (but mail and Data Docs): CSVs with their content hash; PDFs and xlsx,
    which embed their creation time, by name only."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() if p.suffix == ".csv" else "-"
            for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in (".csv", ".xlsx", ".pdf")
            and "mail" not in p.parts and "data_docs" not in p.parts}


def _counts(db_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    eng = create_engine(db_url)
    with eng.connect() as c:
        tables = ["households", "members", "screening_results", "spot_check_draws", "problems",
                  "report_deliveries", "quarantine"]
        counts = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
        counts["current_validation_runs"] = c.execute(
            text("SELECT count(*) FROM validation_runs WHERE is_current")).scalar_one()
    eng.dispose()
    return counts


@pytest.mark.parametrize("backend,first,months", [
    ("sqlite", "2026-08", 2),  # two months of the living county, calendar order checked too
    pytest.param("postgresql", PERIOD, 1, marks=pytest.mark.postgres)])
def test_month_through_airflow_is_complete_and_idempotent(backend, first, months, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FANGPIN_"))}
    env.update(FANGPIN_HOME=str(tmp_path / "fangpin_home"), PYTHONPATH=str(REPO / "include"))
    dropped = []
    if backend == "sqlite":
        env["FANGPIN_DB_URL"] = f"sqlite:///{tmp_path / 'fangpin.db'}"
    else:
        if not postgres_reachable():
            pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
        meta, mon = _fresh_pg_database(), _fresh_pg_database()
        dropped += [meta, mon]
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = meta
        env["FANGPIN_DB_URL"] = mon
    try:
        run = _run(tmp_path, env, period=first, months=months)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-6000:]
        out = tmp_path / "output"
        for dag_id in ("fangpin_monthly_ingest", "fangpin_monthly_bulletin", "fangpin_weekly", "fangpin_quarterly"):
            assert re.search(rf"{dag_id}\s+\S+\s+success", run.stdout), dag_id
        if backend == "postgresql":
            assert "metadata: 127.0.0.1:5432" in run.stdout  # Airflow itself ran on PostgreSQL
        if months == 2:
            _check_living_months(tmp_path, env, run.stdout)

        month = out / PERIOD
        assert (month / "validation_summary.csv").is_file() and (month / "screening.csv").is_file()
        assert (month / "spot_check.csv").is_file()
        assert list((month).rglob("*.xlsx")), "no push list written"
        pdfs = sorted(out.rglob("*.pdf"))
        assert any(PERIOD in str(p) for p in pdfs)
        assert any("W" in p.relative_to(out).parts[0] for p in pdfs), "no weekly PDF"
        assert any("Q3" in p.relative_to(out).parts[0] for p in pdfs), "no quarterly PDF"

        mails = sorted((out / "mail").glob("*.eml"))
        subjects = [_subject(p) for p in mails]
        for tag in ("【月通报】", "【周统计】", "【季调度】"):
            assert sum(tag in s for s in subjects) >= 1, (tag, subjects)
        assert any("推送清单" in s for s in subjects), subjects
        for p in mails:
            msg = email.message_from_bytes(p.read_bytes())
            names = [part.get_filename() for part in msg.walk() if part.get_filename()]
            assert names, f"{p.name} has no attachment"
            body = "".join(part.get_payload(decode=True).decode("utf-8", "replace") for part in msg.walk()
                           if part.get_content_maintype() == "text")
            assert not ID_RE.search(body), f"{p.name} shows an ID number"

        before_files, before_rows = _snapshot(out), _counts(env["FANGPIN_DB_URL"])
        second = _run(tmp_path, env, period=first, months=months)
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-6000:]
        # Nothing is sent twice, and every report reads only what had arrived by its date, so
        # re-running the months after later deliveries reproduces them: nothing new is sent (a
        # report whose content did change would go out only as a numbered correction, 更正版).
        new = sorted(set((out / "mail").glob("*.eml")) - set(mails))
        assert not new, [_subject(p) for p in new]
        assert "0 email(s) sent this run" in second.stdout
        after_files = _snapshot(out)
        assert after_files == before_files  # CSVs unchanged, no file lost, no correction written
        assert _counts(env["FANGPIN_DB_URL"]) == before_rows
    finally:
        for url in dropped:
            _drop_pg_database(url)


def test_province_month_through_airflow_one_database_per_county(tmp_path):
    """fangpin_province_monthly under dag.test(): one mapped task per county, each county on its
    own database and folders, its bulletin emailed to its own leaders, and the province summary."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    province = tmp_path / "province.yaml"
    province.write_text("""province: 广西
counties:
  - county_code: "451302"
    county: 兴宾区
    leaders: [xingbin@leaders.local]
  - county_code: "451321"
    county: 忻城县
    leaders: [xincheng@leaders.local]
""", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FANGPIN_"))}
    env.update(FANGPIN_HOME=str(tmp_path / "fangpin_home"), PYTHONPATH=str(REPO / "include"))
    done = _run(tmp_path, env, 220, 5, "--province", str(province))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
    assert re.search(r"fangpin_province_monthly\s+\S+\s+success", done.stdout)

    out = tmp_path / "output"
    summary = pd.read_csv(out / PERIOD / "province_summary.csv", encoding="utf-8-sig", dtype={"县区代码": str})
    assert summary["县区代码"].tolist() == ["451302", "451321"] and summary["县区"].tolist() == ["兴宾区", "忻城县"]
    for code, households in zip(summary["县区代码"], summary["农户数"]):
        db_file = tmp_path / "fangpin_home" / "counties" / code / "fangpin.db"
        eng = create_engine(f"sqlite:///{db_file}")
        with eng.connect() as c:
            stored = c.execute(text("SELECT count(*) FROM households WHERE period = :p"), {"p": PERIOD}).scalar_one()
        eng.dispose()
        assert stored == households and 150 < households <= 220
        assert (out / code / PERIOD / "screening.csv").is_file()
        assert list((out / code / PERIOD).glob("*月通报*.pdf"))

    bulletins = {}
    for p in sorted((out / "mail").glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes())
        if "【月通报】" in _subject(p):
            bulletins[msg["To"]] = _subject(p)
    assert set(bulletins) == {"xingbin@leaders.local", "xincheng@leaders.local"}, bulletins
    assert "兴宾区" in bulletins["xingbin@leaders.local"] and "忻城县" in bulletins["xincheng@leaders.local"]



def _check_living_months(tmp_path: Path, env: dict, stdout: str) -> None:
    """Two consecutive months of the living county (2026-08, 2026-09): every step in date order,
    each week's township feedback written before its weekly run, the weeks after the first
    bulletin rectifying problems that bulletin issued."""
    import datetime as dt

    import pandas as pd
    from sqlalchemy import create_engine, text

    from fangpin.periods import Week

    steps = re.findall(r"run_month: \[(\d+)/\d+\] (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) (\w+) (\S+)", stdout)
    when = [dt.datetime.strptime(s[1], "%Y-%m-%d %H:%M") for s in steps]
    assert when == sorted(when) and len(steps) >= 11, steps
    kinds = [(s[2], s[3]) for s in steps]
    assert ("month", "2026-08") in kinds and ("month", "2026-09") in kinds and ("quarter", "2026-Q3") in kinds
    weeks = [p for k, p in kinds if k == "week"]
    assert weeks[0] == "2026-W31" and weeks[-1] == "2026-W39"  # Sundays Aug 2 .. Sep 27
    for dag_id, period in [("fangpin_monthly_ingest", "2026-07"), ("fangpin_monthly_ingest", "2026-08"),
                           ("fangpin_monthly_bulletin", "2026-08"), ("fangpin_monthly_bulletin", "2026-09"),
                           ("fangpin_quarterly", "2026-Q3")] + [("fangpin_weekly", w) for w in weeks]:
        assert re.search(rf"{dag_id}\s+{period}\s+success", stdout), (dag_id, period)

    incoming = tmp_path / "incoming"
    for w in weeks:
        assert (incoming / "weekly" / w / "inspections.csv").is_file(), w
    eng = create_engine(env["FANGPIN_DB_URL"])
    with eng.connect() as c:
        issued = set(c.execute(text("SELECT problem_id FROM problems WHERE period = '2026-08'")).scalars())
    eng.dispose()
    after = [w for w in weeks if Week.parse(w).end >= dt.date(2026, 9, 6)]
    named = set()
    for w in after:
        path = incoming / "weekly" / w / "rectifications.csv"
        if path.is_file():
            named |= set(pd.read_csv(path, encoding="utf-8-sig", dtype=str)["问题编号"])
    assert issued and named and named <= issued, "rectifications must name problems the August bulletin issued"
