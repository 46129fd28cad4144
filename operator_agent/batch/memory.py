"""How much memory the browser uses: the memory of this process's child process tree.

Playwright runs a driver process, which starts Chromium, which starts a renderer per site and
helpers; all of them descend from this process. Reading ``/proc`` keeps this free of extra
dependencies; where ``/proc`` is missing (not Linux) the figure is unknown and the pool does not
limit by memory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["descendant_memory_mb", "process_tree_memory_mb"]

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


def _memory_kb(pid: int) -> int:
    """The process's proportional set size (shared pages split between their users), or its
    resident size on kernels without ``smaps_rollup``."""
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in (_PROC / str(pid) / name).read_text().splitlines():
                if line.startswith(field):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return 0


def descendant_memory_mb(pid: int | None = None) -> float | None:
    """Memory of every process descending from ``pid`` (this process by default), in MB.

    Each process counts its proportional set size: pages shared by several processes (the
    browser's libraries, mapped by every renderer) are split between them, so the sum is what the
    tree costs the machine.

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
        total_kb += _memory_kb(current)
        stack.extend(children.get(current, []))
    return round(total_kb / 1024, 1)


def process_tree_memory_mb() -> float | None:
    """This process's own memory plus its descendants', in MB (``None`` without ``/proc``)."""
    below = descendant_memory_mb()
    if below is None:
        return None
    return round(below + _memory_kb(os.getpid()) / 1024, 1)
