"""The tables a rebuild or verify builds aside, and the swap that puts rebuilt tables live.

An aside table is ``<table><suffix>``, shaped like the live one (columns, defaults, checks, NOT
NULLs), created with its primary key and unique constraints only: the build's upserts need
those, while every other index would only slow each write down. The other indexes are built
once, in bulk, when the build has caught up (`add_indexes`) — several times cheaper than
keeping them up to date row by row.

Aside indexes and constraints are named after the live ones plus the suffix (a hashed name when
that would exceed Postgres's 63 bytes), so the swap can give every one of them its live name
back: a later migration that says ``DROP INDEX contacts_org_created_idx`` still finds it.

The swap (`swap_in`) runs inside the caller's transaction: it locks live and rebuilt tables,
drops the live ones, renames the rebuilt ones and their indexes to the live names, and copies
the live tables' grants. Readers in other transactions see the old tables or the new ones,
never a mixture and never nothing: Postgres resolves a table name again after waiting for a
lock that a concurrent DDL held. Views or foreign keys on read-model tables would stop the drop;
there are none, and there should not be (a read model is disposable by design).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, sql

from projections.tables import TableNames

_MAX_IDENTIFIER = 63
_INDEX_TAIL = re.compile(r"^CREATE (UNIQUE )?INDEX .*? ON (?:ONLY )?\S+ (USING .*)$", re.DOTALL)


@dataclass(frozen=True)
class IndexInfo:
    name: str
    definition: str
    """``pg_get_indexdef`` text."""
    constraint: str | None
    """The constraint it backs (primary key, unique), if any."""


def aside_name(name: str, suffix: str) -> str:
    """The aside twin of an index, constraint or table name: deterministic and within 63 bytes."""
    candidate = name + suffix
    if len(candidate.encode()) <= _MAX_IDENTIFIER:
        return candidate
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    keep = _MAX_IDENTIFIER - len(suffix) - len(digest) - 1
    return f"{name.encode()[:keep].decode(errors='ignore')}_{digest}{suffix}"


def exists(conn: Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (_quoted(conn, table),)).fetchone()
    return row is not None and row[0] is not None


def all_exist(conn: Connection[Any], tables: Iterable[str]) -> bool:
    return all(exists(conn, table) for table in tables)


def same_shape(conn: Connection[Any], live: str, aside: str) -> bool:
    """Whether `aside` has `live`'s columns (name, type, nullability) in the same order.

    A rebuild resumed after a migration changed the live table must not swap in a table of the
    old shape; it starts over instead.
    """
    return _columns(conn, live) == _columns(conn, aside)


def drop(conn: Connection[Any], tables: Iterable[str]) -> None:
    for table in tables:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def create_aside(conn: Connection[Any], live: TableNames, suffix: str) -> TableNames:
    """Create each aside table empty, with its primary key and unique constraints only."""
    aside = live.with_suffix(suffix)
    for logical in live:
        source, target = live[logical], aside[logical]
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(target)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)").format(
                sql.Identifier(target), sql.Identifier(source)
            )
        )
        for name, definition in _key_constraints(conn, source):
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                    sql.Identifier(target),
                    sql.Identifier(aside_name(name, suffix)),
                    sql.SQL(definition),  # pg_get_constraintdef: server-generated SQL
                )
            )
    return aside


def add_indexes(conn: Connection[Any], live: TableNames, suffix: str) -> None:
    """Build on each aside table the live table's other indexes (idempotent), then ANALYZE.

    ANALYZE because the swapped-in table must not reach readers without planner statistics.
    """
    for logical in live:
        source, target = live[logical], live[logical] + suffix
        for index in indexes(conn, source):
            if index.constraint is not None:
                continue
            match = _INDEX_TAIL.match(index.definition)
            if match is None:
                raise RuntimeError(f"cannot read the definition of index {index.name}")
            unique, tail = match.groups()
            conn.execute(
                sql.SQL("CREATE {}INDEX IF NOT EXISTS {} ON {} {}").format(
                    sql.SQL(unique or ""),
                    sql.Identifier(aside_name(index.name, suffix)),
                    sql.Identifier(target),
                    sql.SQL(tail),  # pg_get_indexdef: server-generated SQL
                )
            )
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(target)))


def swap_in(conn: Connection[Any], live: TableNames, suffix: str) -> None:
    """Replace each live table by its aside twin, keeping every live name (caller's transaction).

    The caller has set a lock_timeout: a reader holding a live table for long makes this fail
    (and the caller retry) rather than queue every later reader behind the swap's lock.
    """
    aside = live.with_suffix(suffix)
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in [*live.values(), *aside.values()])
        )
    )
    for logical in live:
        source, target = aside[logical], live[logical]
        live_indexes = indexes(conn, target)
        _copy_grants(conn, target, source)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(target)))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(source), sql.Identifier(target)
            )
        )
        for index in live_indexes:
            if index.constraint is not None:
                conn.execute(
                    sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
                        sql.Identifier(target),
                        sql.Identifier(aside_name(index.constraint, suffix)),
                        sql.Identifier(index.constraint),
                    )
                )
            else:
                conn.execute(
                    sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                        sql.Identifier(aside_name(index.name, suffix)),
                        sql.Identifier(index.name),
                    )
                )


def indexes(conn: Connection[Any], table: str) -> list[IndexInfo]:
    rows = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid), con.conname"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid"
        "  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')"
        " WHERE i.indrelid = to_regclass(%s) ORDER BY c.relname",
        (_quoted(conn, table),),
    ).fetchall()
    return [IndexInfo(name, definition, constraint) for name, definition, constraint in rows]


def _key_constraints(conn: Connection[Any], table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u', 'x') ORDER BY conname",
        (_quoted(conn, table),),
    ).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def _columns(conn: Connection[Any], table: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (_quoted(conn, table),),
    ).fetchall()


def _copy_grants(conn: Connection[Any], source: str, target: str) -> None:
    """Grant on `target` what was granted on `source` (LIKE copies no privileges)."""
    rows = conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE a.grantee::regrole::text END,"
        " a.privilege_type, a.is_grantable"
        " FROM pg_class c, aclexplode(c.relacl) a"
        " WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner",
        (_quoted(conn, source),),
    ).fetchall()
    for grantee, privilege, grantable in rows:
        conn.execute(
            sql.SQL("GRANT {} ON {} TO {}{}").format(
                sql.SQL(privilege),  # a privilege keyword from aclexplode
                sql.Identifier(target),
                sql.SQL("PUBLIC") if grantee is None else sql.SQL(grantee),  # regrole text
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )


def _quoted(conn: Connection[Any], table: str) -> str:
    return sql.Identifier(table).as_string(conn)
