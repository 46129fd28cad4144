"""``python -m operator_agent.browser``: print the Chromium executable that would be used.

Exits 0 after printing the path on stdout, or 1 after printing why none was found on stderr
(a Makefile uses this to decide whether to install Chromium).
"""

from __future__ import annotations

import sys

from operator_agent.browser.discovery import find_chromium
from operator_agent.errors import BrowserNotFoundError
from operator_agent.logs import configure_logging


def main() -> int:
    """Print the discovered Chromium path; return the process exit code."""
    # Logs go to stderr, so stdout carries nothing but the path.
    configure_logging(level="warning")
    try:
        path = find_chromium()
    except BrowserNotFoundError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
