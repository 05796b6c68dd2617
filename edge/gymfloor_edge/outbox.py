"""Store-and-forward: messages wait here, on disk, until the broker has acknowledged them.

SQLite gives an ordered, crash-safe queue in one file with no server. The queue is bounded: when
it is full the oldest message goes, and `dropped` counts it, because on a machine that has been
offline for hours the newest data is the most useful.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

Row = tuple[int, str, bytes]


class Outbox:
    def __init__(self, path: Path | None, max_messages: int = 200_000) -> None:
        """`path` None keeps the queue in memory (tools that replay a file need no durability)."""
        self.max_messages = max_messages
        self.dropped = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self._lock = threading.Lock()
        (self._size,) = self._db.execute("SELECT count(*) FROM outbox").fetchone()

    def __len__(self) -> int:
        return self._size

    def append(self, topic: str, payload: bytes) -> None:
        with self._lock:
            if self._size >= self.max_messages:
                self._db.execute("DELETE FROM outbox WHERE id = (SELECT min(id) FROM outbox)")
                self._size -= 1
                self.dropped += 1
            self._db.execute("INSERT INTO outbox (topic, payload) VALUES (?, ?)", (topic, payload))
            self._size += 1

    def after(self, cursor: int, limit: int) -> list[Row]:
        """Up to `limit` messages queued after the one with id `cursor`, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, limit),
            ).fetchall()

    def remove(self, ids: list[int]) -> None:
        with self._lock:
            removed = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            self._size -= removed.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
