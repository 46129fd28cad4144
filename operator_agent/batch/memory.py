"""How much memory the browser uses: the resident size of this process's child process tree.

Playwright runs a driver process, which starts Chromium, which starts a renderer per site and
helpers; all of them descend from this process. Reading ``/proc`` keeps this free of extra
dependencies; where ``/proc`` is missing (not Linux) the figure is unknown and the pool does not
limit by memory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["descendant_rss_mb", "process_tree_rss_mb"]

_PROC = Path("/proc")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; fields after it are fixed.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_kb(pid: int) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def descendant_rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of every process descending from ``pid`` (this process by default), in MB.

    Shared pages are counted once per process, so the figure overstates what the tree costs the
    machine a little; it is consistent from one reading to the next, which is what a ceiling needs.

    Returns:
        The total, or ``None`` where ``/proc`` is not available.
    """
    if not _PROC.is_dir():
        return None
    root = os.getpid() if pid is None else pid
    children = _children_map()
    total_kb = 0
    stack = list(children.get(root, []))
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        total_kb += _rss_kb(current)
        stack.extend(children.get(current, []))
    return round(total_kb / 1024, 1)


def process_tree_rss_mb() -> float | None:
    """This process's own resident memory plus its descendants', in MB (``None`` without ``/proc``)."""
    below = descendant_rss_mb()
    if below is None:
        return None
    return round(below + _rss_kb(os.getpid()) / 1024, 1)
