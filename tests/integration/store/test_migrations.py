from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from migrations import apply_migrations, discover_migrations
from migrations.runner import Migration, MigrationError


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrating_an_empty_database_creates_the_event_store_and_records_each_file(
    empty_database_url: str,
) -> None:
    applied = apply_migrations(empty_database_url)

    assert [m.version for m in applied] == [m.version for m in discover_migrations()]
    assert {"events", "schema_migrations"} <= _tables(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in applied]


def test_migrating_twice_applies_nothing_the_second_time(empty_database_url: str) -> None:
    apply_migrations(empty_database_url)
    assert apply_migrations(empty_database_url) == []


def test_two_processes_migrating_at_once_apply_each_file_once(empty_database_url: str) -> None:
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            results.append(apply_migrations(empty_database_url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    applied_versions = sorted(m.version for r in results for m in r)
    assert applied_versions == [m.version for m in discover_migrations()]


def test_a_failing_migration_leaves_nothing_behind(empty_database_url: str) -> None:
    good = Migration(1, "good", "CREATE TABLE good (id int);")
    bad = Migration(2, "bad", "CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        apply_migrations(empty_database_url, [good, bad])

    assert "good" in _tables(empty_database_url)
    assert "half" not in _tables(empty_database_url)
    assert apply_migrations(empty_database_url, [good]) == []


def test_an_applied_migration_whose_file_changed_is_reported(empty_database_url: str) -> None:
    apply_migrations(empty_database_url, [Migration(1, "one", "CREATE TABLE one (id int);")])
    with pytest.raises(MigrationError, match="different text"):
        apply_migrations(empty_database_url, [Migration(1, "one", "CREATE TABLE one (x int);")])


def test_a_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover_migrations(tmp_path)
