"""The console: the web page reviewers, process owners, auditors and admins use.

Plain HTML, CSS and ES modules under ``static/``, served by the API itself at ``/console`` so
that ``bytedash up`` shows it with no build step and no second server. The page talks to the
public ``/api/v1`` only, as any other client would; this package holds no route of the API.
"""

from interfaces.console.mount import CONSOLE_PATH, mount_console

__all__ = ["CONSOLE_PATH", "mount_console"]
