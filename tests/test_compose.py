"""The production deployment files: docker-compose.yaml structure, Dockerfile, .env.example."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                    "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                    "airflow-worker": "celery worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text(encoding="utf-8"))


def _env_vars(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", text))


def _required(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))


def test_services_present(compose):
    services = compose["services"]
    for name in [*AIRFLOW_SERVICES, "airflow-init", "postgres", "monitoring-db", "redis", "mailpit"]:
        assert name in services, name
    assert "dev" in services["mailpit"].get("profiles", [])  # the SMTP catcher is for development only


def test_airflow_services_share_the_common_block(compose):
    common = compose["x-airflow-common"]
    for name, command in AIRFLOW_SERVICES.items():
        svc = compose["services"][name]
        assert svc["image"] == common["image"] and svc["build"] == "."
        assert (svc["command"] if isinstance(svc["command"], str) else " ".join(svc["command"])) == command
        assert "healthcheck" in svc and svc["restart"] == "always"
        assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        for dep in ("postgres", "redis", "monitoring-db"):
            assert svc["depends_on"][dep]["condition"] == "service_healthy"
    assert compose["services"]["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_celery_redis_and_two_separate_databases(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:" in env["AIRFLOW__CELERY__BROKER_URL"]
    meta = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    mon = env["FANGPIN_DB_URL"]
    assert meta.startswith("postgresql") and "@postgres/" in meta
    assert mon.startswith("postgresql") and "@monitoring-db/" in mon
    pg, mdb = compose["services"]["postgres"], compose["services"]["monitoring-db"]
    assert pg["volumes"] != mdb["volumes"]
    assert mdb["environment"]["POSTGRES_DB"] == mon.rsplit("/", 1)[1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")


def test_init_migrates_both_databases(compose):
    script = "\n".join(compose["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in script and "python -m fangpin db" in script


def test_secrets_come_from_env_and_there_is_no_default_login(compose):
    text = (REPO / "docker-compose.yaml").read_text(encoding="utf-8")
    env = compose["x-airflow-common"]["environment"]
    for key, var in [("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
                     ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET")]:
        assert env[key] == "${%s:?set %s in .env}" % (var, var)
    conn = env["AIRFLOW_CONN_SMTP_DEFAULT"]
    assert "${SMTP_PASSWORD:?" in conn and "disable_tls" in conn and "disable_ssl" in conn
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "SMTP_PASSWORD", "POSTGRES_PASSWORD",
            "FANGPIN_DB_PASSWORD", "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"} <= _required(text)
    lowered = text.lower()
    assert "admin:admin" not in lowered and "airflow:airflow" not in lowered
    assert "_airflow_www_user_password" not in lowered and "simple_auth_manager_all_admins" not in lowered
    for svc in ("postgres", "monitoring-db"):
        assert compose["services"][svc]["environment"]["POSTGRES_PASSWORD"].startswith("${")


def test_smtp_connection_json_is_valid_once_substituted(compose):
    conn = compose["x-airflow-common"]["environment"]["AIRFLOW_CONN_SMTP_DEFAULT"]
    dev = {"SMTP_PORT": "1025", "SMTP_DISABLE_SSL": "true", "SMTP_DISABLE_TLS": "true"}
    filled = re.sub(r"\$\{([A-Z0-9_]+)[^}]*\}", lambda m: dev.get(m.group(1), "x"), conn)
    parsed = json.loads(filled)
    assert parsed["conn_type"] == "smtp" and parsed["port"] == 1025
    assert parsed["extra"]["disable_ssl"] is True and parsed["extra"]["disable_tls"] is True


def test_env_example_lists_every_variable_without_values_for_secrets():
    text = (REPO / "docker-compose.yaml").read_text(encoding="utf-8")
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    declared = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    missing = _required(text) - set(declared)
    assert not missing, f".env.example lacks {sorted(missing)}"
    for secret in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "SMTP_PASSWORD",
                   "POSTGRES_PASSWORD", "FANGPIN_DB_PASSWORD", "AIRFLOW_ADMIN_USER", "AIRFLOW_ADMIN_PASSWORD"):
        assert declared[secret] == "", f"{secret} must not have a value in .env.example"


def test_dockerfile_extends_the_official_image_with_fonts_and_project():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11\s*$", text, re.M)
    assert "fonts-noto-cjk" in text and "libharfbuzz-subset0" in text
    assert "requirements.txt" in text and re.search(r"pip install .*-e /opt/fangpin", text)
    assert re.search(r"^USER airflow", text, re.M)  # does not run Airflow as root
    for folder in ("include", "templates", "dags", "plugins"):
        assert re.search(rf"^COPY .*\b{folder}\b", text, re.M), folder


def test_volumes_mount_dags_plugins_and_the_data_folders(compose):
    vols = compose["x-airflow-common"]["volumes"]
    targets = {v.split(":")[-2] if v.endswith(":ro") else v.split(":")[-1] for v in vols}
    assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/logs", "/opt/airflow/incoming",
            "/opt/airflow/output"} <= targets
    env = compose["x-airflow-common"]["environment"]
    assert env["FANGPIN_DATA_DIR"] == "/opt/airflow/incoming" and env["FANGPIN_OUTPUT_DIR"] == "/opt/airflow/output"
    assert set(compose["volumes"]) >= {"postgres-db-volume", "monitoring-db-volume"}


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="docker compose is not installed here")
def test_docker_compose_config_accepts_the_file(tmp_path):
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    filled = re.sub(r"^([A-Z_]+)=$", r"\1=placeholder", example, flags=re.M)
    (tmp_path / ".env").write_text(filled)
    subprocess.run(["docker", "compose", "-f", str(REPO / "docker-compose.yaml"), "--env-file",
                    str(tmp_path / ".env"), "config", "-q"], check=True, timeout=60)


def test_fab_auth_manager_with_the_auditor_role_and_no_default_user(compose):
    """Production login is FAB (users and roles in Airflow's database, no passwords file): the
    Auditor role may read the plugins view (the 数据质量 page and Data Docs) and nothing else;
    the init service syncs the roles and creates only the admin named in .env.
    tests/test_fab_roles.py checks what these roles can do on a real api-server app."""
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
    assert not [k for k in env if "SIMPLE_AUTH_MANAGER" in k]
    roles = json.loads(env["AIRFLOW__FAB__CUSTOM_ROLES"])
    assert roles == {"Auditor": [{"action": "can_read", "resource": "Plugins"},
                                 {"action": "menu_access", "resource": "Plugins"}]}
    assert not [v for v in compose["x-airflow-common"]["volumes"] if "secrets" in v]
    init = compose["services"]["airflow-init"]
    script = "\n".join(init["command"])
    assert script.index("airflow db migrate") < script.index("airflow sync-perm") < script.index("airflow users create")
    assert "--role Admin" in script and "$${FANGPIN_ADMIN_PASSWORD}" in script
    assert init["environment"]["FANGPIN_ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^apache-airflow-providers-fab==", requirements, re.M)
    assert re.search(r"^apache-airflow-providers-celery==", requirements, re.M)


def test_go_live_is_required_and_the_ui_and_schedules_use_shanghai_time(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["FANGPIN_GO_LIVE"].startswith("${FANGPIN_GO_LIVE:?")
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Asia/Shanghai" and env["TZ"] == "Asia/Shanghai"
    # no province file in a single-county deployment: the province DAG does not exist
    assert "FANGPIN_PROVINCE_FILE" not in env
