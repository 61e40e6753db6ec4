"""Real Airflow processes for the scheduler tests (not dag.test()): a fresh PostgreSQL metadata
database, one AIRFLOW_HOME, and `airflow scheduler`, `dag-processor`, `api-server` and
`celery worker`s as subprocesses, each in its own session so that it can be killed with all its
children, every port free-picked on 127.0.0.1 (the lead and other sessions may run Airflow on
this machine too). A local SMTP server (aiosmtpd) keeps every message.

Used by tests/test_scheduler_runs.py; not a test module itself."""

from __future__ import annotations

import email
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from email.header import decode_header, make_header
from pathlib import Path

from conftest import _drop_pg_database, _fresh_pg_database

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_reachable(port: int = 6379) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Inbox:
    """aiosmtpd on a free port; `messages` holds (recipients, subject) of every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        inbox = self
        self.messages: list[tuple[tuple[str, ...], str]] = []

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = email.message_from_bytes(envelope.original_content or envelope.content)
                subject = str(make_header(decode_header(msg.get("Subject", ""))))
                inbox.messages.append((tuple(sorted(envelope.rcpt_tos)), subject))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self._ctl = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._ctl.start()

    def stop(self):
        self._ctl.stop()

    def connection(self) -> str:
        return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                           "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 30, "retry_limit": 2,
                                     "from_email": "fangpin@fangpin.local"}})


class Cluster:
    """One Airflow deployment on this machine. `env` is every component's environment."""

    def __init__(self, tmp: Path, executor: str, extra: dict[str, str] | None = None):
        self.tmp = tmp
        self.meta_url = _fresh_pg_database()
        self.mon_url = _fresh_pg_database()
        self.inbox = Inbox()
        self.api_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = tmp / "process_logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FANGPIN_"))}
        env.update({
            "PYTHONPATH": str(REPO / "include"),
            "AIRFLOW_HOME": str(tmp / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Shanghai",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.meta_url,
            # Airflow 3: tasks report to the API server's execution API
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW_CONN_SMTP_DEFAULT": self.inbox.connection(),
            "FANGPIN_DB_URL": self.mon_url,
            "FANGPIN_HOME": str(tmp / "fangpin_home"),
            "FANGPIN_DATA_DIR": str(tmp / "incoming"),
            "FANGPIN_OUTPUT_DIR": str(tmp / "output"),
        })
        if executor == "CeleryExecutor":
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.meta_url,
                # a queue of its own: other sessions may share this Redis
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"fangpin_{secrets.token_hex(4)}",
            })
        env.update(extra or {})
        self.env = env
        self._engine = None

    # -------------------------------------------------------------- processes
    def airflow(self, *args: str, timeout: int = 600) -> str:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, cwd=self.tmp, capture_output=True,
                              text=True, timeout=timeout)
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "wb")
        proc = subprocess.Popen([str(BIN / "airflow"), *args], env={**self.env, **(env or {})}, cwd=self.tmp,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL the process, its session and every descendant (a machine that died)."""
        import psutil

        proc = self.procs[name]
        proc._killed_on_purpose = True
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for p in family:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        proc.wait(timeout=30)

    def descendants(self, name: str) -> set[int]:
        import psutil

        try:
            root = psutil.Process(self.procs[name].pid)
            return {root.pid, *(p.pid for p in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            return set()

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 30
        for name in list(self.procs):
            proc = self.procs[name]
            try:
                proc.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.inbox.stop()
        if self._engine is not None:
            self._engine.dispose()
        for url in (self.meta_url, self.mon_url):
            _drop_pg_database(url)

    def tail(self, lines: int = 40) -> str:
        """The end of every process log (for failure messages)."""
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def task_log(self, dag_id: str, task_id: str) -> str:
        logs = sorted((Path(self.env["AIRFLOW_HOME"]) / "logs").rglob("*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs
                         if f"dag_id={dag_id}" in str(p) and f"task_id={task_id}" in str(p))

    # -------------------------------------------------------------- the metadata database
    def query(self, sql: str, **params) -> list[tuple]:
        from sqlalchemy import create_engine, text

        if self._engine is None:
            self._engine = create_engine(self.meta_url, pool_pre_ping=True)
        with self._engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]

    def wait(self, what: str, check, timeout: float, every: float = 2.0):
        """Polls check() until it returns a truthy value (returned); fails with the logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None and not getattr(proc, "_killed_on_purpose", False):
                    raise AssertionError(f"{name} exited ({proc.returncode}) while waiting for {what}\n{self.tail()}")
            value = check()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tail()}")

    def up(self, *, dags: list[str], workers: int = 0, timeout: float = 240) -> None:
        """Migrates the metadata database, starts the API server, dag-processor and scheduler
        (and `workers` Celery workers), and waits until `dags` are parsed and the API answers."""
        import urllib.request

        self.airflow("db", "migrate")
        self.start("api-server", "api-server", "--port", str(self.api_port), "--host", "127.0.0.1",
                   "--workers", "1")
        self.start("dag-processor", "dag-processor")
        self.start("scheduler", "scheduler")
        for i in range(1, workers + 1):
            # each worker its own log-server port, like two machines
            self.start(f"worker{i}", "celery", "worker", "--concurrency", "1", "--celery-hostname", f"w{i}@%h",
                       "--queues", self.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"], "--skip-serve-logs",
                       "--without-gossip", "--without-mingle")

        def api_up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health", timeout=5) as r:
                    return r.status == 200
            except OSError:
                return False

        self.wait("the API server", api_up, timeout)
        for i in range(1, workers + 1):  # both consuming before any task is queued
            log = self.logs / f"worker{i}.log"
            self.wait(f"worker{i}", lambda: f"w{i}@" in log.read_text(errors="replace")
                      and " ready." in log.read_text(errors="replace"), timeout)
        self.wait(f"the dag-processor to parse {dags}", lambda: set(dags) <= {
            r[0] for r in self.query("SELECT dag_id FROM dag WHERE NOT is_stale")}, timeout)

    def unpause(self, *dag_ids: str) -> None:
        # the CLI, as the platform team would (docs/airflow.md)
        for dag_id in dag_ids:
            self.airflow("dags", "unpause", dag_id)
