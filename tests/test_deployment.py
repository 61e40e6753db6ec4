"""Deployment facts decided at parse time from the environment only: the province DAG exists
only when configured, SQLite deployments cap task concurrency, mapped tasks carry township names."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402

DAGS = Path(__file__).resolve().parents[1] / "dags"


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_province_dag_absent_unless_a_province_file_is_configured(monkeypatch):
    monkeypatch.delenv("FANGPIN_PROVINCE_FILE", raising=False)
    bag = _bag()
    assert not bag.import_errors
    assert "fangpin_province_monthly" not in bag.dags and "fangpin_monthly_ingest" in bag.dags
    # set (to a file that does not exist: parsing never reads it)
    monkeypatch.setenv("FANGPIN_PROVINCE_FILE", "/nonexistent/province.yaml")
    bag = _bag()
    assert not bag.import_errors and "fangpin_province_monthly" in bag.dags


@pytest.mark.parametrize("url, cap", [
    (None, 1),  # airflow standalone's default metadata database is SQLite
    ("sqlite:////opt/airflow/airflow.db", 1),
    ("postgresql+psycopg2://airflow:x@postgres/airflow", None),
])
def test_sqlite_deployments_run_one_instance_of_each_task_at_a_time(monkeypatch, url, cap):
    monkeypatch.delenv("FANGPIN_MAX_ACTIVE_TIS", raising=False)
    if url is None:
        monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
    bag = _bag()
    assert not bag.import_errors
    mapped = bag.dags["fangpin_monthly_bulletin"].get_task("write_township_problems")
    default = bag.dags["fangpin_monthly_ingest"].get_task("screen").max_active_tis_per_dag
    assert mapped.max_active_tis_per_dag == cap
    assert default == cap


def test_the_cap_can_be_set_explicitly(monkeypatch):
    from fangpin import orchestration as orch

    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://x@h/db")
    monkeypatch.setenv("FANGPIN_MAX_ACTIVE_TIS", "3")
    assert orch.default_args()["max_active_tis_per_dag"] == 3
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite:///a.db")
    monkeypatch.setenv("FANGPIN_MAX_ACTIVE_TIS", "0")
    assert "max_active_tis_per_dag" not in orch.default_args()


def test_retry_delay_is_five_minutes_unless_set(monkeypatch):
    """Every task's first retry waits 5 minutes (doubling, at most 30); FANGPIN_RETRY_DELAY (seconds)
    shortens it, as the distributed test does so that a lost worker's task is retried quickly."""
    import datetime as dt

    monkeypatch.delenv("FANGPIN_RETRY_DELAY", raising=False)
    task = _bag().dags["fangpin_monthly_ingest"].get_task("ingest")
    assert task.retry_delay == dt.timedelta(minutes=5) and task.retries == 2
    assert task.max_retry_delay == dt.timedelta(minutes=30)
    monkeypatch.setenv("FANGPIN_RETRY_DELAY", "5")
    task = _bag().dags["fangpin_monthly_ingest"].get_task("ingest")
    assert task.retry_delay == dt.timedelta(seconds=5) and task.retries == 2


def test_mapped_township_tasks_are_labelled_code_and_name(sqlite_url, small_county):
    """name_township() sets the context variable the map_index_template renders."""
    import jinja2
    from airflow.sdk.execution_time.context import set_current_context

    from fangpin import orchestration as orch
    from fangpin.pipeline import ingest
    from fangpin.store import db
    from fangpin.store.db import read_feed

    period = small_county.name
    ingest(small_county, period, eng=db.engine(sqlite_url))
    regions = read_feed(db.engine(sqlite_url), "regions", period, columns=["code", "name"])
    code, name = next((c, n) for c, n in zip(regions["code"], regions["name"]) if len(str(c)) == 9)
    env = jinja2.Environment()
    for template, ctx in ((orch.TOWNSHIP_LABEL, {"township_code": code}),
                          (orch.TOWNSHIP_LABEL_ITEM, {"item": {"township_code": code}})):
        assert env.from_string(template).render(ctx) == code  # before the task names it
        with set_current_context(ctx):
            assert orch.name_township(code, period) == f"{code} {name}"
        assert env.from_string(template).render(ctx) == f"{code} {name}"
    # an unknown period or code: the code alone, never a failure
    ctx = {"township_code": "451302999"}
    with set_current_context(ctx):
        assert orch.name_township("451302999", "1999-01") == "451302999"
    assert ctx["township"] == "451302999"
