"""Durable store-and-forward queue between the pipeline and the MQTT publisher.

A pass is written here (and fsynced) before any publish attempt, and deleted only when
the broker has acknowledged it, so a broker outage, a network cut or a daemon crash
costs at worst a duplicate (same `id`), never a lost read. SQLite in WAL mode with
synchronous=FULL gives that durability per commit without a server.

The spool is bounded twice, because a roadside unit may be cut off for weeks:
by size (`max_bytes`) and by age (`max_age_s`). Either bound drops the *oldest* rows,
counts them in a persisted counter and logs a WARNING, so loss is always visible in
health and the status message, never silent.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Bytes charged per row on top of id + topic + payload: the id is stored twice (table
# and UNIQUE index) plus record headers, seq and created. Measured: a 600-byte payload
# costs ~770 bytes of file, and the charged size is within a few percent of that, so
# `max_bytes` tracks real disk use without asking SQLite for page counts on every put.
ROW_OVERHEAD = 48
_DROP_LOG_INTERVAL_S = 60.0
_VACUUM_PAGES = 256  # only shrink the file once a drained backlog left >= 1 MiB free
# AUTOINCREMENT: a plain INTEGER PRIMARY KEY reuses the highest seq once that row is
# deleted, and the publisher's "everything after seq N" cursor would then skip a pass.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_SIZE_SQL = f"length(id) * 2 + length(topic) + length(payload) + {ROW_OVERHEAD}"


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One unsent pass: `seq` is the delivery order, `id` the pass id used to dedupe."""

    seq: int
    id: str
    topic: str
    payload: bytes
    created: float


@dataclass(frozen=True, slots=True)
class SpoolItem:
    """What the caller hands to `put_many`."""

    id: str
    topic: str
    payload: bytes
    created: float


def row_size(id_: str, topic: str, payload: bytes) -> int:
    """The bytes a row is charged against `max_bytes` (same formula as `_SIZE_SQL`)."""
    return len(id_.encode()) * 2 + len(topic.encode()) + len(payload) + ROW_OVERHEAD


class Spool:
    """A bounded, crash-safe FIFO of passes waiting for a broker acknowledgement.

    One connection guarded by a lock: the pipeline thread puts, the publisher thread
    reads and acks, and SQLite work per call is short, so a lock is simpler than a
    connection per thread and keeps the in-memory counters consistent.
    """

    def __init__(self, path: str | Path, max_bytes: int, max_age_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.max_age_s = float(max_age_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_drop_log = float("-inf")
        self._unlogged_drops = 0
        self._conn = self._open()
        row = self._conn.execute(f"SELECT COUNT(*), COALESCE(SUM({_SIZE_SQL}), 0) FROM spool").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])
        self._dropped = self._read_counter("dropped")
        self.expire()  # the bounds may have changed in the config, or the unit was off for weeks

    # -- opening, integrity ---------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """Open the file, quarantining it first if it fails SQLite's integrity check."""
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700)
        try:
            return self._connect_checked()
        except sqlite3.DatabaseError as exc:
            self._quarantine(str(exc))
            return self._connect_checked()

    def _connect_checked(self) -> sqlite3.Connection:
        # Create the file ourselves so it is never world-readable, even briefly; SQLite
        # gives the -wal and -shm files the same mode as the database file.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            result = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if result != ["ok"]:
                raise sqlite3.DatabaseError(" ".join(str(r) for r in result[:3]).replace("\n", " "))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA journal_size_limit=4194304")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _quarantine(self, reason: str) -> None:
        """Move a corrupt spool aside (never delete it: it may hold unsent passes)."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(f"{target}{suffix}")
        log.error("spool %s failed its integrity check (%s); moved it to %s and started a "
                  "fresh spool. Unsent passes may be recoverable from that file.", self.path, reason, target)

    def _read_counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    # -- writing ----------------------------------------------------------------------

    def put(self, id: str, topic: str, payload: bytes, created: float | None = None) -> int | None:
        """Store one pass durably; return its seq, or None if that id is already spooled."""
        return self.put_many([SpoolItem(id, topic, payload, self._clock() if created is None else created)])[0]

    def put_many(self, items: Sequence[SpoolItem]) -> list[int | None]:
        """Store a burst of passes in one fsynced transaction (one commit, not one per pass)."""
        seqs: list[int | None] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for item in items:
                    cursor = self._conn.execute(
                        "INSERT INTO spool (id, topic, payload, created) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(id) DO NOTHING", (item.id, item.topic, item.payload, item.created))
                    if cursor.rowcount:
                        seqs.append(cursor.lastrowid)
                        self._depth += 1
                        self._bytes += row_size(item.id, item.topic, item.payload)
                    else:
                        seqs.append(None)
                self._enforce_bytes_locked()
                self._expire_locked()
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback_locked()
                raise
        return seqs

    def ack(self, seq_or_id: int | str) -> bool:
        """Delete one delivered pass by seq or id; False if it was already gone."""
        return self.ack_many([seq_or_id]) == 1

    def ack_many(self, keys: Iterable[int | str]) -> int:
        """Delete delivered passes in one transaction; return how many rows went.

        Without its own fsync: an ack lost in a power cut only means the pass is sent
        again (same id), and the next put's fsync of the WAL makes it durable anyway.
        That halves the fsyncs per pass, which matters for throughput and flash wear.
        """
        removed = 0
        with self._lock:
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key in keys:
                    column = "id" if isinstance(key, str) else "seq"
                    removed += self._delete_locked(f"{column} = ?", (key,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback_locked()
                raise
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")
            if self._depth == 0 and self._conn.execute("PRAGMA freelist_count").fetchone()[0] > _VACUUM_PAGES:
                self._conn.execute("VACUUM")  # give a drained backlog's disk back; cheap when empty
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks only here
        return removed

    def expire(self) -> int:
        """Apply both bounds now (puts do it too); return how many passes were dropped."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._enforce_bytes_locked() + self._expire_locked()
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback_locked()
                raise
        return dropped

    def _rollback_locked(self) -> None:
        """Undo a failed transaction and resync the counters from the file. SQLite has
        already rolled back by itself after some errors (a full disk at COMMIT)."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._reload_counts_locked()

    def _delete_locked(self, where: str, params: tuple) -> int:
        rows = self._conn.execute(f"DELETE FROM spool WHERE {where} RETURNING {_SIZE_SQL}", params).fetchall()
        self._depth -= len(rows)
        self._bytes -= sum(row[0] for row in rows)
        return len(rows)

    def _enforce_bytes_locked(self) -> int:
        """Drop the oldest rows until the charged size fits max_bytes."""
        excess = self._bytes - self.max_bytes
        if excess <= 0:
            return 0
        last_seq, freed = None, 0
        for seq, size in self._conn.execute(f"SELECT seq, {_SIZE_SQL} FROM spool ORDER BY seq"):
            last_seq, freed = seq, freed + size
            if freed >= excess:
                break
        dropped = self._delete_locked("seq <= ?", (last_seq,))
        self._count_drops_locked(dropped, f"spool over its size bound ({self.max_bytes} bytes)")
        return dropped

    def _expire_locked(self) -> int:
        """Drop rows past max_age_s; checks the head first so the common case is O(log n)."""
        cutoff = self._clock() - self.max_age_s
        head = self._conn.execute("SELECT created FROM spool ORDER BY seq LIMIT 1").fetchone()
        if head is None or head[0] >= cutoff:
            return 0
        dropped = self._delete_locked("created < ?", (cutoff,))
        self._count_drops_locked(dropped, f"passes older than max_age_s ({self.max_age_s:g} s)")
        return dropped

    def _count_drops_locked(self, count: int, reason: str) -> None:
        """Persist the drop counter in the same transaction, and WARN about it.

        Every drop episode is logged, but at most once a minute while the spool stays
        full, so a week-long outage does not flood the log with one line per pass.
        """
        if not count:
            return
        self._dropped += count
        self._conn.execute("INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                           "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (self._dropped,))
        self._unlogged_drops += count
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_INTERVAL_S:
            log.warning("spool dropped %d oldest unsent pass(es): %s (dropped in total: %d)",
                        self._unlogged_drops, reason, self._dropped)
            self._last_drop_log, self._unlogged_drops = now, 0

    def _reload_counts_locked(self) -> None:
        row = self._conn.execute(f"SELECT COUNT(*), COALESCE(SUM({_SIZE_SQL}), 0) FROM spool").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])
        self._dropped = self._read_counter("dropped")

    # -- reading ---------------------------------------------------------------------

    def oldest(self, n: int, after_seq: int = 0) -> list[SpoolEntry]:
        """Up to n unsent passes with seq > after_seq, oldest first (the send order)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, id, topic, payload, created FROM spool WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, n)).fetchall()
        return [SpoolEntry(seq, id_, topic, bytes(payload), created) for seq, id_, topic, payload, created in rows]

    def get(self, seq: int) -> SpoolEntry | None:
        """One unsent pass by seq (to resend a pass the broker refused)."""
        with self._lock:
            row = self._conn.execute("SELECT seq, id, topic, payload, created FROM spool WHERE seq = ?",
                                     (seq,)).fetchone()
        return None if row is None else SpoolEntry(row[0], row[1], row[2], bytes(row[3]), row[4])

    def depth(self) -> int:
        with self._lock:
            return self._depth

    def oldest_age(self) -> float | None:
        """Seconds since the oldest unsent pass was created; None when empty."""
        with self._lock:
            oldest = self._conn.execute("SELECT MIN(created) FROM spool").fetchone()[0]
        return None if oldest is None else max(0.0, self._clock() - oldest)

    @property
    def dropped_count(self) -> int:
        """Passes dropped by the size or age bound over the spool file's whole life."""
        with self._lock:
            return self._dropped

    def stats(self) -> dict[str, float | int | None]:
        with self._lock:
            depth, charged, dropped = self._depth, self._bytes, self._dropped
        files = sum(Path(f"{self.path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{self.path}{s}").exists())
        return {"depth": depth, "bytes": charged, "file_bytes": files, "oldest_age_s": self.oldest_age(),
                "dropped": dropped, "max_bytes": self.max_bytes, "max_age_s": self.max_age_s}

    def close(self) -> None:
        with self._lock:
            self._conn.close()
