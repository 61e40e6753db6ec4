"""The auditors' 数据质量 page, through HTTP: the plugin's FastAPI app on a seeded monitoring
database, and the same plugin mounted by Airflow's own api-server app factory."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="fangpin-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
FULL_ID = "45130219800101123X"


def _seed(eng, out: Path) -> dict:
    """Two departments over two periods, one superseded re-run, results and Data Docs files."""
    from sqlalchemy.orm import Session

    from fangpin.store.models import ValidationResult, ValidationRun

    docs = out / "2026-10" / "data_docs"
    (docs / "validations").mkdir(parents=True)
    (docs / "index.html").write_text("<html>GX Data Docs index 2026-10</html>", encoding="utf-8")
    (docs / "validations" / "medical.html").write_text("<html>medical suite result</html>", encoding="utf-8")
    (out / "2026-10" / "call_sheets").mkdir(parents=True)
    (out / "2026-10" / "call_sheets" / "secret.csv").write_text("13800000000", encoding="utf-8")
    t0 = dt.datetime(2026, 11, 6, 6, 5)

    def run(**kw):
        base = dict(run_uid="u1", file_name=f"{kw['feed']}.csv", rows_total=100, rows_accepted=100,
                    rows_quarantined=0, rows_unmatched=0, validated_at=t0, is_current=True, message=None,
                    data_docs=str(docs / "index.html"))
        return ValidationRun(**{**base, **kw})

    with Session(eng) as s, s.begin():
        old = run(period="2026-10", feed="medical", department="医保", status="通过", validated_at=t0 - dt.timedelta(hours=1),
                  is_current=False, run_uid="u0")
        med = run(period="2026-10", feed="medical", department="医保", status="有隔离", rows_accepted=97,
                  rows_quarantined=3, rows_unmatched=5, data_docs=str(docs / "validations" / "medical.html"))
        dis = run(period="2026-10", feed="disability", department="残联", status="拒收", rows_total=0,
                  rows_accepted=0, message="disability.csv：表头缺少列 残疾等级", data_docs=None)
        sep = run(period="2026-09", feed="medical", department="医保", status="通过")
        s.add_all([old, med, dis, sep])
        s.flush()
        s.add_all([
            ValidationResult(validation_run_id=med.id, expectation="expect_column_values_to_match_regex",
                             column="id_number", success=False, element_count=100, unexpected_count=3,
                             sample=[FULL_ID, "bad-id"]),
            ValidationResult(validation_run_id=med.id, expectation="expect_column_values_to_be_between",
                             column="out_of_pocket", success=True, element_count=100, unexpected_count=0, sample=None),
        ])
        ids = {"old": old.id, "medical": med.id, "disability": dis.id, "september": sep.id}
    return ids


@pytest.fixture
def client(db_url, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from fangpin import config
    from fangpin.store import db

    out = tmp_path / "output"
    monkeypatch.setenv("FANGPIN_OUTPUT_DIR", str(out))
    config.reset()
    ids = _seed(db.engine(db_url), out)
    import fangpin_data_quality as plugin

    with TestClient(plugin.create_app(require_login=False)) as c:
        c.ids = ids
        yield c


def test_page_lists_current_runs_per_department_and_period(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "数据质量" in html
    for heading in ("医保 · 2026-10", "医保 · 2026-09", "残联 · 2026-10"):
        assert heading in html
    assert "有隔离" in html and "拒收" in html and "表头缺少列 残疾等级" in html
    assert f'/runs/{client.ids["medical"]}"' in html
    assert f'/runs/{client.ids["old"]}"' not in html  # superseded by the re-run
    assert f'/runs/{client.ids["old"]}"' in client.get("/", params={"all": "true"}).text


def test_filters_by_period_and_department(client):
    html = client.get("/", params={"period": "2026-09"}).text
    assert "医保 · 2026-09" in html and "2026-10</h2>" not in html
    html = client.get("/", params={"department": "残联"}).text
    assert "残联 · 2026-10" in html and "医保 ·" not in html
    runs = client.get("/api/runs", params={"period": "2026-10"}).json()
    assert sorted(r["feed"] for r in runs) == ["disability", "medical"]
    med = next(r for r in runs if r["feed"] == "medical")
    assert (med["rows_total"], med["rows_accepted"], med["rows_quarantined"], med["rows_unmatched"]) == (100, 97, 3, 5)


def test_run_page_shows_results_with_masked_samples(client):
    r = client.get(f"/runs/{client.ids['medical']}")
    assert r.status_code == 200
    assert "expect_column_values_to_match_regex" in r.text and "未通过" in r.text and "通过" in r.text
    assert FULL_ID not in r.text and "4513" in r.text  # masked, not dropped
    detail = client.get(f"/api/runs/{client.ids['medical']}").json()
    assert [x["success"] for x in detail["results"]] == [False, True]
    assert client.get("/runs/999999").status_code == 404
    assert client.get("/api/runs/999999").status_code == 404


def test_data_docs_links_resolve_and_nothing_else_is_served(client):
    html = client.get("/").text
    assert 'href="/docs/2026-10/validations/medical.html"' in html
    assert client.get("/docs/2026-10/validations/medical.html").text == "<html>medical suite result</html>"
    assert "index 2026-10" in client.get("/docs/2026-10/index.html").text
    assert "index 2026-10" in client.get("/docs/2026-10/").text
    # the restricted call sheets next to the Data Docs are out of reach
    for path in ("/docs/2026-10/../call_sheets/secret.csv", "/docs/2026-10/%2e%2e/call_sheets/secret.csv",
                 "/docs/..%2F2026-10/call_sheets/secret.csv", "/docs/2026-10/missing.html"):
        assert client.get(path).status_code == 404, path


def test_uninitialised_monitoring_database_gives_a_notice(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from fangpin import config

    monkeypatch.setenv("FANGPIN_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    config.reset()
    import fangpin_data_quality as plugin

    try:
        r = TestClient(plugin.create_app(require_login=False)).get("/")
    finally:
        config.reset()
    assert r.status_code == 200 and "尚未初始化" in r.text


def test_plugin_declares_app_and_nav_entry():
    import fangpin_data_quality as plugin

    p = plugin.FangpinDataQualityPlugin
    (app,) = p.fastapi_apps
    assert app["url_prefix"] == "/data-quality" and app["app"] is not None
    (view,) = p.external_views
    assert view["name"] == "数据质量" and view["href"].startswith(app["url_prefix"]) and view["destination"] == "nav"


API_SERVER = textwrap.dedent("""
    import json, sys
    from fastapi.testclient import TestClient
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    c = TestClient(create_app("all"))
    res = {}
    res["anon_api"] = c.get("/data-quality/api/runs").status_code
    r = c.get("/data-quality/", headers={"accept": "text/html"}, follow_redirects=False)
    res["anon_html"] = [r.status_code, r.headers.get("location", "")]
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="auditor", role="viewer"))
    r = c.get("/data-quality/", headers={"Authorization": "Bearer " + token})
    res["page"] = [r.status_code, "医保 · 2026-10" in r.text, 'href="/data-quality/runs/' in r.text]
    c.cookies.set("_token", token)  # the UI's session cookie
    r = c.get("/data-quality/docs/2026-10/index.html")
    res["docs"] = [r.status_code, "index 2026-10" in r.text]
    plugins = c.get("/api/v2/plugins").json()["plugins"]
    res["views"] = [v["name"] for p in plugins for v in p["external_views"]]
    print("RESULT " + json.dumps(res, ensure_ascii=False))
""")


def test_page_through_the_airflow_api_server(sqlite_url, tmp_path, monkeypatch):
    """The real api-server app mounts the plugin under /data-quality, behind Airflow's login."""
    from fangpin import config
    from fangpin.store import db

    out = tmp_path / "output"
    monkeypatch.setenv("FANGPIN_OUTPUT_DIR", str(out))
    config.reset()
    _seed(db.engine(sqlite_url), out)
    home = tmp_path / "airflow_home"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
           "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-secret", "FANGPIN_DB_URL": sqlite_url,
           "FANGPIN_OUTPUT_DIR": str(out)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run([sys.executable, "-c", API_SERVER], env=env, capture_output=True, text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    import json

    res = json.loads(line[0][7:])
    assert res["anon_api"] == 401
    assert res["anon_html"][0] in (302, 303, 307) and "login" in res["anon_html"][1]
    assert res["page"] == [200, True, True]
    assert res["docs"] == [200, True]
    assert "数据质量" in res["views"]
