"""Status for admins: lag, parked events and a rebuild's progress; and the progress bar."""

from __future__ import annotations

import io
import threading
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections import default_projections, locks
from projections.admin import TerminalProgress, rebuild_projection, render_bar
from projections.admin.progress import ProgressMeter, format_duration
from projections.queries import projection_status
from tests.integration.projections.eventlog import append_synthetic
from tests.integration.projections.support import head, project_all

Conn = psycopg.Connection[Any]


def test_status_shows_a_rebuild_in_progress_then_interrupted_then_done(
    database_url: str, conn: Conn
) -> None:
    append_synthetic(database_url, 2_000)
    project_all(database_url)
    stop = threading.Event()
    during: list[dict[str, Any]] = []
    updates: list[tuple[int, int, float, float | None]] = []

    def progress(done: int, total: int, rate: float, eta: float | None) -> None:
        updates.append((done, total, rate, eta))
        if done >= 10_000 and not during:
            with psycopg.connect(database_url, autocommit=True) as watcher:
                during.extend(projection_status(watcher))
            stop.set()

    rebuild_projection(
        database_url,
        "tasks",
        batch_size=200,
        stop=stop,
        progress=progress,
        requested_by="user:root",
    )

    names = [row["name"] for row in during]
    # One row per registered read model, none for the rebuild's aside copy.
    assert names == sorted(p.name for p in default_projections()), "no __rebuild rows"
    tasks = next(row for row in during if row["name"] == "tasks")
    assert (tasks["status"], tasks["position"], tasks["lag_events"]) == ("rebuilding", 20_000, 0)
    rebuild = tasks["rebuild"]
    assert (rebuild["phase"], rebuild["running"], rebuild["kind"]) == ("building", True, "rebuild")
    assert rebuild["requested_by"] == "user:root"
    assert 0 < rebuild["rebuilt_position"] <= 20_000
    assert rebuild["target_position"] == 20_000
    assert 0 < rebuild["progress"] < 1

    (interrupted,) = projection_status(conn, "tasks")
    assert interrupted["status"] == "stopped"  # and no projector process runs here either
    rebuild = interrupted["rebuild"]
    assert (rebuild["phase"], rebuild["running"], rebuild["eta_seconds"]) == (
        "building",
        False,
        None,
    )
    assert rebuild["rebuilt_position"] >= 10_000

    rebuild_projection(database_url, "tasks")
    (finished,) = projection_status(conn, "tasks")
    rebuild = finished["rebuild"]
    assert (rebuild["phase"], rebuild["progress"], rebuild["runs"]) == ("done", 1.0, 2)
    assert rebuild["rebuilt_position"] == head(database_url) == finished["position"]
    assert rebuild["finished_at"] is not None

    assert locks.try_lock(conn, "contacts__rebuild")  # some advisory lock is held
    with psycopg.connect(database_url, row_factory=dict_row) as dicts:  # as the CLI and API use
        assert projection_status(dicts, "tasks") == projection_status(conn, "tasks")
    locks.unlock(conn, "contacts__rebuild")

    dones = [u[0] for u in updates]
    assert dones == sorted(dones) and all(u[1] == 20_000 for u in updates)
    assert any(u[2] > 0 and u[3] is not None for u in updates), "a rate and an ETA were given"


def test_the_progress_bar_and_meter() -> None:
    assert render_bar(450_000, 1_000_000, 52_340.4, 10.4, width=20) == (
        "[#########-----------]  45.0%  450,000/1,000,000 events  52,340/s  ETA 0:00:10"
    )
    assert render_bar(0, 0, 0.0, None, width=4) == "[####] 100.0%  0/0 events  0/s  ETA --:--:--"
    assert format_duration(3_725) == "1:02:05"

    now = [0.0]
    meter = ProgressMeter(window=5.0, clock=lambda: now[0])
    assert meter.update(0, 1_000).eta is None
    now[0] = 2.0
    update = meter.update(200, 1_000)
    assert (update.rate, update.eta) == (100.0, 8.0)
    now[0] = 20.0  # old samples leave the window: the rate follows the current pace
    meter.update(1_000, 2_000)
    now[0] = 21.0
    assert meter.update(1_500, 2_000).rate == 500.0

    stream = io.StringIO()
    bar = TerminalProgress(stream, label="tasks", fps=1_000_000)
    bar(5, 10, 1.0, 5.0)
    bar(10, 10, 1.0, 0.0)
    bar.close()
    lines = stream.getvalue().split("\r")
    assert lines[1].startswith("tasks [") and stream.getvalue().endswith("ETA 0:00:00\n")
