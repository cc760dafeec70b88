"""Applies the ordered SQL files in ``migrations/sql`` exactly once per database.

Written by hand rather than with yoyo-migrations or alembic: yoyo serialises concurrent runs with
a lock *row* that stays behind when a process dies mid-run (someone must run ``break-lock``), and
alembic brings SQLAlchemy for what is a list of plain SQL files. This runner holds a session-level
Postgres advisory lock instead, which the server releases by itself when the connection drops, so
two processes starting at once (``bytedash up`` beside ``bytedash migrate``) simply take turns.

Each file runs in its own transaction together with its row in ``schema_migrations``; a file
that fails leaves nothing behind. A recorded file whose text later changed is reported rather
than silently skipped, because the schema would no longer match the code that reads it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).with_name("sql")
# Arbitrary but fixed: every migration run on any process contends for this one key.
ADVISORY_LOCK_KEY = 0x6279_7465_6461_7368  # "bytedash"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration could not be applied, or the recorded history does not match the files."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def apply_migrations(
    database_url: str, migrations: Sequence[Migration] | None = None
) -> list[Migration]:
    """Apply every pending migration; return the ones applied by this call (maybe none)."""
    todo = list(migrations) if migrations is not None else discover_migrations()
    applied_now: list[Migration] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
            recorded = {version: (name, checksum) for version, name, checksum in rows}
            for migration in todo:
                if migration.version in recorded:
                    name, checksum = recorded[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{name} was applied from a "
                            "different text than the file now holds; add a new migration "
                            "instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    return applied_now
