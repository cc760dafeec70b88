"""Rotating the master key: every wrapped key re-wrapped, no event or payload rewritten.

The master key never encrypts data itself; it wraps the keys that do (docs/operations.md
"Rotating the master key"):

* `org_data_keys`: an org's secret-store data key (info `application.secrets.WRAP_INFO`,
  the org id as associated data);
* `contact_keys`: a contact's personal-data key (`domain.personal.CONTACT_WRAP_INFO`,
  "<org>\\x1f<contact>");
* `temporal_payload_keys`: a workflow's Temporal payload key (`payload_keys.WRAP_INFO`, the key
  id).

So a rotation opens each wrapped key with the old master key and seals it again with the new
one, row by row, in batches of its own transaction (`FOR UPDATE SKIP LOCKED`, the row's
`master_key_id` moved to the new fingerprint in the same statement). A row already on the new key
is not selected again: the rotation resumes where it stopped and a second run finds nothing to
do. Destroyed keys (an erased contact, a shredded workflow) hold no key material; only their
fingerprint moves. While it runs, processes started with the new key also hold the old one
(BYTEDASH_MASTER_KEY_PREVIOUS) and open rows of either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.exceptions import InvalidTag
from psycopg.rows import DictRow, dict_row

from application.privacy.payload_keys import WRAP_INFO as PAYLOAD_WRAP_INFO
from application.secrets import WRAP_INFO as ORG_WRAP_INFO
from application.secrets import derive_key, master_key_id, seal, unseal
from domain.personal import CONTACT_WRAP_INFO, wrap_aad


@dataclass(frozen=True)
class WrappedTable:
    """Where one kind of wrapped key lives and how it was wrapped."""

    table: str
    key_columns: tuple[str, ...]
    info: bytes
    aad: Callable[[dict[str, Any]], bytes]
    aad_columns: tuple[str, ...] = ()


TABLES = (
    WrappedTable("org_data_keys", ("org_id",), ORG_WRAP_INFO, lambda r: str(r["org_id"]).encode()),
    WrappedTable(
        "contact_keys",
        ("contact_id",),
        CONTACT_WRAP_INFO,
        lambda r: wrap_aad(str(r["org_id"]), str(r["contact_id"])),
        ("org_id",),
    ),
    WrappedTable(
        "temporal_payload_keys", ("key_id",), PAYLOAD_WRAP_INFO, lambda r: str(r["key_id"]).encode()
    ),
)


@dataclass
class TableRotation:
    table: str
    rewrapped: int = 0
    destroyed_moved: int = 0
    """Rows without key material (destroyed) whose fingerprint moved to the new key."""
    unopenable: list[str] = field(default_factory=list)
    """Rows wrapped by the old key that do not open with it (damaged): left as they are."""
    other_key: int = 0
    """Rows wrapped by neither key: the rotation cannot open them (a third master key)."""
    left: int = 0
    """Rows still on the old key (a dry run: all of them)."""


class RotationError(Exception):
    """The rotation cannot start (the same key twice, a key of the wrong length)."""


def rotate_master_key(
    database_url: str,
    old: bytes,
    new: bytes,
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    progress: Callable[[TableRotation], None] | None = None,
) -> list[TableRotation]:
    """Re-wrap every key wrapped by `old` with `new`; with `dry_run`, only count and check that
    each opens with `old`. One report per table."""
    old_id, new_id = master_key_id(old), master_key_id(new)
    if old_id == new_id:
        raise RotationError("the new master key is the same as the previous one")
    if batch_size < 1:
        raise RotationError("the batch size must be at least 1")
    reports = []
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        for table in TABLES:
            report = TableRotation(table.table)
            _rotate_table(
                conn, table, old, new, old_id, new_id, batch_size, dry_run, report, progress
            )
            reports.append(report)
    return reports


def _rotate_table(
    conn: psycopg.Connection[DictRow],
    table: WrappedTable,
    old: bytes,
    new: bytes,
    old_id: str,
    new_id: str,
    batch_size: int,
    dry_run: bool,
    report: TableRotation,
    progress: Callable[[TableRotation], None] | None,
) -> None:
    old_wrap, new_wrap = derive_key(old, table.info), derive_key(new, table.info)
    keys = ", ".join(table.key_columns)
    org = "".join(f", {column}" for column in table.aad_columns)
    match = " AND ".join(f"{c} = %s" for c in table.key_columns)
    counted = conn.execute(
        f"SELECT count(*) FILTER (WHERE master_key_id = %s) AS old,"
        f" count(*) FILTER (WHERE master_key_id NOT IN (%s, %s)) AS other FROM {table.table}",
        (old_id, old_id, new_id),
    ).fetchone()
    assert counted is not None
    report.other_key = int(counted["other"])
    after: tuple[Any, ...] | None = None
    while True:
        with conn.transaction():
            where = "master_key_id = %s"
            args: list[Any] = [old_id]
            if after is not None:
                where += f" AND ({keys}) > ({', '.join(['%s'] * len(after))})"
                args.extend(after)
            rows = conn.execute(
                f"SELECT {keys}{org}, wrapped_key FROM {table.table} WHERE {where}"
                f" ORDER BY {keys} LIMIT %s FOR UPDATE SKIP LOCKED",
                (*args, batch_size),
            ).fetchall()
            if not rows:
                break
            for row in rows:
                ident = tuple(row[c] for c in table.key_columns)
                after = ident
                wrapped = row["wrapped_key"]
                if wrapped is None:
                    if not dry_run:
                        conn.execute(
                            f"UPDATE {table.table} SET master_key_id = %s WHERE {match}",
                            (new_id, *ident),
                        )
                    report.destroyed_moved += 1
                    continue
                aad = table.aad(row)
                try:
                    key = unseal(old_wrap, bytes(wrapped), aad)
                except InvalidTag:
                    report.unopenable.append(":".join(str(v) for v in ident))
                    continue
                if not dry_run:
                    conn.execute(
                        f"UPDATE {table.table} SET wrapped_key = %s, master_key_id = %s"
                        f" WHERE {match} AND master_key_id = %s",
                        (seal(new_wrap, key, aad), new_id, *ident, old_id),
                    )
                report.rewrapped += 1
        if progress is not None:
            progress(report)
    report.left = int(counted["old"]) if dry_run else len(report.unopenable)
