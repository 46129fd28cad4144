"""Writing Python source for compiled skills: literals, parameter substitution and line layout.

The compiler and the heal diff both write locator chains into a skill file; they share this
module so that a healed chain reads exactly like a compiled one. The layout follows what ruff and
black produce: a bracketed expression stays on one line when it fits, otherwise it is exploded one
item per line with a trailing comma (which keeps the formatters from joining it again).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = [
    "Layout",
    "Param",
    "Substitution",
    "call",
    "chain_source",
    "identifier",
    "keyword_arg",
    "quote",
    "seq",
]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Date formats a person types; each becomes an f-string of the date parameter.
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d")
# A value shorter than this is only substituted when it is a field's whole text, never inside one.
_MIN_PARTIAL = 4


def quote(text: str) -> str:
    """A Python string literal for ``text``, double-quoted unless that needs more escapes."""
    body = repr(text)
    if body[0] == '"':
        return body
    if '"' in text and "'" not in text:
        return body
    inner = body[1:-1].replace("\\'", "'").replace('"', '\\"')
    return f'"{inner}"'


def identifier(key: str) -> str:
    """A snake_case Python identifier for an input name (``Invoice Number`` → ``invoice_number``)."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)).strip("_").lower()
    if not name:
        name = "value"
    if name[0].isdigit():
        name = f"p_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name = f"{name}_"
    return name


@dataclass(frozen=True)
class Param:
    """One typed parameter of a compiled skill, made from an input of the recorded run.

    Attributes:
        name: The Python parameter name.
        key: The input's name in the run.
        annotation: The type annotation, as source (``str``, ``int``, ``date`` ...).
        value: The value the run was given.
    """

    name: str
    key: str
    annotation: str
    value: Any

    @classmethod
    def of(cls, name: str, key: str, value: Any) -> Param:
        """A parameter typed after the recorded value."""
        if isinstance(value, bool):
            annotation = "bool"
        elif isinstance(value, int):
            annotation = "int"
        elif isinstance(value, float):
            annotation = "float"
        elif isinstance(value, str) and _ISO_DATE.match(value) and _is_date(value):
            annotation = "date"
        elif isinstance(value, str):
            annotation = "str"
        elif isinstance(value, list):
            annotation = "list[Any]"
        elif isinstance(value, dict):
            annotation = "dict[str, Any]"
        else:
            annotation = "Any"
        return cls(name=name, key=key, annotation=annotation, value=value)

    def forms(self) -> list[tuple[str, str, bool]]:
        """How the value may appear as text: ``(text, expression, in_fstring)`` triples.

        ``expression`` is Python source evaluating to ``text``; with ``in_fstring`` it is the part
        to put between braces in an f-string, otherwise a whole expression.
        """
        value, name = self.value, self.name
        if self.annotation == "str":
            return [(value, name, False)] if value else []
        if self.annotation == "date":
            day = date.fromisoformat(value)
            forms = [(value, f"{name}.isoformat()", False)]
            forms += [(day.strftime(fmt), f"{name}:{fmt}", True) for fmt in _DATE_FORMATS]
            return forms
        if self.annotation == "int":
            return [(str(value), f"str({name})", False)]
        if self.annotation == "float":
            return [(str(value), f"str({name})", False), (f"{value:.2f}", f"{name}:.2f", True)]
        return []


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class Substitution:
    """Turns recorded literals into Python source that uses the skill's parameters.

    A literal equal to a parameter's value (in one of its text forms) becomes the parameter; a
    literal that contains one becomes an f-string. Every parameter used is remembered in
    :attr:`used`, so the skill declares only those.

    Args:
        params: The candidate parameters.
    """

    def __init__(self, params: Sequence[Param]) -> None:
        self.params = list(params)
        self.used: dict[str, Param] = {}

    def source(self, text: str, *, partial: bool = True) -> str:
        """Python source that evaluates to ``text``."""
        for param in self.params:
            for form, expression, in_fstring in param.forms():
                if form == text:
                    self.used[param.name] = param
                    return _fstring([("expr", expression)]) if in_fstring else expression
        if partial:
            pieces = self._pieces(text)
            if any(kind == "expr" for kind, _ in pieces):
                return _fstring(pieces)
        return quote(text)

    def value_of(self, text: str) -> str | None:
        """The parameter expression if ``text`` is a parameter's whole value, else ``None``."""
        source = self.source(text, partial=False)
        return None if source == quote(text) else source

    def _pieces(self, text: str) -> list[tuple[str, str]]:
        forms = [
            (form, expression, param)
            for param in self.params
            for form, expression, _ in param.forms()
            if len(form) >= _MIN_PARTIAL and param.annotation in ("str", "date")
        ]
        forms.sort(key=lambda item: len(item[0]), reverse=True)
        pieces: list[tuple[str, str]] = []
        rest = text
        while rest:
            best: tuple[int, str, str, Param] | None = None
            for form, expression, param in forms:
                at = rest.find(form)
                if at >= 0 and (best is None or at < best[0]):
                    best = (at, form, expression, param)
            if best is None:
                pieces.append(("text", rest))
                break
            at, form, expression, param = best
            if at:
                pieces.append(("text", rest[:at]))
            # In an f-string a date shows as {d} (ISO) or {d:%d/%m/%Y}, a string as {name}.
            pieces.append(("expr", expression.removesuffix(".isoformat()")))
            self.used[param.name] = param
            rest = rest[at + len(form) :]
        return pieces


def _fstring(pieces: Sequence[tuple[str, str]]) -> str:
    literal = "".join(value for kind, value in pieces if kind == "text")
    use_single = '"' in literal and "'" not in literal
    mark = "'" if use_single else '"'
    out = []
    for kind, value in pieces:
        if kind == "expr":
            out.append("{" + value + "}")
        else:
            escaped = value.replace("\\", "\\\\").replace("{", "{{").replace("}", "}}").replace("\n", "\\n")
            if not use_single:
                escaped = escaped.replace('"', '\\"')
            out.append(escaped)
    return f"f{mark}{''.join(out)}{mark}"


@dataclass(frozen=True)
class _Seq:
    open: str
    items: tuple[Any, ...]
    close: str
    explode: bool = False


@dataclass(frozen=True)
class _Prefixed:
    prefix: str
    node: Any


def keyword_arg(name: str, value: Any) -> _Prefixed:
    """``name=value`` inside a call, where ``value`` is a source string or a sequence."""
    return _Prefixed(f"{name}=", value)


def seq(open_: str, items: Sequence[Any], close: str, *, explode: bool = False) -> _Seq:
    """A bracketed sequence of items (each a source string or another sequence).

    With ``explode`` it is laid out one item per line even when it would fit on one.
    """
    return _Seq(open_, tuple(items), close, explode)


def call(function: str, items: Sequence[Any]) -> _Seq:
    """A call ``function(item, item, ...)``; items are source strings or sequences."""
    return _Seq(function + "(", tuple(items), ")")


def chain_source(chain: Sequence[Mapping[str, str]], substitution: Substitution) -> _Seq:
    """A locator chain as a list of dict literals, with parameter values substituted."""
    entries = []
    for entry in chain:
        pairs = [f"{quote(key)}: {substitution.source(value)}" for key, value in entry.items()]
        entries.append(seq("{", pairs, "}"))
    # One strategy per line, always: a chain reads as a list, and a heal's diff shows line by line.
    return seq("[", entries, "]", explode=len(entries) > 1)


class Layout:
    """Lays out source within a line length, the way ruff format would keep it.

    Args:
        line_length: The longest line wanted.
    """

    def __init__(self, *, line_length: int = 88) -> None:
        self.line_length = line_length

    def flat(self, node: Any) -> str:
        """The node on one line."""
        if isinstance(node, str):
            return node
        if isinstance(node, _Prefixed):
            return node.prefix + self.flat(node.node)
        inner = ", ".join(self.flat(item) for item in node.items)
        return f"{node.open}{inner}{node.close}"

    def render(self, node: Any, *, indent: int, prefix: str = "", suffix: str = "") -> list[str]:
        """Lines for ``prefix + node + suffix`` starting at ``indent`` spaces."""
        if isinstance(node, _Prefixed):
            return self.render(node.node, indent=indent, prefix=prefix + node.prefix, suffix=suffix)
        pad = " " * indent
        flat = f"{pad}{prefix}{self.flat(node)}{suffix}"
        if isinstance(node, str) or not node.items or (len(flat) <= self.line_length and not node.explode):
            return [flat]
        lines = [f"{pad}{prefix}{node.open}"]
        for item in node.items:
            lines += self.render(item, indent=indent + 4, suffix=",")
        lines.append(f"{pad}{node.close}{suffix}")
        return lines
