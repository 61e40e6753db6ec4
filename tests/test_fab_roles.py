"""Production login: the FAB auth manager with the roles of docker-compose.yaml, on the real
api-server app (airflow.api_fastapi.app.create_app, in a subprocess), users created with the
CLI the platform team uses and signed in through FAB's /auth/token:

- Auditor (the compose file's [fab] custom_roles): reads the 数据质量 page, a validation run and
  the Data Docs; cannot trigger, pause or clear a DAG, list DAGs or set a variable;
- Op (the platform team): triggers, pauses and clears DAGs, sets variables, and sees the page;
- Viewer (a FAB built-in, not used by fangpin): no 数据质量 page;
- nobody signed in (leaders have no account): 401."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from test_plugin import _seed

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app, get_auth_manager
    c = TestClient(create_app("all"))
    res = {"auth_manager": type(get_auth_manager()).__name__}
    res["anonymous"] = [c.get("/data-quality/api/runs").status_code,
                        c.post("/api/v2/dags/fangpin_monthly_ingest/dagRuns", json={"logical_date": None}).status_code]
    res["wrong_password"] = c.post("/auth/token", json={"username": "zhao.audit", "password": "nope"}).status_code
    for user, password in USERS:
        r = c.post("/auth/token", json={"username": user, "password": password})
        h = {"Authorization": "Bearer " + r.json().get("access_token", "")}
        page = c.get("/data-quality/", headers=h)
        res[user] = {
            "token": r.status_code,
            "page": [page.status_code, "医保 · 2026-10" in page.text],
            "run": c.get("/data-quality/api/runs/" + str(RUN_ID), headers=h).status_code,
            "docs": c.get("/data-quality/docs/2026-10/index.html", headers=h).status_code,
            "trigger": c.post("/api/v2/dags/fangpin_monthly_ingest/dagRuns", headers=h,
                              json={"logical_date": None, "conf": {"period": "2026-10"}}).status_code,
            "pause": c.patch("/api/v2/dags/fangpin_weekly", headers=h, json={"is_paused": False}).status_code,
            "dags": c.get("/api/v2/dags", headers=h).status_code,
            "clear": c.post("/api/v2/dags/fangpin_monthly_ingest/clearTaskInstances", headers=h,
                            json={"dry_run": True}).status_code,
            "variable": c.post("/api/v2/variables", headers=h,
                               json={"key": "probe_" + user.replace(".", "_"), "value": "x"}).status_code,
        }
    print("RESULT " + json.dumps(res, ensure_ascii=False))
""")


def test_auditor_reads_the_quality_page_but_cannot_operate_dags(sqlite_url, tmp_path, monkeypatch):
    from fangpin import config
    from fangpin.store import db

    out = tmp_path / "output"
    monkeypatch.setenv("FANGPIN_OUTPUT_DIR", str(out))
    config.reset()
    ids = _seed(db.engine(sqlite_url), out)
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))
    common = compose["x-airflow-common"]["environment"]
    home = tmp_path / "airflow_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FANGPIN_"))}
    env.update({
        "PYTHONPATH": str(REPO / "include"), "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-secret", "FANGPIN_DB_URL": sqlite_url,
        "FANGPIN_OUTPUT_DIR": str(out),
        # exactly the production settings
        "AIRFLOW__CORE__AUTH_MANAGER": common["AIRFLOW__CORE__AUTH_MANAGER"],
        "AIRFLOW__FAB__CUSTOM_ROLES": common["AIRFLOW__FAB__CUSTOM_ROLES"],
    })
    airflow = str(Path(sys.executable).with_name("airflow"))

    def cli(*args):
        done = subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"airflow {args}: {done.stdout[-2000:]} {done.stderr[-3000:]}"
        return done.stdout

    cli("db", "migrate")
    cli("sync-perm")  # as the compose init service: creates the Auditor role
    assert "Auditor" in cli("roles", "list", "-o", "plain")
    users = [("zhao.audit", "Auditor", "audit-pw-1"), ("wang.ops", "Op", "ops-pw-2"), ("qian.view", "Viewer", "view-pw-3")]
    for name, role, password in users:
        cli("users", "create", "--username", name, "--role", role, "--password", password,
            "--firstname", name, "--lastname", role, "--email", f"{name}@fangpin.local")
    cli("dags", "reserialize")
    probe = (f"USERS = {json.dumps([(u, p) for u, _, p in users])}\nRUN_ID = {ids['medical']}\n" + PROBE)
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    res = json.loads(line[0][7:])

    assert res["auth_manager"] == "FabAuthManager"
    assert res["anonymous"] == [401, 401]  # leaders: no account, nothing without a login
    assert res["wrong_password"] == 401
    auditor, ops, viewer = res["zhao.audit"], res["wang.ops"], res["qian.view"]
    assert auditor["token"] == ops["token"] == viewer["token"] == 201
    # the auditor reads the page, a run's results and the Data Docs …
    assert auditor["page"] == [200, True] and auditor["run"] == 200 and auditor["docs"] == 200
    # … and can neither trigger nor pause a DAG, nor list them
    assert auditor["trigger"] == 403 and auditor["pause"] == 403 and auditor["dags"] == 403
    assert auditor["clear"] == 403 and auditor["variable"] == 403  # nor change anything else
    # the platform team operates DAGs and sees the page
    assert ops["trigger"] == 200 and ops["pause"] == 200 and ops["dags"] == 200 and ops["page"] == [200, True]
    assert ops["clear"] == 200 and ops["variable"] == 201
    # a role without the plugins view does not get the page
    assert viewer["page"][0] == 403 and viewer["docs"] == 403 and viewer["trigger"] == 403
