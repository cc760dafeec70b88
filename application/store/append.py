"""The append statement, sent straight through libpq on a pooled psycopg connection.

Every command ends in one ``SELECT events_append_rows(...)`` (application/store/recorder.py).
Through psycopg's cursor it cost 100 to 106 µs of the writer's CPU per append (a one-writer loop of
``create_contact`` commands, measured with ``time.thread_time`` around the call): the cursor, query
conversion, fourteen parameter dumpers and the result machinery run in Python on every call. Sent
with libpq's own ``PQexecPrepared`` on the same connection, the same statement costs 48 to 52 µs,
and a command 280 to 290 µs in all instead of 322 to 343: most of what was left between a command
and a plain INSERT of its row. The doorbell's NOTIFY goes the same way
(application/store/doorbell.py).

Hand-written because psycopg has no cheaper public path than its cursor; this uses only its public
low-level API (``psycopg.pq``), and keeps what the cursor gave: the statement is prepared once per
connection (again when the server lost it), the parameters travel as text (the same text the server
parses from psycopg's dumps; a NUL is refused as psycopg refuses it), errors are psycopg's own
exception classes (a unique violation is ``UniqueViolation``, an ``IntegrityError``; a lost
connection an ``OperationalError``), so the datastore's translation and the library's retry apply
unchanged. The call blocks in libpq with the GIL released, as psycopg's own waits do.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, cast

import psycopg
from psycopg import errors, pq
from psycopg.abc import Buffer

STATEMENT = b"bytedash_events_append_rows"
SQL = (
    b"SELECT events_append_rows($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::timestamptz,"
    b" $12, $13, $14)"
)
# SQLSTATE invalid_sql_statement_name: the server no longer has the prepared statement (a
# DISCARD ALL, or a pooler in front of Postgres that handed over another session).
_NOT_PREPARED = "26000"

_prepared: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def append(conn: psycopg.Connection[Any], params: Sequence[str | None]) -> list[int]:
    """Run the append with `params` (text, or None for NULL) on `conn`, in its session (the
    pool's autocommit connection: the statement commits on its own); the positions drawn."""
    encoding = conn.info.encoding
    values = [None if value is None else value.encode(encoding) for value in params]
    if any(value is not None and b"\x00" in value for value in values):
        # libpq reads a text parameter up to its first NUL: refuse it, as psycopg's dumper
        # does, rather than store a value cut short.
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    result = _execute(conn, values, encoding)
    if _sqlstate(result) == _NOT_PREPARED:
        _prepared.discard(conn)
        result = _execute(conn, values, encoding)
    _check(conn, result, pq.ExecStatus.TUPLES_OK, encoding)
    return [int(result.get_value(row, 0) or b"0") for row in range(result.ntuples)]


def _execute(
    conn: psycopg.Connection[Any], values: list[bytes | None], encoding: str
) -> pq.abc.PGresult:
    if conn not in _prepared:
        _check(conn, conn.pgconn.prepare(STATEMENT, SQL), pq.ExecStatus.COMMAND_OK, encoding)
        _prepared.add(conn)
    # None is SQL NULL, as psycopg's own cursor passes it; psycopg's annotation omits None.
    return conn.pgconn.exec_prepared(STATEMENT, cast("list[Buffer]", values))


def _sqlstate(result: pq.abc.PGresult) -> str:
    state = result.error_field(pq.DiagnosticField.SQLSTATE)
    return state.decode("ascii") if state else ""


def _check(
    conn: psycopg.Connection[Any], result: pq.abc.PGresult, wanted: pq.ExecStatus, encoding: str
) -> None:
    if result.status == wanted:
        return
    if conn.pgconn.status == pq.ConnStatus.BAD or not _sqlstate(result):
        # The connection is gone (no SQLSTATE: libpq's own report): what psycopg raises then.
        message = result.get_error_message(encoding) or conn.pgconn.get_error_message(encoding)
        raise psycopg.OperationalError(message.strip())
    raise errors.error_from_result(result, encoding=encoding)
