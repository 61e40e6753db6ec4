"""Shared fixtures: databases (SQLite always, PostgreSQL when reachable) and a generated county."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("FANGPIN_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
SMALL_PERIOD = "2026-10"


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _fresh_pg_database() -> str:
    from sqlalchemy import create_engine, text

    name = f"fangpin_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    from fangpin.store import db

    db._engine(url).dispose()
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path, monkeypatch):
    """A fresh, empty monitoring database URL; also exported as FANGPIN_DB_URL."""
    from fangpin import config

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fangpin.db'}"
    else:
        if not postgres_reachable():
            pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
        url = _fresh_pg_database()
        request.addfinalizer(lambda: _drop_pg_database(url))
    monkeypatch.setenv("FANGPIN_DB_URL", url)
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path / "home"))
    config.reset()
    yield url
    config.reset()


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch):
    """A fresh SQLite monitoring database only (for tests whose subject is not SQL)."""
    from fangpin import config

    url = f"sqlite:///{tmp_path / 'fangpin.db'}"
    monkeypatch.setenv("FANGPIN_DB_URL", url)
    monkeypatch.setenv("FANGPIN_HOME", str(tmp_path / "home"))
    config.reset()
    yield url
    config.reset()


@pytest.fixture(scope="session")
def small_county(tmp_path_factory) -> Path:
    """A small generated county for SMALL_PERIOD (with its answer key in answer_key/)."""
    from fangpin.generate import generate_county

    out = tmp_path_factory.mktemp("county") / SMALL_PERIOD
    generate_county(out, SMALL_PERIOD, households=1500, seed=7)
    return out
