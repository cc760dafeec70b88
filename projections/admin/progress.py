"""Progress of long admin operations: rate and ETA, and a plain-text bar for the CLI.

A callback receives ``(done_events, total_events, rate, eta_seconds)``: positions passed so far,
the position being headed for, positions per second over the last few seconds (a sliding
window, so the ETA follows the current pace rather than an average that a slow start skews),
and the seconds left at that pace (None until a rate is known). The bar is plain text with no
dependency, so the CLI can draw it on a terminal and a log can print it as a line.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import NamedTuple, TextIO

ProgressCallback = Callable[[int, int, float, float | None], None]
"""``(done_events, total_events, rate_per_second, eta_seconds)``."""


class ProgressUpdate(NamedTuple):
    done: int
    total: int
    rate: float
    eta: float | None


class ProgressMeter:
    """Turns (done, total) samples into rate and ETA over a sliding `window` of seconds."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = monotonic) -> None:
        self._window = window
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int, total: int) -> ProgressUpdate:
        now = self._clock()
        samples = self._samples
        samples.append((now, done))
        while len(samples) > 2 and now - samples[0][0] > self._window:
            samples.popleft()
        first_at, first_done = samples[0]
        elapsed = now - first_at
        rate = (done - first_done) / elapsed if elapsed > 0 else 0.0
        total = max(total, done)
        eta = (total - done) / rate if rate > 0 else (0.0 if done >= total else None)
        return ProgressUpdate(done, total, rate, eta)


def render_bar(
    done: int, total: int, rate: float, eta_seconds: float | None, *, width: int = 30
) -> str:
    """``[#########---------]  45.0%  450,000/1,000,000 events  52,340/s  ETA 0:00:10``."""
    fraction = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
    filled = round(fraction * width)
    eta = "--:--:--" if eta_seconds is None else format_duration(eta_seconds)
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:5.1f}%  "
        f"{done:,}/{total:,} events  {rate:,.0f}/s  ETA {eta}"
    )


def format_duration(seconds: float) -> str:
    whole = max(round(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class TerminalProgress:
    """A `ProgressCallback` that redraws one line on `stream` (at most `fps` times a second).

    Use as ``rebuild_projection(url, name, progress=bar)`` then ``bar.close()`` for the newline.
    """

    def __init__(self, stream: TextIO | None = None, *, label: str = "", fps: float = 10.0) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._label = f"{label} " if label else ""
        self._interval = 1.0 / fps
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int, rate: float, eta_seconds: float | None) -> None:
        now = monotonic()
        if now - self._last < self._interval and done < total:
            return
        self._last = now
        self._stream.write(f"\r{self._label}{render_bar(done, total, rate, eta_seconds)}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
