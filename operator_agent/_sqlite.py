"""SQLite files shared by several processes: connections, write transactions, versioned schemas.

The batch journal and the approval queue both keep their state in a SQLite file in WAL mode that
several processes read and write; this module is what they have in common.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from operator_agent.logs import get_logger

__all__ = ["ensure_schema", "immediate", "open_connection", "prepare_folder", "split_statements", "use_wal"]

_log = get_logger("operator_agent.storage")

ErrorFactory = Callable[[str], Exception]


@contextmanager
def open_connection(
    path: Path, *, what: str, error: ErrorFactory, busy_timeout_s: float, pragmas: Sequence[str] = ()
) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode with ``Row`` rows; SQLite errors become ``error`` naming ``what``."""
    try:
        conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise error(f"cannot open {what} {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        for pragma in pragmas:
            conn.execute(pragma)
        yield conn
    except sqlite3.Error as exc:
        raise error(f"{what} {path}: {exc}") from exc
    finally:
        conn.close()


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction; taking the write lock up front makes check-then-update atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def prepare_folder(path: Path, *, what: str, error: ErrorFactory) -> None:
    """Create the folder of the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create the folder of {what} {path}: {exc}") from exc


def use_wal(conn: sqlite3.Connection, *, path: Path, what: str) -> None:
    """Switch the file to WAL mode (readers never block the writer); warn where it is refused."""
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        _log.warning(f"{what} is not in WAL mode", path=str(path), journal_mode=mode)


def ensure_schema(
    conn: sqlite3.Connection, *, path: Path, what: str, error: ErrorFactory, schema: str, version: int
) -> None:
    """Create the schema in an empty file, inside the caller's write transaction.

    Raises ``error`` for a file of a newer schema version, or a SQLite database of something else.
    """
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > version:
        raise error(
            f"{what} {path} has schema version {found}; this version of operator-agent understands up to "
            f"{version}"
        )
    if found == 0:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if tables:
            raise error(
                f"{path} is a SQLite database of something else (tables: {', '.join(sorted(tables))}), "
                f"not {'an' if what[0] in 'aeiou' else 'a'} {what}"
            )
        for statement in split_statements(schema):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")


def split_statements(script: str) -> Iterator[str]:
    """Split a SQL script into statements (``executescript`` would commit an open transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
