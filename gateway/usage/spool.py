"""The request log's local spool: records that could not reach the store wait here, in order, on disk.

    spool = Spool(Path("ragway-spool.db"), max_bytes=256 * 2**20)
    kept = spool.append(rows)         # one transaction, fsync'd: the batch is on disk or not at all
    batch = spool.oldest(500)         # [(seq, row), ...] in arrival order
    spool.remove(batch[-1][0])        # after the store took them

A SQLite file beside the config survives a restart, so a gateway stopped while its store was down
replays what it spooled the next time it starts. Several workers of one replica may share the file:
SQLite serialises them, and the store's unique record id makes a replay that runs twice harmless.
Every method is blocking; the recorder calls them from a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]


class Spool:
    """An append-only queue of log rows in a SQLite file, bounded by the bytes of the rows it holds."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        # FULL: every committed batch is fsync'd, so a crash loses nothing the spool acknowledged.
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "size INTEGER NOT NULL, row TEXT NOT NULL)")

    def append(self, rows: Sequence[Row]) -> int:
        """Store *rows* in one fsync'd transaction while they fit the size limit; return how many were kept."""
        encoded = [self.encode(row) for row in rows]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                room = self.max_bytes - self._bytes()
                kept = []
                for text in encoded:
                    if len(text) > room:
                        break
                    kept.append((len(text), text))
                    room -= len(text)
                self._db.executemany("INSERT INTO spool (size, row) VALUES (?, ?)", kept)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(kept)

    @staticmethod
    def encode(row: Row) -> str:
        """The text a row is stored as; its length is what counts against the size limit."""
        return json.dumps(row, separators=(",", ":"))

    def oldest(self, limit: int) -> list[tuple[int, Row]]:
        """Up to *limit* rows in the order they were spooled, each with its sequence number."""
        with self._lock:
            found = self._db.execute("SELECT seq, row FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(seq, json.loads(text)) for seq, text in found]

    def remove(self, through_seq: int) -> None:
        """Forget every row up to and including *through_seq* (the store has them)."""
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE seq <= ?", (through_seq,))

    def depth(self) -> int:
        """Rows waiting; what the other workers sharing the file spooled included."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _bytes(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0])
