"""Physical table names behind a projection's logical ones.

Projections never spell a table name in SQL text: they ask a `TableNames` for an identifier.
The same projection code therefore builds the live tables (``contacts``) or copies of them
(``contacts__rebuild``), which is how a rebuild fills new tables beside the live ones and how
``verify`` compares a fresh build with what is being served.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from psycopg import Connection, sql

# Postgres truncates identifiers at 63 bytes; a truncated name would silently alias another.
_MAX_IDENTIFIER = 63


class TableNames(Mapping[str, str]):
    """An immutable mapping from logical table name to physical table name."""

    def __init__(self, names: Mapping[str, str] | Iterable[str]) -> None:
        pairs = dict(names) if isinstance(names, Mapping) else {name: name for name in names}
        for physical in pairs.values():
            if not physical or len(physical.encode()) > _MAX_IDENTIFIER:
                raise ValueError(f"{physical!r} is not a usable Postgres table name")
        self._names = pairs

    def __getitem__(self, logical: str) -> str:
        return self._names[logical]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"TableNames({self._names!r})"

    def ident(self, logical: str) -> sql.Identifier:
        return sql.Identifier(self._names[logical])

    def with_suffix(self, suffix: str) -> TableNames:
        return TableNames({logical: physical + suffix for logical, physical in self._names.items()})


def create_copies(conn: Connection[Any], source: TableNames, target: TableNames) -> None:
    """Create each target table empty, shaped like its source (columns, defaults, indexes).

    Existing targets are dropped first: a copy is scratch space that only a rebuild writes.
    """
    for logical in source:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target.ident(logical)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                target.ident(logical), source.ident(logical)
            )
        )
