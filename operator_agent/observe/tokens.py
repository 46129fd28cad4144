"""Counting tokens the way OpenAI's current models do (o200k_base), without ever downloading.

``tiktoken`` fetches its encoding files from the web on first use and caches them under
``TIKTOKEN_CACHE_DIR``, keyed by the SHA-1 of the file's URL. The ``bpe-openai`` wheel ships the very
same o200k_base file (same SHA-256), so this module places a copy in a private cache directory under
that key, checks its hash, and only then asks tiktoken for the encoding, pointed at that directory:
tiktoken finds the file and never goes to the network. Both packages are the project's ``tokens``
extra.

When either package is missing or the file cannot be prepared, :func:`count_tokens` falls back to a
conservative estimate (:func:`estimate_tokens`) and logs once why; it never raises.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from operator_agent.logs import get_logger

__all__ = ["count_tokens", "estimate_tokens", "token_counter_kind", "tokenizer_loaded"]

_log = get_logger("operator_agent.observe")

_ENCODING = "o200k_base"
# The URL tiktoken loads o200k_base from; the cache key is derived from it, nothing is fetched.
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_CACHE_ENV = "OPERATOR_AGENT_TOKEN_CACHE"

# Words, groups of up to three digits, punctuation runs, whitespace runs.
_PIECES = re.compile(r"[^\W\d]+|\d{1,3}|[^\w\s]+|\s+")

_lock = threading.Lock()
_encoding: Any = None
_loaded = False


def _cache_dir() -> Path:
    configured = os.environ.get(_CACHE_ENV)
    if configured:
        return Path(configured)
    return (
        Path(tempfile.gettempdir()) / f"operator-agent-tiktoken-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )


def _bundled_file() -> Path | None:
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{_ENCODING}.tiktoken.gz"
    return path if path.is_file() else None


def _prepare_cache() -> Path:
    """Put the o200k_base file where tiktoken looks for it; return the cache directory."""
    folder = _cache_dir()
    target = folder / hashlib.sha1(_BLOB_URL.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == _SHA256:
        return folder
    source = _bundled_file()
    if source is None:
        raise FileNotFoundError("the bpe-openai package (which ships o200k_base) is not installed")
    data = gzip.decompress(source.read_bytes())
    if hashlib.sha256(data).hexdigest() != _SHA256:
        raise ValueError(f"{source} is not the o200k_base file tiktoken expects (SHA-256 differs)")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{target.name}.{os.getpid()}.tmp"
    partial.write_bytes(data)
    os.replace(partial, target)
    return folder


def _load() -> Any:
    global _encoding, _loaded
    if _loaded:
        return _encoding
    with _lock:
        if _loaded:
            return _encoding
        try:
            import tiktoken

            folder = _prepare_cache()
            previous = os.environ.get("TIKTOKEN_CACHE_DIR")
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
            try:
                _encoding = tiktoken.get_encoding(_ENCODING)
            finally:
                if previous is None:
                    os.environ.pop("TIKTOKEN_CACHE_DIR", None)
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = previous
        except Exception as exc:  # any failure means: estimate instead, never crash
            _encoding = None
            _log.warning(
                "exact token counting unavailable; using a conservative estimate",
                reason=f"{type(exc).__name__}: {exc}",
                hint="install the 'tokens' extra: pip install 'operator-agent[tokens]'",
            )
        _loaded = True
        return _encoding


def estimate_tokens(text: str) -> int:
    """A conservative token estimate, used when tiktoken or the o200k_base file is unavailable.

    The text is split roughly the way o200k_base pre-splits it, and each piece is charged at
    least what the real encoding charges: a word one token per three letters (one per letter
    outside ASCII), a group of up to three digits one token, punctuation one token per character,
    a run of whitespace one token unless it is a single space before a word or punctuation
    (which joins it).
    Outlines are dense with short pieces (``[e12]``, ``|``, digits), so a characters-per-token
    rule would undercount them; this estimate stays above the real count, at most about twice it.

    Args:
        text: Any text.
    """
    total = 0
    for match in _PIECES.finditer(text):
        piece = match.group()
        first = piece[0]
        if first.isdigit():
            total += 1
        elif first.isspace():
            # A single space joins the next word or punctuation, but not a number.
            joins = piece == " " and not text[match.end() : match.end() + 1].isdigit()
            total += 0 if joins else 1
        elif first.isalpha() or first == "_":
            ascii_letters = sum(1 for ch in piece if ord(ch) < 128)
            total += math.ceil(ascii_letters / 3) + (len(piece) - ascii_letters)
        else:
            total += len(piece)
    return total


def count_tokens(text: str) -> int:
    """The number of o200k_base tokens in ``text`` (or a conservative estimate, see the module).

    The first call loads the encoding (a few hundred milliseconds); later calls are fast.

    Args:
        text: Any text; special-token markers in it are counted as plain text.
    """
    encoding = _load()
    if encoding is None:
        return estimate_tokens(text)
    return len(encoding.encode(text, disallowed_special=()))


def token_counter_kind() -> Literal["o200k_base", "estimate"]:
    """Which counter :func:`count_tokens` uses in this process."""
    return "estimate" if _load() is None else "o200k_base"


def tokenizer_loaded() -> bool:
    """Whether the encoding is loaded (or known to be unavailable): counting will not block."""
    return _loaded
