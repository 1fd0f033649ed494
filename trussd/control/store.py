"""The control plane's database: SQLite (WAL) by default, Postgres by URL, through one small API.

SQL elsewhere in ``trussd.control`` is written once with ``?`` placeholders and portable
statements (``INSERT ... ON CONFLICT DO NOTHING``, ``RETURNING``); this module translates the
placeholder style for Postgres. Calls are synchronous and short: the control plane runs them on
its event loop, which is fine for the handful of rows each request touches.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trussd.errors import ControlError

__all__ = ["Row", "Store", "open_store"]

Row = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    is_admin INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS secrets (
    tenant TEXT NOT NULL REFERENCES tenants(name),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE IF NOT EXISTS models (
    tenant TEXT NOT NULL REFERENCES tenants(name),
    name TEXT NOT NULL,
    production_deployment TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    blob TEXT NOT NULL,
    truss_dir TEXT NOT NULL,
    kind TEXT NOT NULL,
    instance_type TEXT NOT NULL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    deleted_at DOUBLE PRECISION,
    UNIQUE (tenant, model, version)
);
CREATE TABLE IF NOT EXISTS replicas (
    id TEXT PRIMARY KEY,
    deployment TEXT NOT NULL,
    pid INTEGER,
    port INTEGER,
    status TEXT NOT NULL,
    requested_at DOUBLE PRECISION NOT NULL,
    ready_at DOUBLE PRECISION,
    last_seen_at DOUBLE PRECISION NOT NULL,
    stopped_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS blob_owners (
    tenant TEXT NOT NULL REFERENCES tenants(name),
    sha256 TEXT NOT NULL,
    uploaded_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant, sha256)
);
CREATE TABLE IF NOT EXISTS ledger (
    deployment TEXT NOT NULL,
    replica TEXT NOT NULL,
    minute BIGINT NOT NULL,
    tenant TEXT NOT NULL,
    model TEXT NOT NULL,
    instance_type TEXT NOT NULL,
    price_micros BIGINT NOT NULL,
    recorded_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (deployment, replica, minute)
);
CREATE INDEX IF NOT EXISTS ledger_minute ON ledger (minute);
"""


class Store:
    """One connection, serialised by a lock; ``transaction()`` groups statements atomically."""

    def __init__(self, conn: Any, *, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres
        self._lock = threading.RLock()
        self._depth = 0

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), tuple(params))
                count = int(cur.rowcount)
            finally:
                cur.close()
            if self._depth == 0:
                self._conn.commit()
            return count

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), tuple(params))
                names = [d[0] for d in cur.description or ()]
                rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
            finally:
                cur.close()
            if self._depth == 0:
                self._conn.commit()
            return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._conn.rollback()
                raise
            self._depth -= 1
            if self._depth == 0:
                self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _open_sqlite(path: Path) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
    # WAL + synchronous=FULL: a committed ledger row survives a crash of the process or machine.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(_SCHEMA)
    path.chmod(0o600)
    return Store(conn, postgres=False)


def _open_postgres(url: str) -> Store:
    try:
        import psycopg  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ControlError(
            "a Postgres database URL needs the psycopg package",
            hint="pip install 'psycopg[binary]'",
        ) from exc
    conn = psycopg.connect(url)
    with conn.cursor() as cur:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            cur.execute(statement)
    conn.commit()
    return Store(conn, postgres=True)


def open_store(database_url: str | None, data_dir: Path) -> Store:
    """``None`` → ``DATA_DIR/trussd.db``; ``sqlite:///PATH`` or ``postgresql://...`` otherwise."""
    if not database_url:
        return _open_sqlite(data_dir / "trussd.db")
    if database_url.startswith("sqlite:///"):
        return _open_sqlite(Path(database_url.removeprefix("sqlite:///")))
    if database_url.startswith(("postgres://", "postgresql://")):
        return _open_postgres(database_url)
    raise ControlError(
        f"unsupported database URL `{database_url}`",
        hint="use sqlite:///PATH or postgresql://USER@HOST/DB",
    )
