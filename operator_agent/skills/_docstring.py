"""Reading a Google-style docstring: the summary paragraph and the ``Args:`` descriptions."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_docstring"]

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns|Return|Yields|Raises|"
    r"Example|Examples|Note|Notes|Attributes|See Also|Warning|Warnings|Todo)\s*:\s*$",
    re.IGNORECASE,
)
_ARG_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"})
# "name: text", "name (int): text", "name (int, optional): text"
_ARG_LINE = re.compile(r"^(?P<name>\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:\s*(?P<text>.*)$")


@dataclass(frozen=True)
class ParsedDocstring:
    """The parts of a docstring a skill uses.

    Attributes:
        summary: The first paragraph, joined into one line.
        body: Everything before the first section, paragraphs separated by blank lines.
        args: Parameter name → description (continuation lines joined).
    """

    summary: str = ""
    body: str = ""
    args: dict[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a Google-style docstring into its summary, body and argument descriptions.

    Args:
        doc: The raw docstring (``None`` gives an empty result).
    """
    if not doc or not doc.strip():
        return ParsedDocstring()
    lines = inspect.cleandoc(doc).splitlines()
    body_lines: list[str] = []
    index = 0
    while index < len(lines) and not _SECTION.match(lines[index].strip()):
        body_lines.append(lines[index])
        index += 1
    body = "\n".join(body_lines).strip()
    paragraphs = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    args: dict[str, str] = {}
    while index < len(lines):
        header = _SECTION.match(lines[index].strip())
        index += 1
        if header is None:
            continue
        in_args = header.group(1).lower() in _ARG_SECTIONS
        section_indent: int | None = None
        current: str | None = None
        while index < len(lines):
            line = lines[index]
            if line.strip() and _indent(line) == 0:
                break
            index += 1
            if not in_args or not line.strip():
                continue
            if section_indent is None:
                section_indent = _indent(line)
            match = _ARG_LINE.match(line.strip()) if _indent(line) <= section_indent else None
            if match is not None:
                current = match.group("name").lstrip("*")
                args[current] = match.group("text").strip()
            elif current is not None:
                args[current] = f"{args[current]} {line.strip()}".strip()
    return ParsedDocstring(summary=summary, body=body, args=args)
