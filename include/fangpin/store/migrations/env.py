"""Alembic environment: runs on the connection fangpin.store.db.migrate hands over."""

from alembic import context
from sqlalchemy import create_engine

from fangpin.store.models import metadata

config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is None:
        with create_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
            _configure(conn)
    else:
        _configure(conn)


def _configure(conn) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run()
