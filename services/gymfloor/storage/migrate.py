"""Versioned schema migrations (Alembic), run when a store opens so an upgrade needs no step."""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

log = logging.getLogger("gymfloor.storage")

SCRIPTS = "gymfloor.storage:migrations"
MIGRATION_LOCK = 0x67796D66  # any constant: it names the lock among the server's advisory locks


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; nothing happens when it is there already."""
    current, head = revisions(engine)
    if current == head:
        return
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Workers of partitioned ingest start together: one migrates, the others wait for
            # it here and then find nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            if MigrationContext.configure(connection).get_current_revision() == head:
                return
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("store schema upgraded from revision %s to %s", current or "none", head)


def revisions(engine: Engine) -> tuple[str | None, str]:
    """The store's revision and the newest one this version of gymfloor knows."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return current, head


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    return config
