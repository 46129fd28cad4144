"""URLs that do something irreversible when they are merely requested, and URLs as reasons show them.

A link or a form that points to ``/invoices/7/delete`` or ``/items?action=remove`` deletes whatever
its label says; :func:`destructive_endpoint` finds the word that makes a URL destructive.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["destructive_endpoint", "shown_url"]

_DESTRUCTIVE_TOKENS: Final = frozenset(
    {
        "delete",
        "destroy",
        "remove",
        "erase",
        "purge",
        "pay",
        "approve",
        "reject",
        "submit",
        "send",
        "confirm",
        "cancel",
        "refund",
        "void",
        "revoke",
        "deactivate",
        "suspend",
        "terminate",
        "unsubscribe",
        "transfer",
        "wire",
        "purchase",
        "buy",
        "publish",
        "execute",
        "finalize",
        "finalise",
        "close",
        "loeschen",
        "loschen",
        "entfernen",
        "bezahlen",
        "genehmigen",
        "freigeben",
        "stornieren",
        "kuendigen",
        "supprimer",
        "payer",
        "annuler",
        "valider",
        "approuver",
        "eliminar",
        "borrar",
        "pagar",
        "aprobar",
        "cancelar",
        "excluir",
        "aprovar",
    }
)
_ACTION_KEYS: Final = frozenset(
    {"action", "do", "op", "cmd", "command", "method", "_method", "task", "intent", "operation", "verb"}
)
_TOKEN_SPLIT: Final = re.compile(r"[^a-z0-9]+")
_CAMEL: Final = re.compile(r"([a-z0-9])([A-Z])")


def _tokens(text: str) -> list[str]:
    return [token for token in _TOKEN_SPLIT.split(_CAMEL.sub(r"\1 \2", unquote(text)).lower()) if token]


def destructive_endpoint(url: str) -> str | None:
    """The destructive word in a URL's path or action parameter, if any.

    ``/invoices/7/delete``, ``/deleteInvoice.php?id=7``, ``/orders/5/cancel`` and
    ``/items?action=remove`` are destructive; ``/invoices?status=cancelled`` and ``/payments`` are not.

    Args:
        url: An absolute or relative URL.

    Returns:
        The word that makes it destructive, or ``None``.
    """
    parts = urlsplit(url)
    if parts.scheme and parts.scheme not in {"http", "https"}:
        return None
    for token in _tokens(parts.path):
        if token in _DESTRUCTIVE_TOKENS:
            return token
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key.lower() in _ACTION_KEYS:
            for token in _tokens(value):
                if token in _DESTRUCTIVE_TOKENS or token == "delete":
                    return token
    return None


def shown_url(url: str, base: str) -> str:
    """A URL as a person reads it in a reason: the path when on the same site."""
    if not url:
        return "(the current page)"
    target, origin = urlsplit(url), urlsplit(base)
    shown = url
    if base and (target.scheme, target.netloc) == (origin.scheme, origin.netloc):
        shown = target.path or "/"
        if target.query:
            shown += "?" + target.query
    return shown if len(shown) <= 80 else shown[:77] + "..."
