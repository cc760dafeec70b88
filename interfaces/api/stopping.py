"""Telling the app that its server was asked to stop, so that waiting requests answer at once.

uvicorn, on SIGTERM or SIGINT, stops accepting connections and then waits for the requests in
flight (up to its graceful timeout) before it runs the app's shutdown; it does not tell the app.
The requests that run longest are waits (a command for its workflow's result, ``?wait=true`` for
the read side), and they would hold the stop for their whole time. The lifespan chains a handler
in front of the server's own: it sets `ApiContext.stopping` and passes the signal on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def chain_stop_signals(stopping: asyncio.Event) -> Callable[[], None]:
    """Set `stopping` (in the running loop) on SIGTERM or SIGINT, then call the handler that
    was there. Returns the function that puts the previous handlers back.

    Only where a server installed handlers of its own (a callable one, in the main thread):
    an app run in a test client's thread, or with the default action, is left as it was.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], object]] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits any more
            loop.call_soon_threadsafe(stopping.set)
        previous[signum](signum, frame)

    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler):
            previous[sig] = handler
            signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)

    return restore
