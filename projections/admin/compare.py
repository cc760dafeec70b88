"""Row-by-row comparison of a live table with its freshly built twin, in SQL.

Rows are matched by primary key (FULL JOIN), so the server does the work and only differences
travel: counts for the whole table, details for the first few (by key). Every column is
compared, including ``created_at``, ``updated_at`` and ``version``: read models take their times
and versions from the events (``occurred_at``, the aggregate version), never from the clock, so a
correct projection rebuilt from the same events produces the very same values. jsonb compares by
value (key order does not matter), timestamps as instants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql


@dataclass(frozen=True)
class RowKey:
    """A row identified by its table and primary key (values as JSON)."""

    table: str
    key: dict[str, Any]


@dataclass(frozen=True)
class ChangedRow:
    """A row present on both sides whose `columns` differ: name → (live value, rebuilt value)."""

    table: str
    key: dict[str, Any]
    columns: dict[str, tuple[Any, Any]]


@dataclass
class TableComparison:
    table: str
    compared: int = 0
    """Rows on either side (matched pairs count once)."""
    missing: int = 0
    """Rows the fresh build has and the live table lacks."""
    extra: int = 0
    """Rows the live table has and the fresh build does not."""
    changed: int = 0
    missing_rows: list[RowKey] = field(default_factory=list)
    extra_rows: list[RowKey] = field(default_factory=list)
    changed_rows: list[ChangedRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.extra == 0 and self.changed == 0


def compare_table(conn: Connection[Any], live: str, rebuilt: str, *, limit: int) -> TableComparison:
    """Compare `live` with `rebuilt` (same shape); keep details of at most `limit` differences."""
    keys, columns = _key_and_columns(conn, live)
    if not keys:
        raise ValueError(f"table {live} has no primary key to match rows by")
    join = sql.SQL("{} l FULL JOIN {} r ON {}").format(
        sql.Identifier(live),
        sql.Identifier(rebuilt),
        sql.SQL(" AND ").join(sql.SQL("l.{0} = r.{0}").format(sql.Identifier(k)) for k in keys),
    )
    first = sql.Identifier(keys[0])
    only_rebuilt = sql.SQL("l.{} IS NULL").format(first)
    only_live = sql.SQL("r.{} IS NULL").format(first)
    differs = sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
        sql.SQL(", ").join(sql.SQL("l.{}").format(sql.Identifier(c)) for c in columns),
        sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in columns),
    )
    counts = conn.execute(
        sql.SQL(
            "SELECT count(*), count(*) FILTER (WHERE {missing}), count(*) FILTER (WHERE {extra}),"
            " count(*) FILTER (WHERE NOT {missing} AND NOT {extra} AND {differs}) FROM {join}"
        ).format(missing=only_rebuilt, extra=only_live, differs=differs, join=join)
    ).fetchone()
    assert counts is not None
    compared, missing, extra, changed = (int(n) for n in counts)
    result = TableComparison(live, compared, missing, extra, changed)
    if result.ok or limit <= 0:
        return result
    for condition, wanted in (
        (only_rebuilt, result.missing),
        (only_live, result.extra),
        (
            sql.SQL("NOT {} AND NOT {} AND {}").format(only_rebuilt, only_live, differs),
            result.changed,
        ),
    ):
        if wanted:
            _details(conn, result, join, condition, keys, columns, limit)
    return result


def _details(
    conn: Connection[Any],
    result: TableComparison,
    join: sql.Composable,
    condition: sql.Composable,
    keys: list[str],
    columns: list[str],
    limit: int,
) -> None:
    """Fetch the first `limit` rows (by key) matching `condition` into `result`'s lists."""
    rows = conn.execute(
        sql.SQL(
            "SELECT CASE WHEN l.{first} IS NULL THEN NULL ELSE to_jsonb(l.*) END,"
            " CASE WHEN r.{first} IS NULL THEN NULL ELSE to_jsonb(r.*) END"
            " FROM {join} WHERE {condition} ORDER BY {order} LIMIT %s"
        ).format(
            first=sql.Identifier(keys[0]),
            join=join,
            condition=condition,
            order=sql.SQL(", ").join(
                sql.SQL("coalesce(l.{0}, r.{0})").format(sql.Identifier(k)) for k in keys
            ),
        ),
        (limit,),
    ).fetchall()
    for live_row, rebuilt_row in rows:
        if live_row is None:
            result.missing_rows.append(RowKey(result.table, _key(rebuilt_row, keys)))
        elif rebuilt_row is None:
            result.extra_rows.append(RowKey(result.table, _key(live_row, keys)))
        else:
            changed = {
                column: (live_row.get(column), rebuilt_row.get(column))
                for column in columns
                if live_row.get(column) != rebuilt_row.get(column)
            }
            result.changed_rows.append(ChangedRow(result.table, _key(live_row, keys), changed))


def _key(row: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    return {k: row.get(k) for k in keys}


def _key_and_columns(conn: Connection[Any], table: str) -> tuple[list[str], list[str]]:
    quoted = sql.Identifier(table).as_string(conn)
    keys = conn.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = to_regclass(%s) AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (quoted,),
    ).fetchall()
    columns = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        (quoted,),
    ).fetchall()
    return [str(r[0]) for r in keys], [str(r[0]) for r in columns]
