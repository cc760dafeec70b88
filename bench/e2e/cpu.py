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


def _own_role(pid: int) -> str | None:
    """The subcommand a process was started with (``python -m interfaces.cli worker``,
    ``bytedash up``, ``python -m bench.e2e.handwritten api``), None when its command line names
    none (a multiprocessing child: it does its parent's job)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    for index, word in enumerate(words[:-1]):
        if word == "-m" or word.rsplit("/", 1)[-1] == "bytedash":
            rest = [w for w in words[index + 1 :] if not w.startswith("-")]
            if word == "-m":
                rest = rest[1:] or rest
            return rest[0] if rest else None
    return None


def tree(roots: Iterable[int]) -> dict[int, int]:
    """`roots` and all their descendants alive now, each with its parent's pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, int] = {}
    pending = [(root, 0) for root in roots]
    while pending:
        pid, parent = pending.pop()
        if pid not in found:
            found[pid] = parent
            pending.extend((child, pid) for child in children.get(pid, []))
    return found


def roles(processes: dict[int, int]) -> dict[int, str]:
    """Each process's role; one whose command line names none takes its parent's."""
    named: dict[int, str] = {}

    def of(pid: int) -> str:
        if pid not in named:
            own = _own_role(pid)
            parent = processes.get(pid, 0)
            named[pid] = own or (of(parent) if parent in processes else "?")
        return named[pid]

    for pid in processes:
        of(pid)
    return named


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
        self.roles: dict[str, float] = {}  # the app group's CPU seconds by process role
        self._roles: dict[int, str] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        app = tree(self._app_roots)
        self._roles.update(roles(app))
        groups = {
            "app": set(app),
            "temporal": set(tree([self._temporal])),
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
        self.roles = {}
        for pid, cpu in end["app"].items():
            name = self._roles.get(pid, "?")
            spent_by = max(0.0, cpu - self._start.get("app", {}).get(pid, 0.0))
            self.roles[name] = self.roles.get(name, 0.0) + spent_by
        spent: dict[str, float] = {}
        for name, now in end.items():
            before = self._start.get(name, {})
            spent[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in now.items())
        return spent
