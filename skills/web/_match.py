"""Fuzzy matching of record keys to field labels, and of wanted values to offered options.

Apps word the same field differently ("Invoice number", "Invoice no.", "invoice_number"), and the
next release rewords it again. Matching works on normalised words: split on case, underscores and
punctuation, common abbreviations expanded ("no" -> "number", "qty" -> "quantity"), plurals
folded, filler words dropped. Two texts are close when they share words (or synonyms); a text
whose words all appear in the other counts as a strong match ("Vendor" in "Vendor name").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "best_option", "pick", "similarity", "words"]

_ABBREVIATIONS = {
    "no": "number",
    "nr": "number",
    "num": "number",
    "nbr": "number",
    "qty": "quantity",
    "amt": "amount",
    "desc": "description",
    "descr": "description",
    "dt": "date",
    "ccy": "currency",
    "cur": "currency",
    "ref": "reference",
    "addr": "address",
    "tel": "phone",
    "telephone": "phone",
    "mobile": "phone",
    "mail": "email",
    "zip": "postcode",
    "acct": "account",
    "acc": "account",
    "pwd": "password",
    "pw": "password",
    "usr": "user",
    "username": "user",
    "login": "user",
    "msg": "message",
    "info": "information",
}

# Words that name the same thing in back-office forms; a synonym counts a little less than the word.
_SYNONYMS: tuple[frozenset[str], ...] = (
    frozenset({"vendor", "supplier", "payee", "merchant", "creditor"}),
    frozenset({"customer", "client", "buyer"}),
    frozenset({"note", "memo", "comment", "remark", "message"}),
    frozenset({"description", "item", "detail", "product", "service", "label"}),
    frozenset({"attachment", "file", "document", "upload", "pdf", "copy", "scan"}),
    frozenset({"urgent", "priority", "rush", "expedite"}),
    frozenset({"price", "rate", "cost"}),
    frozenset({"quantity", "count", "qty"}),
    frozenset({"amount", "total", "sum", "value"}),
    frozenset({"email", "e"}),
    frozenset({"holder", "owner", "beneficiary"}),
    frozenset({"term", "condition"}),
    frozenset({"reply", "response", "answer", "body"}),
    frozenset({"search", "find", "query", "filter"}),
)
_SYNONYM_WEIGHT = 0.7
_STOP = frozenset(
    {"a", "an", "the", "of", "for", "to", "in", "on", "at", "by", "your", "my", "is", "and", "or", "please",
     "enter", "select", "choose", "type", "here", "optional", "required", "field"}
)  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str, *, numbers: bool = False) -> list[str]:
    """The normalised words of a label, name or key.

    Args:
        text: Any text: ``"invoiceNumber"``, ``"invoice_number"``, ``"Invoice no."``.
        numbers: Keep numbers (for option labels such as "Net 30"); dropped by default, because
            in field labels they are row numbers ("Description, line 2").
    """
    spaced = _CAMEL.sub(" ", text.replace("#", " number "))
    out: list[str] = []
    for raw in re.split(r"[^0-9A-Za-z\u00C0-\u024F]+", spaced.lower()):
        if not raw or raw in _STOP:
            continue
        if raw.isdigit() and not numbers:
            continue
        word = _stem(_ABBREVIATIONS.get(raw, raw))
        out.append(word)
    return out


def _synonyms(a: str, b: str) -> bool:
    return any(a in group and b in group for group in _SYNONYMS)


def similarity(a: str, b: str, *, numbers: bool = False) -> float:
    """How alike two labels are, from 0 (nothing in common) to 1 (the same words).

    Dice overlap of the normalised words (a synonym counts 0.7), plus 0.15 when every word of
    one appears in the other; a close spelling of the whole text is a floor for typos.
    """
    wa, wb = words(a, numbers=numbers), words(b, numbers=numbers)
    sa, sb = set(wa), set(wb)
    if not sa or not sb:
        return 1.0 if a.strip().casefold() == b.strip().casefold() and a.strip() else 0.0
    if sa == sb:
        return 1.0
    shared = sa & sb
    overlap = float(len(shared))
    rest_b = sb - shared
    matched_a = set(shared)
    matched_b = set(shared)
    for word in sa - shared:
        partner = next((other for other in rest_b if _synonyms(word, other)), None)
        if partner is not None:
            overlap += _SYNONYM_WEIGHT
            rest_b.discard(partner)
            matched_a.add(word)
            matched_b.add(partner)
    score = 2 * overlap / (len(sa) + len(sb))
    if overlap and (matched_a == sa or matched_b == sb):
        score += 0.15
    spelled = difflib.SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio()
    if spelled >= 0.85:
        score = max(score, spelled * 0.9)
    return min(score, 0.99)


@dataclass(frozen=True)
class Candidate:
    """Something a key may be matched to, with every text that names it.

    Attributes:
        key: The caller's handle on the candidate (a stamp, an index).
        texts: Labels, names, ids, placeholders, headers.
        weights: A weight per text (1.0 by default), for weak texts such as nearby text.
    """

    key: str
    texts: tuple[str, ...]
    weights: tuple[float, ...] = ()

    def score(self, wanted: str) -> float:
        """The best similarity of ``wanted`` to any of the candidate's texts."""
        best = 0.0
        for index, text in enumerate(self.texts):
            weight = self.weights[index] if index < len(self.weights) else 1.0
            best = max(best, similarity(wanted, text) * weight)
        return best


def pick(
    wanted: Sequence[str], candidates: Sequence[Candidate], *, threshold: float = 0.5
) -> dict[str, tuple[str, float]]:
    """Match each wanted key to a distinct candidate, best pairs first.

    Returns:
        ``wanted key -> (candidate key, score)`` for the keys that found a candidate scoring at
        least ``threshold``; the others are left out.
    """
    pairs: list[tuple[float, int, int]] = []
    for i, key in enumerate(wanted):
        for j, candidate in enumerate(candidates):
            score = candidate.score(key)
            if score >= threshold:
                pairs.append((score, i, j))
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    taken_keys: set[int] = set()
    taken_candidates: set[int] = set()
    result: dict[str, tuple[str, float]] = {}
    for score, i, j in pairs:
        if i in taken_keys or j in taken_candidates:
            continue
        taken_keys.add(i)
        taken_candidates.add(j)
        result[wanted[i]] = (candidates[j].key, score)
    return result


def best_option(wanted: str, options: Iterable[tuple[str, str]], *, threshold: float = 0.6) -> int | None:
    """The index of the option that ``wanted`` names, by label or value; ``None`` if none is close.

    Exact matches (ignoring case and spaces) win, then one text starting with the other
    ("Net 30" for "Net 30 days"), then word similarity with numbers kept. A tie between
    different options at the top is no match.

    Args:
        wanted: What the caller asked for, such as ``"Net 30"`` or ``"net30"``.
        options: ``(label, value)`` pairs in page order.
        threshold: The lowest word similarity accepted.
    """
    folded = " ".join(wanted.split()).casefold()
    scored: list[tuple[float, int]] = []
    for index, (label, value) in enumerate(options):
        texts = [" ".join(label.split()).casefold(), value.strip().casefold()]
        if folded in texts:
            score = 2.0
        elif any(t and (t.startswith(folded) or folded.startswith(t)) for t in texts):
            score = 1.5 - 0.01 * abs(len(texts[0]) - len(folded)) / max(len(folded), 1)
        else:
            score = max(similarity(wanted, label, numbers=True), similarity(wanted, value, numbers=True))
        if score >= threshold:
            scored.append((score, index))
    if not scored:
        return None
    scored.sort(key=lambda item: -item[0])
    if len(scored) > 1 and scored[0][0] == scored[1][0] and scored[0][0] < 2.0:
        return None
    return scored[0][1]
