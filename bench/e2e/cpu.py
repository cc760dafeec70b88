"""CPU seconds a phase cost, by group of processes, read from /proc.

A side's cost is every process it runs (its process tree: ``bytedash up`` and whatever it
starts, or the hand-written API and worker), plus what it makes the shared servers do: the
Temporal dev server, and the Postgres backends connected to the side's own database. Other
databases' backends (other users of a shared machine) and the bench's own connections (marked
by their application_name) are left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psycopg

from bench.e2e.servers import BENCH_APPLICATION, bench_url

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (None if the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree(roots: Iterable[int]) -> set[int]:
    """`roots` and all their descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = list(roots)
    while pending:
        pid = pending.pop()
        if pid not in found:
            found.add(pid)
            pending.extend(parents.get(pid, []))
    return found


def backends(database_url: str) -> set[int]:
    """The Postgres backends of this database, the bench's own connections excepted."""
    with psycopg.connect(bench_url(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name <> %s",
            (BENCH_APPLICATION,),
        ).fetchall()
    return {int(row[0]) for row in rows}


class CpuMeter:
    """Reads each group at start and at stop; a process that appears in between counts from
    zero, one that ends in between is lost (pools keep theirs, so that is rare)."""

    def __init__(self, app_roots: list[int], temporal_pid: int, database_url: str) -> None:
        self._app_roots = app_roots
        self._temporal = temporal_pid
        self._database_url = database_url
        self._start: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        groups = {
            "app": tree(self._app_roots),
            "temporal": tree([self._temporal]),
            "postgres": backends(self._database_url),
        }
        return {
            name: {pid: cpu for pid in pids if (cpu := process_cpu(pid)) is not None}
            for name, pids in groups.items()
        }

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds since start, by group (app, temporal, postgres)."""
        end = self._read()
        spent: dict[str, float] = {}
        for name, now in end.items():
            before = self._start.get(name, {})
            spent[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in now.items())
        return spent
