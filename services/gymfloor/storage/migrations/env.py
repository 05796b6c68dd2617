"""Alembic's entry point. The store runs migrations on its own connection (see
`gymfloor.storage.migrate`); `alembic` on the command line works too, for new revisions."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from gymfloor.storage.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command line: sqlalchemy.url from its own config
        with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as own:
            _migrate(own)
            own.commit()
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    # Batch mode lets SQLite alter tables, by copying them, where it has no ALTER for it.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
